"""Phone2Action sandbox state, auth check, error answers and request helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox import credentials as cred
from bot.sandbox import data
from bot.sandbox.common import ServiceState, basic_auth

SERVICE = "p2a"


@dataclass
class P2AState(ServiceState):
    """Advocates and connections made through this sandbox, and the campaigns it lists
    (`data.CAMPAIGNS` unless a test sets its own)."""

    campaigns: tuple[data.SandboxCampaign, ...] = data.CAMPAIGNS
    advocates: dict[int, dict[str, Any]] = field(default_factory=dict)
    opted_out: set[int] = field(default_factory=set)  # smsOptout can never be undone
    connections: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 5001
    calls: list[int] = field(default_factory=list)  # the advocate of every call started

    def campaign(self, campaign_id: int) -> data.SandboxCampaign | None:
        """A listed campaign by id."""
        return next((c for c in self.campaigns if c.id == campaign_id), None)


P2A = web.AppKey("p2a_sandbox", P2AState)


def refuse(status: int, error: str) -> web.Response:
    """The P2A error envelope."""
    return web.json_response({"success": 0, "error": error}, status=status)


def check_auth(request: web.Request, raw: bytes) -> web.Response | None:
    """Basic auth with the app id and key on every request."""
    if basic_auth(request) != (cred.P2A_APP_ID, cred.P2A_APP_KEY):
        return refuse(401, "Unauthorized: invalid APP_ID or APP_KEY")
    return None


def fail(request: web.Request, kind: str) -> web.Response | None:
    """Documented (or observed) error answers by kind."""
    if kind in ("502", "503", "504"):
        text = "Service Unavailable"
        return web.Response(status=int(kind), text=text, content_type="text/html")
    known = {
        "400": "Invalid request", "invalid": "Invalid request", "401": "Unauthorized",
        "404": "Not found", "422": "Unprocessable Entity", "500": "Internal Server Error",
    }  # fmt: skip
    if kind == "empty":  # an empty list: no campaign, no legislator (flow tests name it)
        return web.json_response([])
    if kind == "429":
        response = refuse(429, "Too Many Requests")
        response.headers["Retry-After"] = "1"
        return response
    if kind in known:
        return refuse(400 if kind == "invalid" else int(kind), known[kind])
    return None


async def fields(request: web.Request) -> dict[str, Any]:
    """Form or JSON body as one dict; `x[]` form keys become lists under `x`."""
    if request.content_type == "application/json":
        body = json.loads(await request.read() or b"{}")
        return body if isinstance(body, dict) else {}
    form = await request.post()
    out: dict[str, Any] = {}
    for key in form:
        if key.endswith("[]"):
            out[key[:-2]] = [str(v) for v in form.getall(key)]
        else:
            out[key] = str(form[key])
    return out


def digits(value: Any) -> str:
    """Only the digits of a value."""
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def find_by_phone(state: P2AState, phone: str) -> dict[str, Any] | None:
    """The advocate with this phone (any format: the last 10 digits compared)."""
    want = digits(phone)[-10:]
    for advocate in state.advocates.values():
        if any(digits(p["address"])[-10:] == want for p in advocate["phones"]):
            return advocate
    return None
