"""Typed upstream failures, one root (`UpstreamError`) for every service.

The worker decides from the class alone what to do next:

- `UpstreamUnavailable` (and `UpstreamRateLimited`): nothing happened upstream; retry later.
- `UpstreamRejected` (and its subclasses): the service refused; retrying cannot help.
- `OutcomeUnknown`: a non-idempotent call (send a code, check a code, start a call, send an
  SMS) may or may not have happened; never retry it blindly, look the outcome up first.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Root of every upstream failure. `detail` is already redacted (no phones, no secrets)."""

    def __init__(
        self,
        service: str,
        detail: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
    ) -> None:
        self.service = service
        self.detail = detail
        self.status = status
        self.code = code
        parts = [f"{service}: {detail}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if code is not None:
            parts.append(f"code {code}")
        super().__init__(" | ".join(parts))


class UpstreamUnavailable(UpstreamError):
    """Retryable: timeout before sending, refused connection, 502/503/504, documented
    'unavailable' codes. The request did not take effect."""

    def __init__(
        self,
        service: str,
        detail: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(service, detail, status=status, code=code)
        self.retry_after = retry_after


class UpstreamMaybeDone(UpstreamUnavailable):
    """An idempotent call that ended unclearly (a timeout or a dropped connection after the
    request left): repeating it is safe, but this try may have taken effect. A give-up
    after such a try is dead-lettered marked unknown."""


class UpstreamRateLimited(UpstreamUnavailable):
    """Retryable after a pause: the service's documented rate-limit answer (429, -40007...)."""


class UpstreamRejected(UpstreamError):
    """Permanent: bad request, bad credentials, or a business refusal. Do not retry."""


class UpstreamAuthFailed(UpstreamRejected):
    """The service refused our credentials (401/403): a configuration problem."""


class RecipientOptedOut(UpstreamRejected):
    """The carrier or provider has this recipient opted out (Twilio 21610): mark the phone
    opted out and send nothing more to it."""


class UnsupportedPhone(UpstreamRejected):
    """The phone cannot be written in the format this service needs (e.g. P2A is US only)."""


class UnexpectedAnswer(UpstreamRejected):
    """A success status with a body we cannot read: a contract change, not a transient fault."""


class OutcomeUnknown(UpstreamError):
    """A non-idempotent call ended unclearly (timeout after sending, 500/504, dropped
    connection). The caller must look the outcome up (where the client offers a way) before
    trying again; it is deliberately NOT an `UpstreamUnavailable`."""
