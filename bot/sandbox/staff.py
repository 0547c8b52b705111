"""Staff webhook sandbox: stands in for the receivers a deployment names in WEBHOOK_TARGETS
(a petition sheet, a CRM), so the embedded default runs flows with a `webhook` action too.

`POST /staff/<target>`: checks the body's `X-Civictext-Signature` against the development
key (the embedded default has no WEBHOOK_SECRET), dedupes on `Idempotency-Key` as a careful
receiver does, keeps each body per target and answers `{"count": N}` (the bodies taken for
that target so far), the field the shipped petition flow saves. State:
`StaffState.taken[target]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.common import CallLog, ServiceState
from bot.upstream import DEV_WEBHOOK_SECRET
from bot.upstream.webhook import SIGNATURE_HEADER, signature_ok


@dataclass
class StaffState(ServiceState):
    """What each staff target took, and the idempotency keys already seen (with answers)."""

    taken: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)


STAFF = web.AppKey("staff", StaffState)


async def receive(request: web.Request) -> web.Response:
    """One signed JSON body for a target; the same `Idempotency-Key` gets the same answer."""
    state = request.app[STAFF]
    target = request.match_info["target"]
    raw = await request.read()
    if not signature_ok(DEV_WEBHOOK_SECRET, raw, request.headers.get(SIGNATURE_HEADER, "")):
        return web.json_response({"error": "bad signature"}, status=401)
    try:
        body = json.loads(raw)
    except ValueError:
        return web.json_response({"error": "not JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "not a JSON object"}, status=400)
    key = f"{target}:{request.headers.get('Idempotency-Key', '')}"
    if request.headers.get("Idempotency-Key") and key in state.seen:
        return web.json_response(state.seen[key])
    taken = state.taken.setdefault(target, [])
    taken.append(body)
    answer = {"count": len(taken)}
    state.seen[key] = answer
    return web.json_response(answer)


def create_app(state: StaffState, log: CallLog, delay: float = 0.0) -> web.Application:
    """The staff receiver sub-app (`log` and `delay` as every sandbox takes them)."""
    del log, delay  # staff webhooks are not an upstream's contract: nothing to log or slow
    app = web.Application()
    app[STAFF] = state
    app.router.add_post("/{target}", receive)
    return app
