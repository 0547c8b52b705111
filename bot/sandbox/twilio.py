"""Twilio sandbox: the Messages resource (send, list) with Basic auth `AccountSid:AuthToken`.

State: `TwilioState.messages` (every queued message, oldest first) and `.opted_out` (E.164
numbers blocked at the carrier: a send to them answers 400 with error 21610).
Magic `To` numbers, as Twilio's own test credentials have them: +15005550001 (21211 invalid
number), +15005550002 (21612 cannot route), +15005550004 (21610 opted out), +15005550009
(21614 not a mobile number); tokens `__21610__`, `__429__`, `__500__`, `__503__`...
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

from bot.sandbox import credentials as cred
from bot.sandbox.common import CallLog, ServiceState, basic_auth, middleware

SERVICE = "twilio"
MESSAGES = "/2010-04-01/Accounts/{account_sid}/Messages.json"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")

ERRORS: dict[str, tuple[int, int, str]] = {
    "21211": (400, 21211, "The 'To' number is not a valid phone number."),
    "21602": (400, 21602, "Message body is required."),
    "21603": (400, 21603, "A 'From' phone number is required."),
    "21604": (400, 21604, "A 'To' phone number is required."),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "21612": (400, 21612, "The 'To' phone number is not currently reachable via SMS."),
    "21614": (400, 21614, "'To' number is not a valid mobile number"),
    "21701": (400, 21701, "The Messaging Service Sid is invalid"),
    "20003": (401, 20003, "Authenticate"),
    "20404": (404, 20404, "The requested resource was not found"),
    "20429": (429, 20429, "Too Many Requests"),
    "20500": (500, 20500, "Internal Server Error"),
    "20503": (503, 20503, "Service Unavailable"),
}
#: Magic kinds (tokens, magic-number suffixes, forced statuses) -> Twilio error code.
KINDS = {"1": "21211", "2": "21612", "4": "21610", "9": "21614", "invalid": "21211",
         "400": "21211", "401": "20003", "404": "20404", "429": "20429", "500": "20500",
         "502": "20503", "503": "20503", "504": "20503"}  # fmt: skip


@dataclass
class TwilioState(ServiceState):
    """Messages queued through this sandbox and carrier-level opt-outs."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)


TWILIO = web.AppKey("twilio_sandbox", TwilioState)


def error(code: str, status: int | None = None) -> web.Response:
    """Twilio's error JSON: `{code, message, more_info, status}`."""
    http, number, message = ERRORS[code]
    http = status or http
    body = {"code": number, "message": message, "status": http,
            "more_info": f"https://www.twilio.com/docs/errors/{number}"}  # fmt: skip
    return web.json_response(body, status=http)


def check_auth(request: web.Request, raw: bytes) -> web.Response | None:
    """Basic `sid:token`, and the path's AccountSid must be the authenticated one."""
    sid = request.match_info.get("account_sid")
    if basic_auth(request) != (cred.TWILIO_ACCOUNT_SID, cred.TWILIO_AUTH_TOKEN) or (
        sid is not None and sid != cred.TWILIO_ACCOUNT_SID
    ):
        return error("20003")
    return None


def fail(request: web.Request, kind: str) -> web.Response | None:
    """Documented error answers; recipient errors only apply to a send (POST)."""
    code = KINDS.get(kind, kind if kind in ERRORS else None)
    if code is None or (code.startswith("216") and request.method != "POST"):
        return None
    return error(code, int(kind) if kind in ("502", "504") else None)


def segments(body: str) -> int:
    """GSM-7 160/153, else UCS-2 70/67 characters per segment (roughly)."""
    single, multi = (160, 153) if all(ord(ch) < 128 for ch in body) else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / multi)


async def send(request: web.Request) -> web.Response:
    """POST Messages.json: To, Body, From or MessagingServiceSid (form-encoded)."""
    state = request.app[TWILIO]
    form = await request.post()
    to, body = str(form.get("To", "")), str(form.get("Body", ""))
    sender, service_sid = form.get("From"), form.get("MessagingServiceSid")
    problem = (
        "21604" if not to else "21602" if not body
        else "21603" if not (sender or service_sid)
        else "21701" if service_sid and not str(service_sid).startswith("MG")
        else "21211" if not E164.match(to)
        else "21610" if to in state.opted_out else None
    )  # fmt: skip
    if problem:
        return error(problem)
    sid = "SM" + secrets.token_hex(16)
    message = {
        "sid": sid, "account_sid": cred.TWILIO_ACCOUNT_SID, "to": to,
        "from": str(sender) if sender else None,
        "messaging_service_sid": str(service_sid) if service_sid else None,
        "body": body, "status": "accepted" if service_sid else "queued",
        "num_segments": str(segments(body)), "direction": "outbound-api",
        "api_version": "2010-04-01", "date_created": formatdate(usegmt=True),
        "error_code": None, "error_message": None, "price": None,
        "uri": f"/2010-04-01/Accounts/{cred.TWILIO_ACCOUNT_SID}/Messages/{sid}.json",
    }  # fmt: skip
    state.messages.append(message)
    return web.json_response(message, status=201)


async def list_messages(request: web.Request) -> web.Response:
    """GET Messages.json?To=&PageSize=: newest first."""
    found = [m for m in reversed(request.app[TWILIO].messages)
             if "To" not in request.query or m["to"] == request.query["To"]]  # fmt: skip
    size = int(request.query.get("PageSize", "50"))
    return web.json_response(
        {"messages": found[:size], "page": 0, "page_size": size, "next_page_uri": None}
    )


def create_app(state: TwilioState, log: CallLog, delay: float) -> web.Application:
    """The Twilio sub-app (mounted at `/twilio`)."""
    guard = middleware(SERVICE, state, log=log, delay=delay, check_auth=check_auth, fail=fail)
    app = web.Application(middlewares=[guard])
    app[TWILIO] = state
    app.router.add_post(MESSAGES, send)
    app.router.add_get(MESSAGES, list_messages)
    return app
