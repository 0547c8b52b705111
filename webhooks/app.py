"""The app factory: routes, middleware, and every resource opened in `cleanup_ctx`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import structlog
from aiohttp import web

from bot.admin import setup_admin
from bot.config import SERVICES, Settings
from bot.flowreload import flow_reloads
from bot.redis_conn import warm_up
from bot.runtime import Runtime, open_runtime, warn_about_settings
from webhooks import health, telesign, twilio
from webhooks.common import errors
from webhooks.keys import CORE, METRICS, REDIS, RUNTIME, SETTINGS
from webhooks.signing import check_startup

log = structlog.get_logger("webhooks.app")

RuntimeFactory = Callable[[Settings], AbstractAsyncContextManager[Runtime]]
WORKER_STOP_SECONDS = 10.0


def create_app(settings: Settings, *, runtime_factory: RuntimeFactory | None = None
               ) -> web.Application:
    """Build the web app. `runtime_factory` lets tests inject a clock, ids, sender or Redis.

    It serves no sandbox: the embedded default (`bot.embedded`) mounts them beside it."""
    check_startup(settings)  # never serve webhooks nobody can verify on a live account
    app = web.Application(middlewares=[errors], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    twilio.setup_routes(app)
    telesign.setup_routes(app)
    health.setup_routes(app)
    setup_admin(app, settings, RUNTIME)
    sandboxed = [s for s in SERVICES if settings.uses_sandbox(s)]
    factory: RuntimeFactory = runtime_factory or open_runtime
    app.cleanup_ctx.append(_resources(factory, sandboxed))
    return app


def _resources(factory: RuntimeFactory, sandboxed: Sequence[str]
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def resources(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        async with factory(settings) as runtime:
            app[RUNTIME] = runtime
            app[REDIS] = runtime.redis
            app[CORE] = runtime.core
            app[METRICS] = runtime.metrics
            log.info("upstreams", sandboxed=",".join(sandboxed) or "none",
                     **runtime.upstreams.describe())
            warn_about_settings(settings)
            # Everything loaded so far (modules, flows, schemas: most of the heap) lives
            # as long as the process: keep it out of the collector's full passes, which
            # otherwise pause the loop for tens of milliseconds in the middle of a spike.
            gc.freeze()
            await warm_up(runtime.redis)
            worker = runtime.new_worker() if settings.run_worker else None
            task = (asyncio.create_task(runtime.run_background(worker), name="outbox-worker")
                    if worker is not None else None)
            try:
                async with flow_reloads(runtime, watch=settings.redis_url is not None):
                    yield
            finally:
                if worker is not None and task is not None:
                    worker.stop()  # then cancelled only if it does not end in time
                    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                        await asyncio.wait_for(task, timeout=WORKER_STOP_SECONDS)

    return resources
