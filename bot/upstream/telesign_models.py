"""TeleSign's answers to our calls as pydantic models, and `status.code`/`errors[].code`
mapped to what they mean (REFERENCE 5.3-5.7: code against these codes, never the HTTP status).

The callbacks TeleSign sends us live beside their webhook: `webhooks/telesign_callbacks.py`."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class StatusMeaning(StrEnum):
    """What a TeleSign status means for us."""

    DELIVERED = "delivered"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"  # final and permanent: do not resend
    RETRYABLE = "retryable"  # transient: the same request may be made again later
    UNKNOWN = "unknown"  # final status unknown (250, 251, 599)


DELIVERED_CODES = frozenset({200, 201})
IN_PROGRESS_CODES = frozenset({290, 291, 292, 295, 203})
UNKNOWN_CODES = frozenset({250, 251, 599})
RETRYABLE_STATUS_CODES = frozenset({503, 505})
RATE_LIMITED_ERRORS = frozenset({-40007})
UNAVAILABLE_ERRORS = frozenset({-90001})
RETRYABLE_ERRORS = RATE_LIMITED_ERRORS | UNAVAILABLE_ERRORS
#: -40008 "exceeded transaction hard cap": a 429 that waiting will not fix.
HARD_CAP_ERRORS = frozenset({-40008})
#: errors[].code of the 401 family (REFERENCE 5.5): a credentials or clock problem.
AUTH_ERRORS = frozenset({-10009, -20002, *range(-30015, -29999)})


def classify(status_code: int, error_codes: Iterable[int] = ()) -> StatusMeaning:
    """Map `status.code` and `errors[].code` to an `StatusMeaning`; retryable codes win."""
    if RETRYABLE_ERRORS.intersection(error_codes) or status_code in RETRYABLE_STATUS_CODES:
        return StatusMeaning.RETRYABLE
    if status_code in DELIVERED_CODES:
        return StatusMeaning.DELIVERED
    if status_code in IN_PROGRESS_CODES:
        return StatusMeaning.IN_PROGRESS
    if status_code in UNKNOWN_CODES:
        return StatusMeaning.UNKNOWN
    return StatusMeaning.FAILED


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Status(_Answer):
    """`status`: the transaction's state."""

    code: int
    description: str = ""
    updated_on: str | None = None


class ErrorItem(_Answer):
    """One `errors[]` entry."""

    code: int
    description: str = ""


class VerifyInfo(_Answer):
    """`verify`: the code check state (`VALID`, `INVALID`, `EXPIRED`, ...)."""

    code_state: str = "UNKNOWN"
    code_entered: str | None = ""


class TeleSignResponse(_Answer):
    """The one shape every TeleSign answer shares (REFERENCE 5.3)."""

    reference_id: str | None = None
    sub_resource: str | None = None
    status: Status
    errors: list[ErrorItem] = Field(default_factory=list)
    verify: VerifyInfo | None = None
    additional_info: dict[str, object] | None = None
    external_id: str | None = None  # Messaging: ours, echoed (None when we gave none)

    @property
    def error_codes(self) -> list[int]:
        """All `errors[].code`."""
        return [e.code for e in self.errors]

    @property
    def outcome(self) -> StatusMeaning:
        """`classify` of this answer."""
        return classify(self.status.code, self.error_codes)


class VerifySent(BaseModel):
    """A verification SMS accepted (290): keep `reference_id` to check the code later."""

    model_config = ConfigDict(frozen=True)
    reference_id: str
    status_code: int
    outcome: StatusMeaning
    verify_code: str | None  # ours, when we generated it; None when TeleSign did


class CodeCheck(BaseModel):
    """The result of checking a code (`verify.code_state`)."""

    model_config = ConfigDict(frozen=True)
    reference_id: str
    code_state: str

    @property
    def valid(self) -> bool:
        """The code matched."""
        return self.code_state == "VALID"


class MessageSent(BaseModel):
    """A plain SMS accepted by `/v1/messaging`."""

    model_config = ConfigDict(frozen=True)
    reference_id: str
    status_code: int
    outcome: StatusMeaning
