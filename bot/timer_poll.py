"""When the worker looks for due timers: every second in production, on demand in tests.

A timer is due by the worker's `Clock`; the poll only decides when the worker looks. Tests
freeze the clock, advance it, and then ask for one pass with `OnDemand.tick()`, which returns
once the pass is done: no test waits on the wall clock for a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeAlias

TimerPoll: TypeAlias = Callable[[], Awaitable[None]]
"""Awaited between two passes of the worker's timer mover: returns when the next is due."""

TICK_TIMEOUT = 5.0


def every(seconds: float) -> TimerPoll:
    """A pass every `seconds` (the production poll)."""
    async def poll() -> None:
        await asyncio.sleep(seconds)

    return poll


class OnDemand:
    """A pass only when `tick()` asks for one; `tick()` returns once that pass is done."""

    def __init__(self) -> None:
        self._asked: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self._running: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        """The worker's side: the pass asked for last is done; wait for the next ask."""
        if self._running is not None and not self._running.done():
            self._running.set_result(None)
        self._running = None
        self._running = await self._asked.get()

    async def tick(self, timeout: float = TICK_TIMEOUT) -> None:
        """One pass of the timer mover over every shard, awaited (bounded: a worker that is
        not running raises `TimeoutError` instead of hanging the test)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._asked.put_nowait(done)
        async with asyncio.timeout(timeout):
            await done
