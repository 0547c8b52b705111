"""TeleSign client: Verify SMS (send a code, check it) and Messaging (a plain SMS).

Every attempt is signed anew (fresh Date and nonce) over the exact body bytes sent.
Non-idempotent calls: `send_verify_sms`, `check_code` (each check counts as an attempt) and
`send_sms`. An unclear end of those raises `OutcomeUnknown`; TeleSign has no idempotency key
and no way to find a transaction without its `reference_id` (which an unanswered request
never gave us). Two documented handles remain. Messaging takes our own `external_id` (we
send the effect id), and TeleSign's delivery report carries it with the `reference_id`, so
once a report came, `message_status(reference_id)` (`GET /v1/messaging/{reference_id}`)
reads the transaction (`bot.lookup`). Verify SMS takes no external id: an unclear code send
stays unknown; when we generated the code ourselves, resending the SAME code is harmless
(any delivered SMS stays valid). `verify_status(reference_id)` reads a Verify transaction
without spending an attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp

from bot.upstream.base import ApiClient, Reply, retry_after
from bot.upstream.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.phone_formats import telesign_phone
from bot.upstream.redact import redact_text
from bot.upstream.telesign_auth import rest_headers
from bot.upstream.telesign_models import (
    AUTH_ERRORS,
    HARD_CAP_ERRORS,
    RATE_LIMITED_ERRORS,
    UNAVAILABLE_ERRORS,
    CodeCheck,
    MessageSent,
    StatusMeaning,
    TeleSignResponse,
    VerifySent,
)

VERIFY_SMS = "/v1/verify/sms"
VERIFY_STATUS = "/v1/verify/{reference_id}"
MESSAGING = "/v1/messaging"
MESSAGE_STATUS = "/v1/messaging/{reference_id}"


def generate_code(length: int = 6) -> str:
    """A random numeric code for `verify_code` (TeleSign accepts 3 to 7 digits)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


class TeleSignClient(ApiClient):
    """REST client for TeleSign (HMAC-SHA256 `TSA` auth)."""

    service = "telesign"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        customer_id: str,
        api_key: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(session, base_url, timeout=timeout)
        self._customer_id = customer_id
        self._api_key = api_key

    async def send_verify_sms(
        self,
        phone: str,
        *,
        verify_code: str | None = None,
        template: str | None = None,
        language: str | None = None,
        idempotency_key: str | None = None,
    ) -> VerifySent:
        """POST /v1/verify/sms. With `verify_code` TeleSign sends OUR code (check it locally
        or with `check_code`); without it TeleSign generates a 7-digit one."""
        fields = {
            "phone_number": telesign_phone(phone),
            "verify_code": verify_code,
            "template": template,
            "language": language,
        }
        answer = await self._send(
            "POST", VERIFY_SMS, fields, idempotent=False, idempotency_key=idempotency_key,
            phone=phone,
        )
        ref = self._reference(answer)
        return VerifySent(
            reference_id=ref,
            status_code=answer.status.code,
            outcome=answer.outcome,
            verify_code=verify_code,
        )

    async def check_code(
        self, reference_id: str, code: str, *, idempotency_key: str | None = None
    ) -> CodeCheck:
        """GET /v1/verify/{reference_id}?verify_code=: spends one attempt; never retry blindly."""
        answer = await self._send(
            "GET",
            VERIFY_STATUS,
            {"verify_code": code},
            idempotent=False,
            idempotency_key=idempotency_key,
            path={"reference_id": reference_id},
        )
        state = answer.verify.code_state if answer.verify else "UNKNOWN"
        return CodeCheck(reference_id=reference_id, code_state=state)

    async def verify_status(self, reference_id: str) -> TeleSignResponse:
        """GET /v1/verify/{reference_id} with no code: read the transaction (idempotent)."""
        return await self._send(
            "GET", VERIFY_STATUS, {}, idempotent=True, path={"reference_id": reference_id}
        )

    async def send_sms(
        self,
        phone: str,
        message: str,
        *,
        message_type: str = "ARN",
        external_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> MessageSent:
        """POST /v1/messaging: a plain SMS (`ARN` alerts/notifications, `OTP`, `MKT`).
        `external_id` (ours) comes back in TeleSign's delivery report for this message."""
        fields = {
            "phone_number": telesign_phone(phone),
            "message": message,
            "message_type": message_type,
            "external_id": external_id,
        }
        answer = await self._send(
            "POST", MESSAGING, fields, idempotent=False, idempotency_key=idempotency_key,
            phone=phone,
        )
        return MessageSent(
            reference_id=self._reference(answer),
            status_code=answer.status.code,
            outcome=answer.outcome,
        )

    async def message_status(self, reference_id: str) -> TeleSignResponse | None:
        """GET /v1/messaging/{reference_id}: a message's transaction (idempotent); None when
        TeleSign does not know that reference id (404, -10001: never sent, or expired)."""
        try:
            return await self._send("GET", MESSAGE_STATUS, {}, idempotent=True,
                                    path={"reference_id": reference_id})
        except UpstreamRejected as exc:
            if exc.status == 404:
                return None
            raise

    async def _send(
        self,
        method: str,
        template: str,
        fields: Mapping[str, str | None],
        *,
        idempotent: bool,
        idempotency_key: str | None = None,
        phone: str | None = None,
        path: dict[str, str] | None = None,
    ) -> TeleSignResponse:
        """Sign and send one attempt; return the parsed answer or raise a typed error.

        POST bodies are url-encoded once and that exact string is both signed and sent; GET
        query parameters are not signed (REFERENCE 5.7).
        """
        items = [(k, v) for k, v in fields.items() if v is not None]
        resource = self.fill(template, path)
        body = urlencode(items) if method == "POST" else ""
        headers = rest_headers(self._customer_id, self._api_key, method, resource, body)
        reply = await self.call(
            method,
            template,
            path=path,
            params=dict(items) if method == "GET" else None,
            data=body.encode("utf-8") if method == "POST" else None,
            headers=headers,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            phone=phone,
        )
        if not reply.ok:
            raise self._error(reply, idempotent)
        return self.parse(TeleSignResponse, reply)

    def _reference(self, answer: TeleSignResponse) -> str:
        """The reference id of an accepted transaction, refusing final failures."""
        if answer.outcome is StatusMeaning.FAILED or not answer.reference_id:
            raise UpstreamRejected(
                self.service, _describe(answer), code=answer.status.code
            )
        return answer.reference_id

    def _error(self, reply: Reply, idempotent: bool) -> UpstreamError:
        """Map a non-2xx answer by its `errors[].code` first, then by HTTP status."""
        try:
            answer: TeleSignResponse | None = TeleSignResponse.model_validate(reply.json())
        except ValueError:
            answer = None
        codes = set(answer.error_codes) if answer else set()
        detail = _describe(answer) if answer else f"HTTP {reply.status}"
        code = next(iter(sorted(codes)), None)
        status = reply.status
        if codes & RATE_LIMITED_ERRORS:
            return UpstreamRateLimited(self.service, detail, status=status, code=code,
                                       retry_after=retry_after(reply))
        if codes & UNAVAILABLE_ERRORS:  # "Transaction not attempted": safe to try again
            return UpstreamUnavailable(self.service, detail, status=status, code=code)
        if codes & AUTH_ERRORS or status == 401:
            return UpstreamAuthFailed(self.service, detail, status=status, code=code)
        if codes & HARD_CAP_ERRORS or (400 <= status < 500 and status != 429):
            return UpstreamRejected(self.service, detail, status=status, code=code)
        return self.http_error(reply, idempotent=idempotent, detail=detail, code=code)


def _describe(answer: TeleSignResponse) -> str:
    """A short, redacted description of an answer."""
    if answer.errors:
        first = answer.errors[0]
        return redact_text(f"{first.code} {first.description}")
    return redact_text(f"status {answer.status.code} {answer.status.description}")
