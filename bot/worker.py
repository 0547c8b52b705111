"""The outbox worker: run each committed effect at least once, then acknowledge it.

Reads every shard's outbox streams through one consumer group (`bot.worker_reader`: the
urgent stream first, `bot.store.lanes`), runs each entry's effects in order
(`bot.worker_effects`: bounded retries with `bot.retry`, action results fed back into the
engine as events, dead letters for what keeps failing), moves due timers into the outbox
and claims entries a dead worker left behind. Effects of one phone run in order within a
lane class, across any number of workers: each shard's streams are read by one worker at a
time (`bot.shard_lease`), and inside a worker a phone's entries of one stream take turns
(an urgent entry may overtake the same phone's older normal one); different phones run
concurrently, up to a bound.

Redis itself failing (down, restarting, failing over, flushed) is never a reason to give an
effect up: those errors are retried, and an entry that still cannot be settled stays
pending, to be claimed again; lost consumer groups are made again. Finished entries are
acknowledged by their own loop within a few milliseconds, so a killed worker repeats only
what was running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import structlog

from bot.actions.base import Registry
from bot.config import Settings
from bot.core import Core
from bot.pace import PaceGate
from bot.redis_conn import redis_lost_group
from bot.retry import RetryPolicy
from bot.shard_lease import ShardLeases
from bot.sms import GuardedSender
from bot.store import Entry, Outbox
from bot.store.codes import CodeBudget
from bot.store.lanes import CODE_ACTIONS
from bot.timer_poll import TimerPoll, every
from bot.upstream import Upstreams
from bot.worker_effects import EffectRunner
from bot.worker_reader import STOP_TIMEOUT, LaneReader
from bot.worker_slots import PACED_BACKLOG, PacedSends, Slots

log = structlog.get_logger("bot.worker")
T = TypeVar("T")

__all__ = ["CODE_ACTIONS", "PACED_BACKLOG", "Worker"]

#: An entry delivered this often is poison: dead-lettered. Every worker crash counts a
#: delivery for everything it was running, so this must outnumber the crashes one entry may
#: live through in a crash-looping deployment (`python -m bot faults` kills 20 times).
MAX_DELIVERIES = 25
TIMER_POLL_SECONDS = 1.0
LOOP_CALL_TIMEOUT = 10.0  # seconds for one read, claim or timer move of a worker loop
ERROR_PAUSE = 0.5  # after a failed loop call or entry, before going on


class Worker:
    """One consumer of the outbox; run several (processes or tasks) to scale out."""

    def __init__(self, core: Core, outbox: Outbox, sender: GuardedSender, actions: Registry,
                 settings: Settings, upstreams: Upstreams, *, retry: RetryPolicy | None = None,
                 consumer: str | None = None, timer_poll: TimerPoll | None = None,
                 codes: CodeBudget | None = None, pace: PaceGate | None = None,
                 lease_ttl_ms: int | None = None, paced_backlog: int = PACED_BACKLOG) -> None:
        self.core = core
        self.outbox = outbox
        self.settings = settings
        self.consumer = consumer or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._slots = Slots(settings.worker_concurrency, paced_backlog=paced_backlog,
                            on_free=self.wake)
        self._paced = PacedSends(sender, pace, self._slots)
        self.effects = EffectRunner(
            core, outbox, self._paced, actions, settings, upstreams,
            retry or RetryPolicy(max_tries=settings.worker_max_tries), codes)
        self._phone_locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._lease_ttl_ms = lease_ttl_ms or settings.worker_lease_ms
        self._leased = asyncio.Event()  # set after the first round of leases
        self.reader = LaneReader(outbox, self.consumer, self._slots, self, self._start,
                                 lambda: len(self._inflight))
        self.timer_poll = timer_poll or every(TIMER_POLL_SECONDS)
        self.processed = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # ends the reader's pause early (set by `stop` too)
        #: Set when an entry starts, finishes or is acknowledged: what `Runtime.settle`
        #: waits on instead of polling the outbox on a fixed beat.
        self.progress = asyncio.Event()

    @functools.cached_property
    def leases(self) -> ShardLeases:
        """The shards this worker reads (made on first use: only a running worker needs it)."""
        return ShardLeases(self.outbox.redis, self.outbox.keys, self.consumer,
                           self._lease_ttl_ms)

    @property
    def busy(self) -> bool:
        """True while any effect is running."""
        return bool(self._inflight)

    # --- loops -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask `run` to return: each loop ends at its next pause, running effects finish.

        Preferred over cancelling the task: a cancellation that lands inside a Redis call
        can be lost in the client, and the loops then run on until the caller gives up."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Read the outbox now instead of at the end of the reader's pause (which is at
        most `READ_PAUSE_IDLE`): for callers that wait on the outbox, like `Runtime.settle`."""
        self._wake.set()

    def progressed(self) -> None:
        """Something moved (an entry started, finished or was acknowledged)."""
        self.progress.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        """Run until `stop()` (or cancelled): the leases, the reader (every shard this worker
        holds), the timer mover, the claimer and the acknowledger."""
        await self.outbox.ensure_groups()
        log.info("worker started", consumer=self.consumer, shards=self.outbox.keys.shards)
        loops = [self.reader.lease_loop(self.leases, self._leased, self.core.metrics),
                 self.reader.read_loop(self._leased), self._timer_loop(),
                 self.reader.claim_loop(self.settings.worker_claim_idle_ms),
                 self.reader.ack_loop()]
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stop.set()
            for task in tasks:
                task.cancel()
            # Bounded: a loop that swallowed its cancellation still sees `stopping`.
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            await self.drain(timeout=STOP_TIMEOUT)
            await self.reader.ack_settled()
            with contextlib.suppress(Exception):  # else the leases lapse within their TTL
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.leases.leave()

    async def pause(self, seconds: float, *, wake: bool = False) -> None:
        """Wait `seconds`, or less when the worker stops (or, with `wake`, is woken: the
        wake-up is then used up)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await (self._wake if wake else self._stop).wait()
        if wake:
            self._wake.clear()

    async def until_stopped(self, wait: Awaitable[object]) -> None:
        """Await `wait`, or less when the worker is asked to stop."""
        waiting = asyncio.ensure_future(wait)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((waiting, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            stopped.cancel()
        if waiting.done() and not waiting.cancelled():
            waiting.result()  # a failing poll is a bug: raise it, never drop it silently

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for effects already running to finish."""
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=timeout)

    async def _timer_loop(self) -> None:
        """A pass over every shard this worker holds, then `timer_poll` says when the next
        one is due."""
        await self.until_stopped(self._leased.wait())
        while not self.stopping:
            for shard in sorted(self.reader.shards):
                await self.guarded("timers", self.outbox.move_due_timers(
                    shard, self.core.clock.now()))
            await self.until_stopped(self.timer_poll())

    async def guarded(self, where: str, call: Awaitable[T]) -> T | None:
        """A Redis blip must not kill a loop: log it, pause briefly, and go on. Every call is
        bounded in time (a silent Redis peer is otherwise only found by TCP keepalive). A
        Redis that lost the consumer groups (flushed, or replaced by an empty server) gets
        them again at once, and the worker goes on."""
        try:
            async with asyncio.timeout(LOOP_CALL_TIMEOUT):
                return await call
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any one failure
            if redis_lost_group(exc):
                log.warning("consumer groups lost: creating them again", where=where)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(LOOP_CALL_TIMEOUT):
                        await self.outbox.ensure_groups()
                        return None
            log.warning("worker loop error", where=where, error=repr(exc)[:200])
            await self.pause(ERROR_PAUSE, wake=True)  # `wake()`: someone waits, try now
            return None

    def _start(self, entry: Entry) -> None:
        """Run a dispatched entry (the reader took its slot) as a task of its own."""
        task = asyncio.create_task(self._process_guarded(entry))
        self._inflight.add(task)
        task.add_done_callback(self._finished)
        self.progressed()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self.progressed()

    async def _process_guarded(self, entry: Entry) -> None:
        try:
            await self.process(entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - left unacked: claimed and retried later
            log.warning("entry left for retry", entry=entry.entry_id, error=repr(exc)[:200])
            self.reader.forget(entry)
            await self.pause(ERROR_PAUSE)
        finally:
            self._slots.release()

    # --- one entry ---------------------------------------------------------------------
    async def process(self, entry: Entry) -> None:
        """Run an entry's effects in order, then acknowledge it. A phone's entries of one
        stream take turns; its urgent entry does not wait for its older normal one."""
        phone = entry.effects[0].phone if entry.effects else ""
        turn = (phone, int(entry.stream))
        lock = self._phone_locks.setdefault(turn, asyncio.Lock())
        async with lock:
            try:
                for index, effect in enumerate(entry.effects):
                    if entry.deliveries > 1 and await self.outbox.is_done(phone, effect.id):
                        continue
                    if entry.deliveries > MAX_DELIVERIES:
                        await self.effects.dead_letter(
                            entry, effect, "delivered too often (poison entry)")
                        continue
                    await self.effects.run(entry, effect)
                    if index < len(entry.effects) - 1:
                        await self.outbox.mark_done(phone, effect.id)
                await self.reader.settle(entry)
                self.processed += 1
            finally:
                if not lock.locked() or self._phone_locks.get(turn) is lock:
                    self._maybe_forget(turn, lock)

    def _maybe_forget(self, turn: tuple[str, int], lock: asyncio.Lock) -> None:
        if not lock._waiters:  # noqa: SLF001 - asyncio has no public "has waiters"
            self._phone_locks.pop(turn, None)
