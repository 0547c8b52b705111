"""Change the flows without a restart: `python -m bot flows reload`, or SIGHUP to a process.

A reload loads the flows at FLOW_PATH and runs the whole check; only when it passes are they
swapped in (one attribute: a step runs on either the old set or the new, never a mix).
Otherwise the running flows stay and the log says why. Every process of a deployment takes
part: the command (or a process that got SIGHUP) bumps a counter in Redis, and each server
and worker polls it and reloads from its own FLOW_PATH (the files must be in place on every
machine). A conversation left in a state that no longer exists is repaired by the engine
on its next event (back to the flow's start, or ended, with a short text).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from bot.flow import FlowError
from bot.redis_conn import RedisClient
from bot.runtime import Runtime, load_flows
from bot.store import Keys

log = structlog.get_logger("bot.flowreload")

POLL_SECONDS = 2.0
CALL_TIMEOUT = 5.0


@dataclass(frozen=True)
class Reloaded:
    """What a reload did: swapped (`ok`), or kept the running flows, and why."""

    ok: bool
    message: str


def reload_now(runtime: Runtime) -> Reloaded:
    """Load and check the flows; swap them in only if the check passes."""
    try:
        flows = load_flows(runtime.settings, runtime.registry)
    except FlowError as exc:
        log.error("flows reload refused: the running flows stay", errors=len(exc.issues),
                  first=exc.issues[0].render()[:300])
        return Reloaded(False, f"kept the running flows; the new ones have errors:\n{exc}")
    runtime.core.flows = flows
    names = ", ".join(flows.flows)
    log.info("flows reloaded", flows=names)
    return Reloaded(True, f"flows reloaded: {names}")


async def announce(redis: RedisClient, keys: Keys) -> int:
    """Tell every process to reload; returns the new reload number."""
    async with asyncio.timeout(CALL_TIMEOUT):
        return int(await redis.incr(keys.flows_reload()))


class ReloadWatcher:
    """Polls the reload counter; a new number makes this process reload."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.seen: int | None = None

    async def _current(self) -> int:
        async with asyncio.timeout(CALL_TIMEOUT):
            raw = await self.runtime.redis.get(self.runtime.keys.flows_reload())
        return int(raw or 0)

    async def start(self) -> None:
        """Remember the number at start-up: the flows just loaded are current."""
        self.seen = await self._current()

    async def poll(self) -> Reloaded | None:
        """One look at the counter; reloads when it moved. The first look only remembers
        it (the flows were loaded at start-up)."""
        current = await self._current()
        if self.seen is None or current == self.seen:
            self.seen = current
            return None
        self.seen = current
        return reload_now(self.runtime)

    async def run(self, every: float = POLL_SECONDS) -> None:
        """Poll until cancelled; Redis trouble is logged and tried again next time (the
        process starts even while Redis is silent)."""
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a Redis blip must not stop the watcher
                log.warning("flows reload watch failed", error=repr(exc)[:200])
            await asyncio.sleep(every)


async def on_hangup(runtime: Runtime, watcher: ReloadWatcher | None) -> Reloaded:
    """SIGHUP: reload here, and when the flows passed, tell the other processes."""
    result = reload_now(runtime)
    if result.ok and watcher is not None:
        watcher.seen = await announce(runtime.redis, runtime.keys)
    return result


@contextlib.asynccontextmanager
async def flow_reloads(runtime: Runtime, *, watch: bool) -> AsyncIterator[ReloadWatcher | None]:
    """For a server or worker process: reload on SIGHUP, and (`watch`, with a shared Redis)
    whenever another process or `flows reload` announces it."""
    watcher = ReloadWatcher(runtime) if watch else None
    task: asyncio.Task[None] | None = None
    hangups: set[asyncio.Task[Reloaded]] = set()
    loop = asyncio.get_running_loop()

    def hangup() -> None:
        job = loop.create_task(on_hangup(runtime, watcher))
        hangups.add(job)
        job.add_done_callback(hangups.discard)

    if watcher is not None:
        task = loop.create_task(watcher.run(), name="flow-reload-watch")
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, hangup)
    try:
        yield watcher
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if hangups:
            await asyncio.wait(hangups, timeout=CALL_TIMEOUT)
