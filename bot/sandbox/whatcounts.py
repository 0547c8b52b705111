"""WhatCounts sandbox: addPhoneToSenderCode and stopSubscriberSend (REFERENCE 2).

Basic auth `realm:password` and the vendor `Accept` header are required. Business errors are
HTTP 500 with `{error, status, statusCode}` as WhatCounts answers them: a repeated subscribe
("An SMS Subscription already exists"), an unknown sender code ("Error getting sender with
senderCode ..."), a STOP for a phone with no subscription. Sandbox choices: the SMS contact
is created on the fly, and subscribing a stopped phone resumes it.
State: `WhatCountsState.subscriptions` ((phone, sender code) -> subscription JSON).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox import credentials as cred
from bot.sandbox.common import CallLog, ServiceState, basic_auth, middleware

SERVICE = "whatcounts"
ACCEPT = "application/vnd.whatcounts-v1+json"
REALM_ID = 10
SENDERS = {cred.WHATCOUNTS_SENDER_CODE: 3}
GROUPS = {cred.WHATCOUNTS_GROUP: 42}
REASONS = {400: "Bad Request", 401: "Unauthorized", 406: "Not Acceptable", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}  # fmt: skip


@dataclass
class WhatCountsState(ServiceState):
    """Subscriptions by (phone digits, sender code); `stopped` marks an opt-out."""

    subscriptions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    next_id: int = 180


WHATCOUNTS = web.AppKey("whatcounts_sandbox", WhatCountsState)


def error(status: int, text: str) -> web.Response:
    """WhatCounts' error body `{error, status, statusCode}`."""
    body = {"error": text, "status": REASONS.get(status, "Error"), "statusCode": status}
    return web.json_response(body, status=status)


def check_auth(request: web.Request, raw: bytes) -> web.Response | None:
    """Realm and password must match; the vendor Accept header is required."""
    if basic_auth(request) != (cred.WHATCOUNTS_REALM, cred.WHATCOUNTS_PASSWORD):
        return error(401, "The Realm and password do not match")
    if request.headers.get("Accept") != ACCEPT:
        return error(406, f"Accept must be {ACCEPT}")
    return None


def fail(request: web.Request, kind: str) -> web.Response | None:
    """Gateway answers are HTML; a 500 kind is a business error body."""
    if kind in ("502", "503", "504"):
        return web.Response(status=int(kind), text=REASONS[int(kind)], content_type="text/html")
    if kind in ("400", "invalid"):
        return error(400, "Invalid argument")
    if kind in ("429", "500"):
        return error(int(kind), "Sandbox forced error")
    if kind == "server-error":  # a failure with nothing to say beyond its status
        return error(500, REASONS[500])
    return None


def _now() -> str:
    return time.strftime("%b %d, %Y %I:%M:%S %p", time.gmtime())


async def add_phone(request: web.Request) -> web.Response:
    """POST /rest/sms/addPhoneToSenderCode/{phone}/{sender_code}?groupName="""
    state = request.app[WHATCOUNTS]
    phone, code = request.match_info["phone"], request.match_info["sender_code"]
    if not phone.isdigit():
        return error(400, "Invalid phone: digits only")
    if code not in SENDERS:
        return error(500, f"Error getting sender with senderCode {code} realmID: {REALM_ID}")
    existing = state.subscriptions.get((phone, code))
    if existing and not existing["stopped"]:
        return error(500, "An SMS Subscription already exists")
    state.next_id += 1
    body = {"id": state.next_id, "realmId": REALM_ID, "smsSubscriberId": 373 + state.next_id,
            "smsSenderId": SENDERS[code], "smsGroupId": GROUPS.get(request.query.get(
            "groupName", "")), "authenticated": False, "createdDate": _now(),
            "updatedDate": _now()}  # fmt: skip
    state.subscriptions[(phone, code)] = body | {"stopped": False}
    return web.json_response(body)


async def stop_send(request: web.Request) -> web.Response:
    """POST /rest/sms/stopSubscriberSend/{phone}/{sender_code}"""
    state = request.app[WHATCOUNTS]
    phone, code = request.match_info["phone"], request.match_info["sender_code"]
    sub = state.subscriptions.get((phone, code))
    if sub is None or sub["stopped"]:
        return error(500, f"An error occurred processing STOP sends for phone [{phone}] "
                          f"realmId [{REALM_ID}]")  # fmt: skip
    sub["stopped"] = True
    return web.json_response({
        "id": sub["id"], "smsSubscriberId": sub["smsSubscriberId"], "smsSenderId":
        sub["smsSenderId"], "realmId": REALM_ID, "campaignId": None, "phone": phone,
        "createdDate": sub["createdDate"], "updatedDate": _now()})  # fmt: skip


def create_app(state: WhatCountsState, log: CallLog, delay: float) -> web.Application:
    """The WhatCounts sub-app (mounted at `/whatcounts`)."""
    guard = middleware(SERVICE, state, log=log, delay=delay, check_auth=check_auth, fail=fail)
    app = web.Application(middlewares=[guard])
    app[WHATCOUNTS] = state
    app.router.add_post("/rest/sms/addPhoneToSenderCode/{phone}/{sender_code}", add_phone)
    app.router.add_post("/rest/sms/stopSubscriberSend/{phone}/{sender_code}", stop_send)
    return app
