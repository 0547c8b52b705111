"""Twilio REST sender: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.

Form-encoded `To`, `Body`, and `From` or `MessagingServiceSid` (when the sender starts with
`MG`); Basic auth `sid:token`. Error 21610 (recipient opted out at the carrier) raises
`RecipientOptedOut`. A send is not idempotent and Twilio documents no idempotency key for it
(the key is only logged); after an unclear end (`OutcomeUnknown`), `list_messages(to=...)`
reads the recent messages to that phone so the caller can see whether it went out.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from bot.upstream.base import ApiClient, Reply, basic_auth
from bot.upstream.errors import RecipientOptedOut, UpstreamError
from bot.upstream.phone_formats import e164
from bot.upstream.redact import redact_text

MESSAGES = "/2010-04-01/Accounts/{account_sid}/Messages.json"
OPTED_OUT = 21610


class TwilioMessage(BaseModel):
    """A Message resource as Twilio answers it (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    sid: str
    status: str
    to: str | None = None
    from_: str | None = Field(None, alias="from")
    messaging_service_sid: str | None = None
    num_segments: str | None = None
    error_code: int | None = None
    date_created: str | None = None
    body: str | None = None  # to match a send whose outcome was unclear


class TwilioMessageList(BaseModel):
    """A page of Message resources."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    messages: list[TwilioMessage]


class TwilioErrorBody(BaseModel):
    """Twilio's error JSON: `{code, message, more_info, status}`."""

    model_config = ConfigDict(extra="ignore")
    code: int | None = None
    message: str = ""


class TwilioClient(ApiClient):
    """Sends SMS through Twilio's Messages resource."""

    service = "twilio"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str | None,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(session, base_url, timeout=timeout)
        self._sid = account_sid
        self._auth = basic_auth(account_sid, auth_token)
        self.sender = sender

    async def send_sms(
        self, to: str, body: str, *, idempotency_key: str | None = None
    ) -> TwilioMessage:
        """Queue one SMS. Raises `RecipientOptedOut` on 21610, `OutcomeUnknown` when unclear."""
        form = {"To": e164(to), "Body": body}
        if self.sender and self.sender.startswith("MG"):
            form["MessagingServiceSid"] = self.sender
        elif self.sender:
            form["From"] = self.sender
        reply = await self.call(
            "POST",
            MESSAGES,
            path={"account_sid": self._sid},
            data=urlencode(form).encode("utf-8"),
            headers={"Content-Type": "application/x-www-form-urlencoded"} | self._auth,
            idempotent=False,
            idempotency_key=idempotency_key,
            phone=to,
        )
        if not reply.ok:
            raise self._error(reply, idempotent=False)
        return self.parse(TwilioMessage, reply)

    async def list_messages(self, *, to: str, page_size: int = 20) -> list[TwilioMessage]:
        """GET the most recent messages sent to `to` (the lookup after `OutcomeUnknown`)."""
        reply = await self.call(
            "GET",
            MESSAGES,
            path={"account_sid": self._sid},
            params={"To": e164(to), "PageSize": str(page_size)},
            headers=self._auth,
            idempotent=True,
            phone=to,
        )
        if not reply.ok:
            raise self._error(reply, idempotent=True)
        return self.parse(TwilioMessageList, reply).messages

    def _error(self, reply: Reply, *, idempotent: bool) -> UpstreamError:
        """21610 is an opt-out; everything else follows the generic status mapping."""
        try:
            err = TwilioErrorBody.model_validate(reply.json())
        except ValueError:
            err = TwilioErrorBody()
        detail = redact_text(err.message or f"HTTP {reply.status}")
        if err.code == OPTED_OUT:
            return RecipientOptedOut(self.service, detail, status=reply.status, code=err.code)
        return self.http_error(reply, idempotent=idempotent, detail=detail, code=err.code)
