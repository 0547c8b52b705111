"""Liveness, readiness (Redis reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.stats import StatsReader
from webhooks.keys import METRICS, REDIS, RUNTIME

log = structlog.get_logger("webhooks.health")

READY_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready only when Redis answers a PING within a short timeout."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await request.app[REDIS].ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return web.json_response({"status": "unavailable", "redis": type(exc).__name__},
                                 status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: the process's counters, and the all-time totals (funnel,
    delivery, subscribers) read from Redis for this scrape (bounded in time)."""
    metrics = request.app[METRICS]
    runtime = request.app[RUNTIME]
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await metrics.totals.refresh(StatsReader(runtime.redis, runtime.keys))
    except Exception as exc:  # noqa: BLE001 - the process's own counters still go out
        log.warning("totals not refreshed", error=repr(exc)[:200])
    body = metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
