"""Console broadcasts: create one with a dry run first, follow its progress, pause, resume
or cancel it. The broadcast runs in the workers (`Runtime.run_background`), not here."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

from bot.admin.console import CONSOLE, STAFF, Handler
from bot.broadcast.cli import cap_for, check_request
from bot.broadcast.segments import Segment, SegmentError, parse_segment
from bot.broadcast.store import ACTIVE, BroadcastStore, Status
from bot.cliutil import parse_when
from bot.runtime import Runtime

log = structlog.get_logger("bot.admin")

MOVES: dict[str, tuple[Status, tuple[Status, ...]]] = {
    "pause": (Status.PAUSED, (Status.SCHEDULED, Status.RUNNING)),
    "resume": (Status.RUNNING, (Status.PAUSED,)),
    "cancel": (Status.CANCELLED, (Status.SCHEDULED, Status.RUNNING, Status.PAUSED)),
}


def _runtime(request: web.Request) -> Runtime:
    return request.app[CONSOLE].runtime(request)


async def _page(request: web.Request, *, error: str = "", preview: object = None,
                request_values: dict[str, str] | None = None) -> web.Response:
    rt = _runtime(request)
    recent = await BroadcastStore(rt.redis, rt.keys).recent()
    active = any(b.status in ACTIVE for b in recent)
    return request.app[CONSOLE].page(
        request, "broadcasts.html", broadcasts=recent, active=active, error=error,
        preview=preview, form=request_values or {}, flows=list(rt.core.flows.flows),
        cap=cap_for(rt.settings, rt.core.flows))


async def list_page(request: web.Request) -> web.Response:
    return await _page(request)


async def _read_request(request: web.Request) -> tuple[dict[str, str], str]:
    """The form's values, and why they cannot make a broadcast ('' when they can)."""
    form = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in ("flow", "state", "segment", "at")}
    rt = _runtime(request)
    problem = check_request(rt.core.flows, values["flow"], values["state"] or None) or ""
    try:
        parse_segment(values["segment"] or "all", rt.settings.default_region)
        if values["at"]:
            parse_when(values["at"])
    except (SegmentError, ValueError) as exc:
        problem = problem or str(exc)
    return values, problem


async def preview(request: web.Request) -> web.Response:
    """The dry run every broadcast starts with: counts, and a button to send for real."""
    values, problem = await _read_request(request)
    if problem:
        return await _page(request, error=problem, request_values=values)
    rt = _runtime(request)
    cap, _ = cap_for(rt.settings, rt.core.flows)
    dry = await rt.broadcast_runner().dry_run(_segment(rt, values), cap)
    return await _page(request, preview=dry, request_values=values)


def _segment(rt: Runtime, values: dict[str, str]) -> Segment:
    """The form's segment, read the same way for the dry run and for the real send."""
    return parse_segment(values["segment"] or "all", rt.settings.default_region)


async def create(request: web.Request) -> web.Response:
    values, problem = await _read_request(request)
    if problem:
        return await _page(request, error=problem, request_values=values)
    rt = _runtime(request)
    cap, _ = cap_for(rt.settings, rt.core.flows)
    now = rt.core.clock.now()
    b = await BroadcastStore(rt.redis, rt.keys).create(
        flow=values["flow"], state=values["state"] or None,
        segment=_segment(rt, values).text,
        at=parse_when(values["at"]) if values["at"] else now, now=now, cap=cap)
    log.info("broadcast created in the console", broadcast=b.id, flow=b.flow,
             segment=b.segment, staff=str(request[STAFF])[:8])
    raise web.HTTPSeeOther("/admin/broadcasts")


async def control(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in MOVES:
        raise web.HTTPNotFound()
    rt = _runtime(request)
    status, only_from = MOVES[action]
    bc_id = request.match_info["bc_id"]
    moved = await BroadcastStore(rt.redis, rt.keys).set_status(bc_id, status, only_from)
    if not moved:
        return await _page(request, error=f"Broadcast {bc_id} cannot {action} now.")
    log.info("broadcast " + action, broadcast=bc_id, staff=str(request[STAFF])[:8])
    raise web.HTTPSeeOther("/admin/broadcasts")


def setup(router: web.UrlDispatcher, staff: Callable[[Handler], Handler]) -> None:
    router.add_get("/admin/broadcasts", staff(list_page))
    router.add_post("/admin/broadcasts/preview", staff(preview))
    router.add_post("/admin/broadcasts", staff(create))
    router.add_post("/admin/broadcasts/{bc_id}/{action}", staff(control))
