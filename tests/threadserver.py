"""Serve an aiohttp app on its own event loop in a thread, for tests that post synchronously
(hypothesis drives a plain function; it cannot await)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

START_TIMEOUT = 30.0


@contextmanager
def serve_in_thread(make_app: Callable[[], web.Application]) -> Iterator[int]:
    """Start `make_app()` on 127.0.0.1 (a free port) in a thread; yields the port."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        runner = web.AppRunner(make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(int(runner.addresses[0][1]))
        runner_box.append(runner)

    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting test
            failed.append(exc)
            return
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="test-server", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT):
        raise TimeoutError("the test server did not start")
    if failed:
        loop.close()
        raise failed[0]
    try:
        yield port[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()
