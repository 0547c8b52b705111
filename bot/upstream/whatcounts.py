"""WhatCounts client: subscribe a phone to the SMS sender code, and stop sends to it.

Basic auth `realm:password` and the vendor `Accept` header on every call. The base URL is the
customer's site URL (`https://[siteurl]`); paths start with `/rest`. WhatCounts answers
business errors with HTTP 500 and a `{error, status, statusCode}` body: those are never
retried (`UpstreamRejected`), except "already exists" on subscribe, which counts as success.
Both calls are safe to repeat (a repeat subscribe says "already exists", a repeat stop says
the phone has nothing to stop), so they are classified as idempotent.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from bot.upstream.base import ApiClient, Reply, basic_auth
from bot.upstream.errors import UpstreamError, UpstreamRejected
from bot.upstream.phone_formats import whatcounts_phone
from bot.upstream.redact import redact_text

ADD_PHONE = "/rest/sms/addPhoneToSenderCode/{phone}/{sender_code}"
STOP_SEND = "/rest/sms/stopSubscriberSend/{phone}/{sender_code}"
ACCEPT = "application/vnd.whatcounts-v1+json"
#: Substring of the documented "An SMS Subscription already exists" error (text truncated).
ALREADY_EXISTS = "already exists"
#: Prefix of the 500 answered to a STOP for a phone with no subscription.
NOTHING_TO_STOP = "An error occurred processing STOP sends"


class Subscription(BaseModel):
    """addPhoneToSenderCode success body."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: int
    smsSubscriberId: int | None = None  # noqa: N815 - the service's field names
    smsSenderId: int | None = None  # noqa: N815
    smsGroupId: int | None = None  # noqa: N815


class Subscribed(BaseModel):
    """The phone is subscribed (`already` when WhatCounts said it already was)."""

    model_config = ConfigDict(frozen=True)
    already: bool
    subscription: Subscription | None = None


class Stopped(BaseModel):
    """Sends are stopped (`stopped=False`: the phone had no subscription to stop)."""

    model_config = ConfigDict(frozen=True)
    stopped: bool


class WhatCountsClient(ApiClient):
    """REST client for WhatCounts SMS subscriptions."""

    service = "whatcounts"

    def __init__(  # noqa: PLR0913
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        realm: str,
        password: str,
        sender_code: str,
        *,
        group: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(session, base_url, timeout=timeout)
        self._auth = basic_auth(realm, password)
        self.sender_code = sender_code
        self.group = group

    async def subscribe(self, phone: str, *, idempotency_key: str | None = None) -> Subscribed:
        """addPhoneToSenderCode (with `groupName` when configured), on opt-in."""
        params = {"groupName": self.group} if self.group else None
        reply = await self._post(ADD_PHONE, phone, params, idempotency_key)
        if reply.ok:
            return Subscribed(already=False, subscription=self.parse(Subscription, reply))
        error = _business_error(reply)
        if error is not None and ALREADY_EXISTS in error.lower():
            return Subscribed(already=True)
        raise self._error(reply, error)

    async def stop(self, phone: str, *, idempotency_key: str | None = None) -> Stopped:
        """stopSubscriberSend, on opt-out; a phone with nothing to stop is not an error."""
        reply = await self._post(STOP_SEND, phone, None, idempotency_key)
        if reply.ok:
            return Stopped(stopped=True)
        error = _business_error(reply)
        if error is not None and error.startswith(NOTHING_TO_STOP):
            return Stopped(stopped=False)
        raise self._error(reply, error)

    async def _post(
        self,
        template: str,
        phone: str,
        params: dict[str, str] | None,
        idempotency_key: str | None,
    ) -> Reply:
        return await self.call(
            "POST",
            template,
            path={"phone": whatcounts_phone(phone), "sender_code": self.sender_code},
            params=params,
            headers={"Accept": ACCEPT, "Content-Type": "application/json"} | self._auth,
            idempotent=True,
            idempotency_key=idempotency_key,
            phone=phone,
        )

    def answered(self, reply: Reply) -> bool:
        """WhatCounts sends its business errors ("already exists", nothing to stop...) as
        HTTP 500 with a `{error, status, statusCode}` body: it is up, and said no."""
        return reply.status == 500 and _business_error(reply) is not None

    def _error(self, reply: Reply, business: str | None) -> UpstreamError:
        """A business error is permanent whatever its status; otherwise map by status."""
        if business is not None and reply.status not in (401, 403, 429, 502, 503, 504):
            return UpstreamRejected(self.service, redact_text(business), status=reply.status)
        detail = redact_text(business or f"HTTP {reply.status}")
        return self.http_error(reply, idempotent=True, detail=detail)


def _business_error(reply: Reply) -> str | None:
    """The `error` text of a `{error, status, statusCode}` body (how clients detect errors).
    A body whose text only repeats its status ("Internal Server Error") names no business
    rule: that is the server failing, mapped by status like any other (a 500 is retried:
    subscribing is idempotent, a repeat answers "already exists")."""
    body: Any = reply.json()
    if isinstance(body, dict) and "statusCode" in body:
        text = str(body.get("error") or "")
        if text.strip().lower() in ("", str(body.get("status") or "").strip().lower()):
            return None
        return text
    return None
