"""Serve the sandboxes alone (`python -m bot sandbox --port N`) until cancelled."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from bot.sandbox import create_sandbox_app

log = structlog.get_logger(__name__)


async def serve(host: str, port: int, delay: float = 0.0) -> None:
    """Run every sandbox on `http://host:port/<service>` until the task is cancelled."""
    runner = web.AppRunner(create_sandbox_app(delay=delay), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("sandbox.serving", root=f"http://{host}:{port}", delay_ms=delay * 1000)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
