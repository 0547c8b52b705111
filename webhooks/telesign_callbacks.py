"""What TeleSign sends us: the callback bodies (delivery reports and inbound SMS, REFERENCE
5.8) and the signature on them (HMAC-SHA256 of the raw body, keyed by the base64-decoded API
key, exact to the official SDK's `verify_telesign_callback_signature`).

They describe TeleSign's requests to our webhook, not our client, so they live beside
`webhooks/telesign.py`; the status meanings they share with the client's answers come from
`bot.upstream.telesign_models`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.upstream.telesign_models import ErrorItem, Status, TeleSignResponse


class DeliveryReport(TeleSignResponse):
    """Delivery-report callback body (REFERENCE 5.8); unknown fields are accepted."""

    reference_id: str
    submit_timestamp: str | None = None
    external_id: str | None = None


class UserResponse(BaseModel):
    """`user_response` of an inbound SMS: sender, text, our number (REFERENCE decision)."""

    model_config = ConfigDict(extra="ignore")

    phone_number: str
    mo_message: str = ""
    sender_id: str | None = None

    @property
    def phone_e164(self) -> str:
        """The sender as E.164 (TeleSign sends digits with the country code)."""
        digits = "".join(ch for ch in self.phone_number if ch.isdigit())
        return f"+{digits}"


class InboundSms(BaseModel):
    """Inbound SMS (MO) callback body: `sub_resource: "mo_sms"`, status 800."""

    model_config = ConfigDict(extra="ignore")

    reference_id: str
    sub_resource: Literal["mo_sms"]
    status: Status
    errors: list[ErrorItem] = Field(default_factory=list)
    user_response: UserResponse


def parse_callback(body: bytes) -> DeliveryReport | InboundSms:
    """Parse a TeleSign callback body into the inbound-SMS or delivery-report model.

    Raises pydantic's `ValidationError` on a body that is neither (answer 400).
    """
    probe = _Probe.model_validate_json(body)
    if probe.sub_resource == "mo_sms":
        return InboundSms.model_validate_json(body)
    return DeliveryReport.model_validate_json(body)


class _Probe(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sub_resource: str | None = None


def callback_signature(api_key: str, body: bytes) -> str:
    """The signature TeleSign puts on a callback: HMAC-SHA256 over the raw body only."""
    digest = hmac.new(base64.b64decode(api_key), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def callback_authorization(customer_id: str, api_key: str, body: bytes) -> str:
    """The `Authorization` value of a callback (`TSA {customer_id}:{signature}`); for tests."""
    return f"TSA {customer_id}:{callback_signature(api_key, body)}"


def verify_callback_signature(
    api_key: str, authorization: str | None, body: bytes, *, customer_id: str | None = None
) -> bool:
    """Check a callback's `Authorization` (or `X-TS-Authorization`) header in constant time.

    Accepts `TSA {customer_id}:{signature}` or the bare signature (what the SDK's
    `verify_telesign_callback_signature` takes). With `customer_id`, the header's must match.
    """
    if not authorization:
        return False
    value = authorization.strip()
    if value.startswith("TSA "):
        cid, sep, signature = value[4:].rpartition(":")
        if not sep or (customer_id is not None and not hmac.compare_digest(cid, customer_id)):
            return False
    else:
        signature = value
    try:
        expected = callback_signature(api_key, body)
    except ValueError:
        return False
    return hmac.compare_digest(signature.encode(), expected.encode())
