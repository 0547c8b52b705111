"""TeleSign sandbox: Verify SMS (send, check) and Messaging, with the real `TSA` auth check.

State: `TeleSignState.transactions` (reference_id -> transaction), `.last_code[digits]` (the
last code sent to a phone, ours or generated), `.messages` (plain SMS sent, with the
`external_id` we gave; `GET /v1/messaging/{reference_id}` reads one back). With
`.reports.url` set, each accepted message is followed by its signed delivery report
(`telesign_reports`).
Magic kinds: `503`/`500`/`502`/`504` (-90001), `429` (-40007), `hardcap` (-40008), `400`/
`invalid` (-10001), `401` (-30006), `timeout`; phones `+1 500 555 0NNN` as in `common`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.sandbox import telesign_auth
from bot.sandbox.common import CallLog, ServiceState, middleware
from bot.sandbox.telesign_auth import answer
from bot.sandbox.telesign_reports import Reporter

SERVICE = "telesign"
MAX_ATTEMPTS = 3
PHONE = re.compile(r"^[1-9]\d{7,14}$")
CODE = re.compile(r"^\d{3,7}$")
EXTERNAL_ID_MAX = 100  # a bound of the sandbox's own; TeleSign publishes none we found


@dataclass
class TeleSignState(ServiceState):
    """Verify transactions, codes and messages of this sandbox; nonces already used."""

    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_code: dict[str, str] = field(default_factory=dict)
    #: The `language` asked for with that code ("" when none): what TeleSign's template uses.
    last_language: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    reports: Reporter = field(default_factory=Reporter)  # `reports.url`: where they go


TELESIGN = web.AppKey("telesign_sandbox", TeleSignState)

FAILURES: dict[str, tuple[int, int, str]] = {
    "503": (503, -90001, "System Unavailable, please try again later."),
    "429": (429, -40007, "Rate Limit Exceeded"),
    "hardcap": (429, -40008, "Verify SMS exceeded transaction hard cap. Request denied."),
    "400": (400, -10001, "Invalid Request: sandbox magic input"),
    "401": (401, -30006, "Invalid Signature"),
}
ALIASES = {"500": "503", "502": "503", "504": "503", "invalid": "400", "-90001": "503",
           "-40007": "429", "-40008": "hardcap", "unavailable": "503"}  # fmt: skip


def fail(request: web.Request, kind: str) -> web.Response | None:
    """TeleSign error answers: code against `errors[].code`, as TeleSign says."""
    key = ALIASES.get(kind, kind)
    if key not in FAILURES:
        return None
    http, code, text = FAILURES[key]
    http = int(kind) if kind in ("500", "502", "504") else http
    return answer(http, code, text, status=501 if http == 401 else 500)


def check_auth(request: web.Request, raw: bytes) -> web.Response | None:
    """The `TSA` HMAC check over the exact body received (or Basic)."""
    return telesign_auth.check(request, raw, request.app[TELESIGN].nonces)


def ok(reference_id: str, status: int, description: str, **extra: Any) -> web.Response:
    """A success answer in TeleSign's shared shape."""
    body = {"reference_id": reference_id, "sub_resource": "sms", "errors": [],
            "status": {"code": status, "description": description,
                       "updated_on": formatdate(usegmt=True)}}  # fmt: skip
    return web.json_response(body | extra)


def invalid(parameter: str) -> web.Response:
    """-10001 for a missing or bad parameter (HTTP 400, status 500)."""
    return answer(400, -10001, f"Invalid Request: {parameter} Parameter", status=500)


async def send_verify(request: web.Request) -> web.Response:
    """POST /v1/verify/sms: our `verify_code` or a generated 7-digit one."""
    state = request.app[TELESIGN]
    form = dict(parse_qsl((await request.read()).decode("utf-8")))
    phone, code = form.get("phone_number", ""), form.get("verify_code")
    if not PHONE.match(phone):
        return invalid("phone_number")
    if code is not None and not CODE.match(code):
        return invalid("verify_code")
    if "template" in form and "$$CODE$$" not in form["template"]:
        return invalid("template")
    code = code or "".join(secrets.choice("0123456789") for _ in range(7))
    ref = secrets.token_hex(16).upper()
    state.transactions[ref] = {"phone": phone, "code": code, "attempts": 0, "state": "UNKNOWN"}
    state.last_code[phone] = code
    state.last_language[phone] = form.get("language", "")
    return ok(ref, 290, "Message in progress", verify={"code_state": "UNKNOWN", "code_entered": ""})


async def check_code(request: web.Request) -> web.Response:
    """GET /v1/verify/{reference_id}[?verify_code=]: each code counts as one attempt."""
    state = request.app[TELESIGN]
    ref = request.match_info["reference_id"]
    txn = state.transactions.get(ref)
    if txn is None:
        return answer(404, -10001, "CustomerID/ReferenceID not found", status=500)
    entered = request.query.get("verify_code")
    if entered is not None:
        txn["attempts"] += 1
        if txn["attempts"] > MAX_ATTEMPTS:
            txn["state"] = "MAX_ATTEMPTS_EXCEEDED"
        elif txn["state"] != "VALID":
            txn["state"] = "VALID" if entered == txn["code"] else "INVALID"
    verify = {"code_state": txn["state"], "code_entered": entered or ""}
    return ok(ref, 200, "Delivered to handset", verify=verify)


async def send_message(request: web.Request) -> web.Response:
    """POST /v1/messaging: phone_number, message, message_type (OTP, ARN, MKT)."""
    state = request.app[TELESIGN]
    form = dict(parse_qsl((await request.read()).decode("utf-8")))
    if not PHONE.match(form.get("phone_number", "")):
        return invalid("phone_number")
    if not form.get("message"):
        return invalid("message")
    if form.get("message_type") not in ("OTP", "ARN", "MKT"):
        return invalid("message_type")
    if len(form.get("external_id", "")) > EXTERNAL_ID_MAX:
        return invalid("external_id")
    ref = secrets.token_hex(16).upper()
    state.messages.append({"reference_id": ref, **form})
    state.reports.report(state.messages[-1])
    return ok(ref, 290, "Message in progress", external_id=form.get("external_id"))


async def message_status(request: web.Request) -> web.Response:
    """GET /v1/messaging/{reference_id}: the message's status (the sandbox delivers at once),
    with our `external_id`; 404 -10001 for a reference id it never issued."""
    ref = request.match_info["reference_id"]
    found = next((m for m in request.app[TELESIGN].messages if m["reference_id"] == ref), None)
    if found is None:
        return answer(404, -10001, "CustomerID/ReferenceID not found", status=500)
    return ok(ref, 200, "Delivered to handset", external_id=found.get("external_id"))


def create_app(state: TeleSignState, log: CallLog, delay: float) -> web.Application:
    """The TeleSign sub-app (mounted at `/telesign`)."""
    guard = middleware(SERVICE, state, log=log, delay=delay, check_auth=check_auth, fail=fail)
    app = web.Application(middlewares=[guard])
    app[TELESIGN] = state
    app.router.add_post("/v1/verify/sms", send_verify)
    app.router.add_get("/v1/verify/{reference_id}", check_code)
    app.router.add_post("/v1/messaging", send_message)
    app.router.add_get("/v1/messaging/{reference_id}", message_status)
    return app
