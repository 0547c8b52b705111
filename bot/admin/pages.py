"""Console pages: the overview (funnel and delivery per day), the flows (diagram, check,
reload) and the phone lookup (conversation, consent history; the number shown in full only
when a staff member asks, and that is logged)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

import structlog
from aiohttp import web

from bot.admin.console import CONSOLE, STAFF, Handler
from bot.admin.diagram import edges_of, svg
from bot.flow import FlowError
from bot.flowcheck import report
from bot.flowreload import announce, reload_now
from bot.funnel import ORDER
from bot.phone import to_e164
from bot.runtime import Runtime, flow_path
from bot.stats import StatsReader
from bot.store.ledger import ConsentLedger, change_name, iso
from bot.store.subscribers import SubscriberIndex

log = structlog.get_logger("bot.admin")

DAYS = 14
REF_TTL = 600  # seconds a lookup's reveal button stays valid


def _runtime(request: web.Request) -> Runtime:
    return request.app[CONSOLE].runtime(request)


async def overview(request: web.Request) -> web.Response:
    rt = _runtime(request)
    reader = StatsReader(rt.redis, rt.keys)
    report_ = await reader.report(days=DAYS, now=rt.core.clock.now())
    days = [d.day for d in report_.days]
    milestones = {m: [sum(f.milestones.get(m, 0) for f in d.flows.values())
                      for d in report_.days] for m in ORDER}
    delivery = {s: [d.delivery.get(s, 0) for d in report_.days]
                for s in ("sent", "delivered", "failed")}
    charts = {"days": days, "funnel": milestones, "delivery": delivery}
    # JSON inside a <script> element: no "<", so no "</script>" from a flow's name.
    charts_json = json.dumps(charts).replace("<", "\\u003c")
    return request.app[CONSOLE].page(
        request, "overview.html", report=report_, order=ORDER, charts=charts_json,
        today=report_.days[-1], total=report_.total,
        opted_in_today=milestones["opted_in"][-1],
        dead=await _dead_count(rt))


async def _dead_count(rt: Runtime) -> int:
    async with rt.redis.pipeline(transaction=False) as pipe:
        for shard in rt.keys.all_shards():
            pipe.xlen(rt.keys.dead(shard))
        lengths: list[int] = await pipe.execute()
    return sum(int(n) for n in lengths)


async def flows_page(request: web.Request, message: str = "") -> web.Response:
    rt = _runtime(request)
    path = flow_path(rt.settings)
    try:
        check, _ = report(path)
    except FlowError as exc:
        check = f"flow error: {exc}"
    flows = [{"name": name, "spec": f.spec, "svg": svg(f.spec), "edges": edges_of(f.spec)}
             for name, f in rt.core.flows.flows.items()]
    return request.app[CONSOLE].page(request, "flows.html", flows=flows, check=check,
                                     flow_file=str(path), message=message)


async def flows_reload(request: web.Request) -> web.Response:
    """As `python -m bot flows reload`: load and check the flows here; only when they pass,
    swap them in and tell every other process to reload too (a broken flow is refused and
    the running flows stay)."""
    rt = _runtime(request)
    result = reload_now(rt)
    if result.ok:
        await announce(rt.redis, rt.keys)
        log.info("flows reloaded from the console", staff=str(request[STAFF])[:8])
        return await flows_page(request, result.message.capitalize()
                                + " (every process reloads within a few seconds).")
    return await flows_page(request, "Not reloaded: " + result.message)


async def phone_form(request: web.Request) -> web.Response:
    return request.app[CONSOLE].page(request, "phone.html", found=None, error="", query="")


async def phone_lookup(request: web.Request) -> web.Response:
    form = await request.post()
    query = str(form.get("phone", "")).strip()
    rt = _runtime(request)
    phone = to_e164(query, rt.settings.default_region)
    if phone is None:
        return request.app[CONSOLE].page(request, "phone.html", found=None, query="",
                                         error="That is not a phone number.")
    return await _phone_page(request, phone, revealed=False)


async def phone_reveal(request: web.Request) -> web.Response:
    form = await request.post()
    rt = _runtime(request)
    raw = await rt.redis.get(_ref_key(rt, str(form.get("ref", ""))))
    if raw is None:
        return request.app[CONSOLE].page(request, "phone.html", found=None, query="",
                                         error="That lookup has expired: look it up again.")
    phone = raw.decode() if isinstance(raw, bytes) else str(raw)
    staff = str(request[STAFF])[:8]
    log.warning("phone number revealed in the console", phone=phone, staff=staff)
    await rt.redis.xadd(f"{rt.keys.prefix}:admin:audit",
                        {"at": time.time(), "staff": staff, "action": "reveal", "phone": phone},
                        maxlen=100_000, approximate=True)
    return await _phone_page(request, phone, revealed=True)


def _ref_key(rt: Runtime, ref: str) -> str:
    return f"{rt.keys.prefix}:admin:ref:{ref}"


async def _phone_page(request: web.Request, phone: str, *, revealed: bool) -> web.Response:
    rt = _runtime(request)
    snap = await rt.store.load(phone)
    conv = snap.conversation
    history = await ConsentLedger(rt.redis, rt.keys).history(phone)
    profile = await SubscriberIndex(rt.redis, rt.keys).get(phone) or {}
    ref = secrets.token_urlsafe(16)
    await rt.redis.set(_ref_key(rt, ref), phone, ex=REF_TTL)
    found = {
        "phone": phone, "revealed": revealed, "ref": ref, "conv": conv,
        "known": conv.version > 0, "updated": iso(conv.updated_at) if conv.updated_at else "",
        "subscribed": bool(profile), "profile": profile,
        "history": [{"at": iso(c.at), "change": change_name(c), "keyword": c.keyword,
                     "text": c.text, "provider": c.provider, "message_id": c.message_id,
                     "prompt": c.prompt} for c in history],
    }
    return request.app[CONSOLE].page(request, "phone.html", found=found, error="", query="")


def setup(router: web.UrlDispatcher, staff: Callable[[Handler], Handler]) -> None:
    router.add_get("/admin", staff(overview))
    router.add_get("/admin/flows", staff(flows_page))
    router.add_post("/admin/flows/reload", staff(flows_reload))
    router.add_get("/admin/phone", staff(phone_form))
    router.add_post("/admin/phone", staff(phone_lookup))
    router.add_post("/admin/phone/reveal", staff(phone_reveal))
