"""Quorum sandbox: supporters by phone, send_individual_sms, the SendSMS list (REFERENCE 4).

Auth: `username` and `api_key` query parameters; a wrong pair gets 401 with an empty body
(Tastypie's "authorization failure"). Every well-formed phone is a known supporter (created
on first lookup) except numbers ending in 0000, which have none. 400 "improperly configured
request" for a bad body; magic kinds `400`, `401`, `500`, `503`, `timeout`.
State: `QuorumState.supporters` (E.164 -> id), `.sends` (SendSMS rows, oldest first).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox import credentials as cred
from bot.sandbox.common import CallLog, ServiceState, middleware

SERVICE = "quorum"
FROM_NUMBER = "+15005550006"


@dataclass
class QuorumState(ServiceState):
    """Supporters and sends of this sandbox."""

    supporters: dict[str, int] = field(default_factory=dict)
    sends: list[dict[str, Any]] = field(default_factory=list)
    ignores_phone_filter: bool = False  # answer every supporter, as tastypie may


QUORUM = web.AppKey("quorum_sandbox", QuorumState)


def check_auth(request: web.Request, raw: bytes) -> web.Response | None:
    """`username` + `api_key` in the query string."""
    pair = (request.query.get("username"), request.query.get("api_key"))
    if pair == (cred.QUORUM_USERNAME, cred.QUORUM_API_KEY):
        return None
    return web.Response(status=401)


def fail(request: web.Request, kind: str) -> web.Response | None:
    """The documented answers: 400 improperly configured, 401, 500 internal server error."""
    texts = {"400": "improperly configured request", "invalid": "improperly configured request",
             "401": "", "500": "internal server error", "502": "Bad Gateway",
             "503": "Service Unavailable", "504": "Gateway Timeout"}  # fmt: skip
    if kind not in texts:
        return None
    return web.Response(status=400 if kind == "invalid" else int(kind), text=texts[kind])


def page(objects: list[dict[str, Any]], limit: int, offset: int) -> web.Response:
    """Tastypie's list envelope."""
    meta = {"limit": limit, "offset": offset, "next": None, "previous": None,
            "total_count": len(objects)}  # fmt: skip
    return web.json_response({"meta": meta, "objects": objects[offset : offset + limit]})


async def supporters(request: web.Request) -> web.Response:
    """GET /newsupporter/?phone_number=: creates the supporter on first lookup."""
    state = request.app[QUORUM]
    phone = request.query.get("phone_number", "")
    found = []
    if state.ignores_phone_filter:
        # As tastypie does with a filter it does not know: every supporter, any order.
        found = [{"id": i, "phone_number": p, "resource_uri": f"/api/newsupporter/{i}/"}
                 for p, i in state.supporters.items()]
    elif phone.startswith("+") and phone[1:].isdigit() and not phone.endswith("0000"):
        sid = state.supporters.setdefault(phone, 7000 + len(state.supporters) + 1)
        uri = f"/api/newsupporter/{sid}/"
        found.append({"id": sid, "phone_number": phone, "resource_uri": uri})
    return page(found, int(request.query.get("limit", "20")), 0)


async def send_individual_sms(request: web.Request) -> web.Response:
    """POST /sendsms/send_individual_sms/ `{supporter_id, message}` -> 201 queued."""
    state = request.app[QUORUM]
    try:
        body = json.loads(await request.read())
    except ValueError:
        return web.Response(status=400, text="improperly configured request")
    sid, message = body.get("supporter_id"), body.get("message")
    phone = next((p for p, i in state.supporters.items() if i == sid), None)
    if not isinstance(sid, int) or not isinstance(message, str) or not message or phone is None:
        return web.Response(status=400, text="improperly configured request")
    row = {"id": len(state.sends) + 1, "supporter_id": f"/api/newsupporter/{sid}/",
           "message_content": message, "current_status": 1, "associated_number": FROM_NUMBER,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "to": phone}  # fmt: skip
    state.sends.append(row)
    segments = 1 if len(message) <= 160 else -(-len(message) // 153)
    return web.json_response({"from": FROM_NUMBER, "id": row["id"], "num_segments": segments,
                              "success": True, "to": phone}, status=201)  # fmt: skip


async def list_sends(request: web.Request) -> web.Response:
    """GET /sendsms/?associated_number=&limit=&offset=: newest first."""
    query = request.query
    wanted = query.get("associated_number")
    rows = [r for r in reversed(request.app[QUORUM].sends)
            if wanted is None or r["associated_number"] == wanted]  # fmt: skip
    return page(rows, int(query.get("limit", "20")), int(query.get("offset", "0")))


def create_app(state: QuorumState, log: CallLog, delay: float) -> web.Application:
    """The Quorum sub-app (mounted at `/quorum`, standing for `https://www.quorum.us/api`)."""
    guard = middleware(SERVICE, state, log=log, delay=delay, check_auth=check_auth, fail=fail)
    app = web.Application(middlewares=[guard])
    app[QUORUM] = state
    app.router.add_get("/newsupporter/", supporters)
    app.router.add_post("/sendsms/send_individual_sms/", send_individual_sms)
    app.router.add_get("/sendsms/", list_sends)
    return app
