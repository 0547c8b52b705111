"""Quorum client: send one SMS to a supporter found by phone.

`username` and `api_key` travel in the query string (the documented transport), so the log
line carries only the path template and exception chains drop aiohttp's cause (its text can
hold the full URL). `send_individual_sms` is not idempotent (no key documented; ours is only
logged); after `OutcomeUnknown`, `recent_sends()` lists recent SendSMS rows to check first.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from bot.upstream.base import ApiClient, Reply
from bot.upstream.errors import UpstreamError, UpstreamRejected
from bot.upstream.phone_formats import quorum_phone
from bot.upstream.redact import redact_text

SEND_INDIVIDUAL_SMS = "/sendsms/send_individual_sms/"
SENDSMS = "/sendsms/"
SUPPORTERS = "/newsupporter/"
#: REFERENCE leaves the supporter phone filter unconfirmed: one named constant to fix.
SUPPORTER_PHONE_FILTER = "phone_number"


class SmsQueued(BaseModel):
    """201 answer of send_individual_sms: queued, not yet delivered."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    id: int
    success: bool
    num_segments: int | None = None
    to: str | None = None
    from_: str | None = Field(None, alias="from")


class SendSms(BaseModel):
    """A SendSMS row; `current_status` is kept as the integer Quorum sends."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: int
    current_status: int | None = None
    supporter_id: str | None = None  # a resource URI, e.g. "/api/newsupporter/1/"
    message_content: str | None = None
    created: str | None = None


class Supporter(BaseModel):
    """A Quorum contact (newsupporter), with the phone fields it may carry."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: int
    phone_number: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None

    def carries(self, phone: str) -> bool:
        """One of its phones is `phone` (compared on the digits)."""
        wanted = _digits(phone)
        return any(value and _digits(value) == wanted
                   for value in (self.phone_number, self.phone, self.mobile_phone))


def _digits(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    objects: list[dict[str, Any]]


class QuorumClient(ApiClient):
    """REST client for Quorum's Send SMS API."""

    service = "quorum"
    secret_in_url = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        api_key: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(session, base_url, timeout=timeout)
        self._credentials = {"username": username, "api_key": api_key}

    async def find_supporter(self, phone: str) -> int | None:
        """GET /newsupporter/ filtered by phone: the id of the supporter that carries this
        phone, or None. The filter is unconfirmed and tastypie ignores unknown filters, so
        the first record may be anyone: never text it unless its phone is this one."""
        params = {SUPPORTER_PHONE_FILTER: quorum_phone(phone), "limit": "20"}
        page = await self._list(SUPPORTERS, params, phone)
        for record in page:
            supporter = Supporter.model_validate(record)
            if supporter.carries(phone):
                return supporter.id
        return None

    async def send_individual_sms(
        self, supporter_id: int, message: str, *, idempotency_key: str | None = None
    ) -> SmsQueued:
        """POST /sendsms/send_individual_sms/ `{supporter_id, message}` -> 201 queued."""
        reply = await self.call(
            "POST",
            SEND_INDIVIDUAL_SMS,
            params=self._credentials,
            json_body={"supporter_id": supporter_id, "message": message},
            idempotent=False,
            idempotency_key=idempotency_key,
        )
        if not reply.ok:
            raise self._error(reply, idempotent=False)
        queued = self.parse(SmsQueued, reply)
        if not queued.success:
            raise UpstreamRejected(self.service, "send not accepted", status=reply.status)
        return queued

    async def send_sms(
        self, phone: str, message: str, *, idempotency_key: str | None = None
    ) -> SmsQueued:
        """Find the supporter by phone, then send; `UpstreamRejected` when there is none."""
        supporter = await self.find_supporter(phone)
        if supporter is None:
            raise UpstreamRejected(self.service, "no supporter with this phone")
        return await self.send_individual_sms(
            supporter, message, idempotency_key=idempotency_key
        )

    async def recent_sends(
        self, *, associated_number: str | None = None, limit: int = 20
    ) -> list[SendSms]:
        """GET /sendsms/ (documented filters only): look here before resending after
        `OutcomeUnknown`, matching `supporter_id` and `message_content`."""
        params = {"limit": str(limit)}
        if associated_number:
            params["associated_number"] = associated_number
        return [SendSms.model_validate(o) for o in await self._list(SENDSMS, params, None)]

    async def _list(
        self, template: str, params: dict[str, str], phone: str | None
    ) -> list[dict[str, Any]]:
        reply = await self.call(
            "GET", template, params={**params, **self._credentials}, idempotent=True, phone=phone
        )
        if not reply.ok:
            raise self._error(reply, idempotent=True)
        return self.parse(_Page, reply).objects

    def _error(self, reply: Reply, *, idempotent: bool) -> UpstreamError:
        """400 improperly configured, 401 authorization failure, 500 internal error."""
        text = reply.body.decode("utf-8", "replace").strip()
        detail = redact_text(text or f"HTTP {reply.status}", limit=120)
        return self.http_error(reply, idempotent=idempotent, detail=detail)
