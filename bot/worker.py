"""The outbox worker: run each committed effect at least once, then acknowledge it.

Reads every shard's outbox stream through one consumer group, runs effects with bounded
retries (`bot.retry`: backoff with full jitter, or the upstream's Retry-After), feeds action
results back into the engine as events, claims entries a dead worker left behind
(XAUTOCLAIM) and dead-letters effects that keep failing. Effects of one phone run in order,
across any number of workers: each shard's stream is read by one worker at a time
(`bot.shard_lease`), and inside a worker a phone's entries take turns; different phones run
concurrently, up to a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from bot.actions.base import ActionContext, ActionRetry, Registry
from bot.config import Settings
from bot.core import Core
from bot.models import (
    ActionResult,
    CarrierOptOut,
    Effect,
    FireTimer,
    RunAction,
    SendSms,
    TimerFired,
)
from bot.retry import GiveUp, RetryPolicy
from bot.shard_lease import ShardLeases
from bot.sms import GuardedSender, Refused, SendError
from bot.store import Entry, Outbox
from bot.upstream import Upstreams
from bot.upstream.errors import RecipientOptedOut, UpstreamUnavailable

log = structlog.get_logger("bot.worker")
T = TypeVar("T")

MAX_DELIVERIES = 5  # an entry redelivered this often is poison: dead-letter it
TIMER_POLL_SECONDS = 1.0
READ_PAUSE_BUSY = 0.005  # between reads while entries keep coming (they batch up meanwhile)
READ_PAUSE_IDLE = 0.05  # the longest pause, reached while the outbox stays empty
STOP_TIMEOUT = 5.0
LOOP_CALL_TIMEOUT = 10.0  # seconds for one read, claim or timer move of a worker loop


class Worker:
    """One consumer of the outbox; run several (processes or tasks) to scale out."""

    def __init__(self, core: Core, outbox: Outbox, sender: GuardedSender, actions: Registry,
                 settings: Settings, upstreams: Upstreams, *, retry: RetryPolicy | None = None,
                 consumer: str | None = None, lease_ttl_ms: int | None = None) -> None:
        self.core = core
        self.outbox = outbox
        self.sender = sender
        self.actions = actions
        self.settings = settings
        self.upstreams = upstreams
        self.retry = retry or RetryPolicy(max_tries=settings.worker_max_tries)
        self.consumer = consumer or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self._phone_locks: dict[str, asyncio.Lock] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._running: dict[str, Entry] = {}  # entry id -> entry, while it runs here
        self._lease_ttl_ms = lease_ttl_ms or settings.worker_lease_ms
        self._reading_shards: set[int] = set()  # owned, taken over, and read now
        self._leased = asyncio.Event()  # set after the first round of leases
        self._taking = asyncio.Lock()  # held while entries are read or claimed and dispatched
        self._settled: list[Entry] = []  # done, acknowledged by the reader's next trip
        self._reading = False
        self.processed = 0
        self._stopping = False

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
    async def run(self) -> None:
        """Run until cancelled: the leases, the reader (every shard this worker holds), the
        timer mover and the claimer."""
        await self.outbox.ensure_groups()
        log.info("worker started", consumer=self.consumer, shards=self.outbox.keys.shards)
        loops = [self._lease_loop(), self._read_loop(), self._timer_loop(), self._claim_loop()]
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stopping = True
            for task in tasks:
                task.cancel()
            # Bounded: a loop that swallowed its cancellation still sees `_stopping`.
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            await self.drain(timeout=STOP_TIMEOUT)
            await self._ack_settled()
            with contextlib.suppress(Exception):  # else the leases lapse within their TTL
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.leases.leave()

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for effects already running to finish."""
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=timeout)

    async def _read_loop(self) -> None:
        """Every shard in one pipelined read, paced: one pool connection for a moment per
        read. (One blocking reader per shard held a pool connection each, all the time,
        and under load fetched about one entry per read: the webhooks then queued for
        connections behind the worker.) The pause lets entries batch up while they keep
        coming, and backs off to `READ_PAUSE_IDLE` while the outbox is empty."""
        pause = READ_PAUSE_BUSY
        self._reading = True
        await self._leased.wait()
        try:
            while not self._stopping:
                shards = sorted(self._reading_shards)
                count = max(4, 2 * self.settings.worker_concurrency // max(1, len(shards)))
                async with self._taking:
                    settled, self._settled = self._settled, []
                    entries = await self._guarded("read", self.outbox.read_shards(
                        shards, self.consumer, count, settled))
                    if entries is None:
                        self._settled[:0] = settled  # not acknowledged: try again next time
                    for entry in entries or []:
                        await self._dispatch(entry)
                pause = READ_PAUSE_BUSY if entries else min(READ_PAUSE_IDLE, pause * 2)
                await asyncio.sleep(pause)
        finally:
            self._reading = False

    async def _ack_settled(self) -> None:
        """Acknowledge what the reader has not (it stopped), bounded in time."""
        settled, self._settled = self._settled, []
        if settled:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.outbox.read_shards([], self.consumer, 0, settled)

    async def _claim_loop(self) -> None:
        idle = self.settings.worker_claim_idle_ms
        every = max(0.2, min(5.0, idle / 2000))
        while not self._stopping:
            await asyncio.sleep(every)
            for shard in sorted(self._reading_shards):
                async with self._taking:
                    if shard not in self._reading_shards:
                        continue
                    claimed = await self._guarded("claim", self.outbox.claim(
                        shard, self.consumer, idle, 50))
                    for entry in claimed or []:
                        await self._dispatch(entry)

    async def _timer_loop(self) -> None:
        await self._leased.wait()
        while not self._stopping:
            for shard in sorted(self._reading_shards):
                await self._guarded("timers", self.outbox.move_due_timers(
                    shard, self.core.clock.now()))
            await asyncio.sleep(TIMER_POLL_SECONDS)

    async def _lease_loop(self) -> None:
        """Hold this worker's share of the shards: renew, hand back extras, take free ones."""
        every = self.leases.ttl_ms / 4000
        while not self._stopping:
            await self._guarded("leases", self._rebalance())
            self._leased.set()
            await asyncio.sleep(every)

    async def _rebalance(self) -> None:
        workers = await self.leases.heartbeat()
        lost = await self.leases.renew()
        if lost:  # lapsed (this worker stalled): someone else may read them now
            self._reading_shards -= lost
            log.warning("shard leases lost", shards=sorted(lost))
        share = self.leases.share(workers)
        owned = sorted(self.leases.owned)
        if len(owned) > share:
            await self._hand_back(owned[share:])
        elif len(owned) < share:
            for shard in await self.leases.acquire(share - len(owned)):
                await self._take_over(shard)
        self.core.metrics.worker_shards.set(len(self._reading_shards))

    async def _hand_back(self, shards: list[int]) -> None:
        """Stop reading these shards, finish and acknowledge what was taken from them, then
        release them: the next reader starts after this worker's last entry of each."""
        self._reading_shards.difference_update(shards)
        async with self._taking:  # a read or claim under way may still bring their entries
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT
        while loop.time() < deadline and any(
                e.shard in shards for e in self._running.values()):
            await asyncio.sleep(0.01)
        await self._ack_settled()
        await self.leases.release(shards)
        log.info("shards handed back", shards=shards)

    async def _take_over(self, shard: int) -> None:
        """Run what the shard's previous reader left pending (oldest first), then read it."""
        entries = await self.outbox.take_over(shard, self.consumer, set(self._running))
        for entry in entries:
            await self._dispatch(entry)
        self._reading_shards.add(shard)
        if entries:
            log.info("shard taken over", shard=shard, pending=len(entries))

    @staticmethod
    async def _guarded(where: str, call: Awaitable[T]) -> T | None:
        """A Redis blip must not kill a loop: log it, pause briefly, and go on. Every call is
        bounded in time (a silent Redis peer is otherwise only found by TCP keepalive)."""
        try:
            async with asyncio.timeout(LOOP_CALL_TIMEOUT):
                return await call
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any one failure
            log.warning("worker loop error", where=where, error=repr(exc)[:200])
            await asyncio.sleep(0.5)
            return None

    async def _dispatch(self, entry: Entry) -> None:
        await self._slots.acquire()
        self._running[entry.entry_id] = entry
        task = asyncio.create_task(self._process_guarded(entry))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _process_guarded(self, entry: Entry) -> None:
        try:
            await self.process(entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - left unacked: claimed and retried later
            log.warning("entry left for retry", entry=entry.entry_id, error=repr(exc)[:200])
            await asyncio.sleep(0.5)
        finally:
            self._running.pop(entry.entry_id, None)
            self._slots.release()

    # --- one entry ---------------------------------------------------------------------
    async def process(self, entry: Entry) -> None:
        """Run an entry's effects in order, then acknowledge it."""
        phone = entry.effects[0].phone if entry.effects else ""
        lock = self._phone_locks.setdefault(phone, asyncio.Lock())
        async with lock:
            try:
                for index, effect in enumerate(entry.effects):
                    if entry.deliveries > 1 and await self.outbox.is_done(phone, effect.id):
                        continue
                    if entry.deliveries > MAX_DELIVERIES:
                        await self._dead(entry, effect, "delivered too often (poison entry)")
                        continue
                    await self._run_effect(entry, effect)
                    if index < len(entry.effects) - 1:
                        await self.outbox.mark_done(phone, effect.id)
                if self._reading:
                    # Acknowledged with the reader's next round trip (within a few ms),
                    # instead of a round trip of its own for every entry.
                    self._settled.append(entry)
                else:
                    await self.outbox.ack(entry)
                self.processed += 1
            finally:
                if not lock.locked() or self._phone_locks.get(phone) is lock:
                    self._maybe_forget(phone, lock)

    def _maybe_forget(self, phone: str, lock: asyncio.Lock) -> None:
        if not lock._waiters:  # noqa: SLF001 - asyncio has no public "has waiters"
            self._phone_locks.pop(phone, None)

    async def _run_effect(self, entry: Entry, effect: Effect) -> None:
        started = time.perf_counter()
        outcome = "ok"
        self.core.metrics.worker_busy.inc()
        try:
            if isinstance(effect, SendSms):
                outcome = await self._send(entry, effect)
            elif isinstance(effect, RunAction):
                outcome = await self._action(entry, effect)
            elif isinstance(effect, FireTimer):
                event = TimerFired(timer_id=effect.id, phone=effect.phone, name=effect.name,
                                   token=effect.token)
                await self.core.apply(effect.phone, event, dedup=f"tm:{effect.id}")
        finally:
            self.core.metrics.worker_busy.dec()
            elapsed = time.perf_counter() - started
            self.core.metrics.effects.labels(effect.type, outcome).inc()
            self.core.metrics.effect_seconds.labels(effect.type).observe(elapsed)
            log.info("effect", type=effect.type, id=effect.id, phone=effect.phone,
                     outcome=outcome, ms=round(elapsed * 1000, 1))

    async def _send(self, entry: Entry, effect: SendSms) -> str:
        try:
            result = await self.retry.run(lambda: self.sender.send(effect), retryable,
                                          passthrough=(RecipientOptedOut,))
        except RecipientOptedOut:
            event = CarrierOptOut(phone=effect.phone, message_id=effect.id, provider="carrier")
            await self.core.apply(effect.phone, event, dedup=f"fx:{effect.id}")
            return "carrier_opted_out"
        except GiveUp as exc:
            await self._dead(entry, effect, str(exc))
            return "dead"
        return result if result in ("opted_out", "loop") else "sent"

    async def _action(self, entry: Entry, effect: RunAction) -> str:
        action = self.actions.get(effect.action)
        if action is None:
            await self._dead(entry, effect, f"unknown action {effect.action!r}")
            return "dead"
        try:
            call = action.bind(effect.params)
        except ValidationError as exc:  # the params did not fit after filling placeholders
            event = self._result(effect, ok=False, reason="invalid")
            log.warning("action params invalid", action=effect.action, error=str(exc)[:200])
        else:
            ctx = self._context(effect)
            try:
                outcome = await self.retry.run(lambda: call(ctx), retryable)
                event = self._result(effect, ok=outcome.ok, data=dict(outcome.data),
                                     reason=outcome.reason)
            except GiveUp as exc:
                await self._dead(entry, effect, str(exc))
                event = self._result(effect, ok=False, reason="unavailable")
        if action.replies:
            await self.core.apply(effect.phone, event, dedup=f"fx:{effect.id}")
        return "ok" if event.ok else (event.reason or "failed")

    def _context(self, effect: RunAction) -> ActionContext:
        """What the action may use; its texts go through the guard like any other."""

        async def send_sms(body: str) -> Refused | str:
            return await self.sender.send(SendSms(id=f"{effect.id}-sms", phone=effect.phone,
                                                  body=body))

        return ActionContext(phone=effect.phone, idempotency_key=effect.id,
                             upstreams=self.upstreams, now=self.core.clock.now(),
                             lang=effect.lang, send_sms=send_sms)

    @staticmethod
    def _result(effect: RunAction, *, ok: bool, data: dict[str, Any] | None = None,
                reason: str | None = None) -> ActionResult:
        return ActionResult(effect_id=effect.id, phone=effect.phone, action=effect.action,
                            ok=ok, data=data or {}, reason=reason)

    async def _dead(self, entry: Entry, effect: Effect, reason: str) -> None:
        self.core.metrics.dead_letters.inc()
        log.error("dead letter", type=effect.type, id=effect.id, phone=effect.phone,
                  reason=reason[:200])
        await self.outbox.dead_letter(entry, effect, reason)


def retryable(exc: BaseException) -> bool:
    """The one place a failure becomes a retry: an upstream's "try later"
    (`UpstreamUnavailable`, rate limits included), a sender's retryable `SendError`, an
    action's own `ActionRetry`, and network trouble."""
    if isinstance(exc, SendError):
        return exc.retryable
    return isinstance(exc, ActionRetry | UpstreamUnavailable | TimeoutError | ConnectionError
                      | OSError)
