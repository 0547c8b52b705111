"""Phone2Action client: advocates, campaigns, legislators, call connections (Basic auth).

Idempotent: every GET and the advocate upsert (`POST /advocates` creates *or updates*); the
caller may retry those. Not idempotent: `create_call` (it rings the voter's phone at once).
After an unclear end of `create_call` (`OutcomeUnknown`), `find_calls(...)` lists the
connections made since a time so the caller can tell whether the call started.
Paths not confirmed by P2A are the named constants below (REFERENCE decisions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.upstream.base import ApiClient, Reply, basic_auth
from bot.upstream.errors import UpstreamError, UpstreamRejected
from bot.upstream.phone2action_models import (
    Advocate,
    AdvocateInput,
    AdvocatePage,
    AdvocateSaved,
    Campaign,
    Connection,
    ConnectionCreated,
    ConnectionData,
    Legislator,
)
from bot.upstream.phone_formats import p2a_phone
from bot.upstream.redact import redact_text

ADVOCATES = "/advocates"
CAMPAIGNS = "/campaigns"
LEGISLATORS = "/legislators"  # REFERENCE decision: path seen in public client code
CONNECTIONS = "/connections"  # REFERENCE decision for the list; POST is documented
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Phone2ActionClient(ApiClient):
    """REST client for the Phone2Action 2.0 API."""

    service = "p2a"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        app_id: str,
        app_key: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(session, base_url, timeout=timeout)
        self._auth = basic_auth(app_id, app_key)

    async def find_advocate(self, phone: str) -> Advocate | None:
        """GET /advocates?phone=: the advocate with this phone, or None."""
        reply = await self._get(ADVOCATES, {"phone": p2a_phone(phone)}, phone=phone)
        advocates = self.parse(AdvocatePage, reply).data
        return advocates[0] if advocates else None

    async def save_advocate(
        self,
        advocate: AdvocateInput,
        *,
        advocate_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """POST /advocates (create, or update when `advocate_id` is given); the advocate id."""
        reply = await self._post(
            ADVOCATES, advocate.form(advocate_id), True, idempotency_key, advocate.phone
        )
        saved = self.parse(AdvocateSaved, reply)
        if not saved.success or saved.advocateid is None:
            raise UpstreamRejected(self.service, redact_text(saved.error or "not saved"))
        return saved.advocateid

    async def upsert_advocate(
        self, advocate: AdvocateInput, *, idempotency_key: str | None = None
    ) -> int:
        """Find by phone first, then update that advocate or create one: a voter who texts
        twice is never created twice."""
        existing = await self.find_advocate(advocate.phone) if advocate.phone else None
        return await self.save_advocate(
            advocate,
            advocate_id=existing.id if existing else None,
            idempotency_key=idempotency_key,
        )

    async def list_campaigns(
        self, *, state: str | None = None, zip5: str | None = None, include_generic: bool = True
    ) -> list[Campaign]:
        """GET /campaigns filtered by state or ZIP (a bare JSON array)."""
        params = {"state": state, "zip": zip5}
        query = {k: v for k, v in params.items() if v}
        if query:
            query["includeGeneric"] = "true" if include_generic else "false"
        reply = await self._get(CAMPAIGNS, query)
        data = reply.json()
        if not isinstance(data, list):
            raise UpstreamRejected(self.service, "campaigns answer is not a list")
        return [Campaign.model_validate(item) for item in data]

    async def list_legislators(  # noqa: PLR0913
        self,
        campaign_id: int,
        *,
        zip5: str,
        address1: str | None = None,
        city: str | None = None,
        state: str | None = None,
    ) -> list[Legislator]:
        """GET /legislators for a campaign and an address (callers always pass `address1`:
        REFERENCE 8 marks it required)."""
        params = {"campaignid": str(campaign_id), "zip5": zip5, "address1": address1}
        params |= {"city": city, "state": state}
        reply = await self._get(LEGISLATORS, {k: v for k, v in params.items() if v})
        data = reply.json()
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise UpstreamRejected(self.service, "legislators answer is not a list")
        return [Legislator.model_validate(item) for item in items]

    async def create_call(
        self, advocate_id: int, campaign_id: int, *, idempotency_key: str | None = None
    ) -> ConnectionData:
        """POST /connections with `type: ["call"]`: P2A rings the advocate's phone now.

        Not idempotent: on `OutcomeUnknown`, call `find_calls` before trying again.
        """
        form = [("advocateid", str(advocate_id)), ("campaignid", str(campaign_id))]
        form.append(("type[]", "call"))
        reply = await self._post(CONNECTIONS, form, False, idempotency_key, None)
        created = self.parse(ConnectionCreated, reply)
        if not created.success or created.data is None:
            raise UpstreamRejected(self.service, redact_text(created.error or "no connection"))
        return created.data

    async def list_connections(
        self, campaign_id: int, *, updated_since: int, page: int = 1, per_page: int = 100
    ) -> list[Connection]:
        """GET /connections (a map of connection id -> connection, optionally under `data`)."""
        params = {"campaign_id": str(campaign_id), "updated_at": str(updated_since)}
        params |= {"page": str(page), "per_page": str(per_page)}
        data = (await self._get(CONNECTIONS, params)).json()
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        if not isinstance(data, dict):
            raise UpstreamRejected(self.service, "connections answer is not a map")
        return [Connection.model_validate({"id": int(k)} | v) for k, v in data.items()]

    async def find_calls(
        self, advocate_id: int, campaign_id: int, *, since: int
    ) -> list[Connection]:
        """The CALL connections of one advocate in a campaign since a UNIX time (first page)."""
        found = await self.list_connections(campaign_id, updated_since=since)
        return [c for c in found if c.advocate_id == advocate_id and c.type == "CALL"]

    async def _get(
        self, template: str, params: Mapping[str, str], phone: str | None = None
    ) -> Reply:
        reply = await self.call(
            "GET", template, params=params, headers=self._auth, idempotent=True, phone=phone
        )
        if not reply.ok:
            raise self._error(reply, idempotent=True)
        return reply

    async def _post(
        self,
        template: str,
        form: list[tuple[str, str]],
        idempotent: bool,
        idempotency_key: str | None,
        phone: str | None,
    ) -> Reply:
        reply = await self.call(
            "POST",
            template,
            data=urlencode(form).encode("utf-8"),
            headers=FORM | self._auth,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            phone=phone,
        )
        if not reply.ok:
            raise self._error(reply, idempotent=idempotent)
        return reply

    def _error(self, reply: Reply, *, idempotent: bool) -> UpstreamError:
        """P2A error bodies are `{success: 0, error: "..."}`; the status decides the class."""
        body: Any = reply.json()
        text = body.get("error") if isinstance(body, dict) else None
        detail = redact_text(str(text) if text else f"HTTP {reply.status}")
        return self.http_error(reply, idempotent=idempotent, detail=detail)
