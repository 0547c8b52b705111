"""The outbox worker: run each committed effect at least once, then acknowledge it.

Reads every shard's outbox stream through one consumer group, runs effects with bounded
retries (`bot.retry`: backoff with full jitter, or the upstream's Retry-After), feeds action
results back into the engine as events, claims entries a dead worker left behind
(XAUTOCLAIM) and dead-letters effects that keep failing. Effects of one phone run in order,
across any number of workers: each shard's stream is read by one worker at a time
(`bot.shard_lease`), and inside a worker a phone's entries take turns; different phones run
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
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from bot.actions.base import UNCLEAR, ActionContext, ActionRetry, Registry
from bot.config import Settings
from bot.core import Core
from bot.lookup import sent_upstream
from bot.models import (
    ActionResult,
    CarrierOptOut,
    Effect,
    FireTimer,
    Lane,
    RunAction,
    SendSms,
    TimerFired,
)
from bot.pace import PaceGate, ProviderPushback
from bot.redis_conn import REDIS_UNAVAILABLE, redis_lost_group, redis_unavailable
from bot.retry import GiveUp, RetryPolicy
from bot.shard_lease import ShardLeases
from bot.sms import GuardedSender, Refused, SendError
from bot.store import Entry, Outbox
from bot.store.codes import CodeBudget, CodeVerdict
from bot.store.delivery import ExternalIds
from bot.timer_poll import TimerPoll, every
from bot.upstream import Upstreams
from bot.upstream.breaker import CircuitOpen
from bot.upstream.errors import (
    OutcomeUnknown,
    RecipientOptedOut,
    UpstreamMaybeDone,
    UpstreamUnavailable,
)

log = structlog.get_logger("bot.worker")
T = TypeVar("T")

#: An entry delivered this often is poison: dead-lettered. Every worker crash counts a
#: delivery for everything it was running, so this must outnumber the crashes one entry may
#: live through in a crash-looping deployment (`python -m bot faults` kills 20 times).
MAX_DELIVERIES = 25
TIMER_POLL_SECONDS = 1.0
READ_PAUSE_BUSY = 0.005  # between reads while entries keep coming (they batch up meanwhile)
READ_PAUSE_IDLE = 0.05  # the longest pause, reached while the outbox stays empty
STOP_TIMEOUT = 5.0
PACED_BACKLOG = 20_000  # texts one worker keeps waiting for the pace while it reads on
LOOP_CALL_TIMEOUT = 10.0  # seconds for one read, claim or timer move of a worker loop
ERROR_PAUSE = 0.5  # after a failed loop call or entry, before going on
CODE_ACTIONS = frozenset({"verify_send"})  # actions that text a verification code
CODE_LIMITED = "code_limit"  # the reason a flow sees when the code budget says no
CLAIM_BATCH = 50  # entries claimed from one shard at a time
MAX_RESOLVES = 3  # sends of one effect whose outcome a lookup had to settle
MAX_PUSHBACKS = 30  # provider "slow down" answers one text may get before they cost tries
LOOKUP_TIMEOUT = 15.0
CLOCK_SKEW = 5.0  # seconds our clock may run ahead of the provider's
ACK_BATCH_SECONDS = 0.003  # finished entries wait this long to share one acknowledgement


class Worker:
    """One consumer of the outbox; run several (processes or tasks) to scale out."""

    def __init__(self, core: Core, outbox: Outbox, sender: GuardedSender, actions: Registry,
                 settings: Settings, upstreams: Upstreams, *, retry: RetryPolicy | None = None,
                 consumer: str | None = None, timer_poll: TimerPoll | None = None,
                 codes: CodeBudget | None = None, pace: PaceGate | None = None,
                 lease_ttl_ms: int | None = None) -> None:
        self.core = core
        self.outbox = outbox
        self.sender = sender
        self.actions = actions
        self.settings = settings
        self.upstreams = upstreams
        self.retry = retry or RetryPolicy(max_tries=settings.worker_max_tries)
        self.codes = codes
        self.pace = pace
        self.consumer = consumer or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self._slot_debt = 0  # slots paced sends ran over with; paid back before any is freed
        self._pacing = 0  # texts waiting for a token of the carrier's pace (hold no slot)
        self._phone_locks: dict[str, asyncio.Lock] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._lease_ttl_ms = lease_ttl_ms or settings.worker_lease_ms
        self._reading_shards: set[int] = set()  # owned, taken over, and read now
        self._leased = asyncio.Event()  # set after the first round of leases
        self._taking = asyncio.Lock()  # held while entries are read or claimed and dispatched
        self._settled: list[Entry] = []  # done, acknowledged by the ack loop in a moment
        self._ack_wanted = asyncio.Event()
        self._held: set[tuple[int, str]] = set()  # entries running or done but not acked
        self._acking = False
        self.timer_poll = timer_poll or every(TIMER_POLL_SECONDS)
        self.processed = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # ends the reader's pause early (set by `stop` too)

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

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        """Run until `stop()` (or cancelled): the leases, the reader (every shard this worker
        holds), the timer mover, the claimer and the acknowledger."""
        await self.outbox.ensure_groups()
        log.info("worker started", consumer=self.consumer, shards=self.outbox.keys.shards)
        loops = [self._lease_loop(), self._read_loop(), self._timer_loop(), self._claim_loop(),
                 self._ack_loop()]
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
            await self._ack_settled()
            with contextlib.suppress(Exception):  # else the leases lapse within their TTL
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.leases.leave()

    async def _pause(self, seconds: float, until: asyncio.Event | None = None) -> None:
        """Wait `seconds`, or less when `until` (default: the stop event) is set."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await (until or self._stop).wait()

    async def _until_stopped(self, wait: Awaitable[object]) -> None:
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

    async def _read_loop(self) -> None:
        """Every shard in one pipelined read, paced: one pool connection for a moment per
        read. (One blocking reader per shard held a pool connection each, all the time,
        and under load fetched about one entry per read: the webhooks then queued for
        connections behind the worker.) The pause lets entries batch up while they keep
        coming, and backs off to `READ_PAUSE_IDLE` while the outbox is empty."""
        pause = READ_PAUSE_BUSY
        await self._until_stopped(self._leased.wait())
        while not self.stopping:
            shards = sorted(self._reading_shards)
            # Read only what can start now: an entry read but waiting for a slot counts a
            # delivery at every crash without ever running, until it looks like poison.
            free = self._free_slots()
            if free <= 0:
                await self._pause(READ_PAUSE_BUSY, self._wake)
                self._wake.clear()
                continue
            count = max(1, free // max(1, len(shards)))
            async with self._taking:
                entries = await self._guarded("read", self.outbox.read_shards(
                    shards, self.consumer, count)) if shards else []
                for entry in entries or []:
                    await self._dispatch(entry)
            pause = READ_PAUSE_BUSY if entries else min(READ_PAUSE_IDLE, pause * 2)
            await self._pause(pause, self._wake)
            self._wake.clear()

    async def _ack_loop(self) -> None:
        """Acknowledge finished entries as they finish, a few milliseconds' worth at a time
        in one round trip. Never behind the reader: it may wait for a free slot to
        dispatch, and an entry done but not yet acknowledged is what a kill -9 repeats."""
        self._acking = True
        try:
            while not self.stopping:
                await self._until_stopped(self._ack_wanted.wait())
                await asyncio.sleep(ACK_BATCH_SECONDS)
                self._ack_wanted.clear()
                settled, self._settled = self._settled, []
                if not settled:
                    continue
                done = await self._guarded("ack", self.outbox.read_shards(
                    [], self.consumer, 0, settled))
                if done is None:
                    self._settled[:0] = settled  # not acknowledged: try again
                    self._ack_wanted.set()
                else:
                    self._held.difference_update((e.shard, e.entry_id) for e in settled)
        finally:
            self._acking = False

    async def _ack_settled(self) -> None:
        """Acknowledge what the ack loop has not (it stopped), bounded in time."""
        settled, self._settled = self._settled, []
        if settled:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.outbox.read_shards([], self.consumer, 0, settled)

    async def _claim_loop(self) -> None:
        idle = self.settings.worker_claim_idle_ms
        pause = max(0.2, min(5.0, idle / 2000))
        while not self.stopping:
            await self._pause(pause)
            for shard in sorted(self._reading_shards):
                free = self._free_slots()
                if free <= 0:
                    break  # claim only what can start now (see `_read_loop`)
                async with self._taking:
                    if shard not in self._reading_shards:
                        continue
                    running = frozenset(i for s, i in self._held if s == shard)
                    claimed = await self._guarded("claim", self.outbox.claim(
                        shard, self.consumer, idle, min(CLAIM_BATCH, free), running))
                    for entry in claimed or []:
                        await self._dispatch(entry)
                if claimed == []:
                    # Nothing left to claim here: consumers that stopped reading (dead
                    # workers) and hold nothing pending can go.
                    await self._guarded("forget consumers", self.outbox.forget_idle_consumers(
                        shard, idle, keep=self.consumer))

    async def _timer_loop(self) -> None:
        """A pass over every shard this worker holds, then `timer_poll` says when the next
        one is due."""
        await self._until_stopped(self._leased.wait())
        while not self.stopping:
            for shard in sorted(self._reading_shards):
                await self._guarded("timers", self.outbox.move_due_timers(
                    shard, self.core.clock.now()))
            await self._until_stopped(self.timer_poll())

    async def _lease_loop(self) -> None:
        """Hold this worker's share of the shards: renew, hand back extras, take free ones."""
        pause = self.leases.ttl_ms / 4000
        while not self.stopping:
            await self._guarded("leases", self._rebalance())
            self._leased.set()
            await self._pause(pause)

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
            await self.leases.acquire(share - len(owned))
        # Held but not read yet: just taken, or a take-over that failed (Redis lost the
        # groups, a failover) and is tried again on every round until it is done.
        for shard in sorted(self.leases.owned - self._reading_shards):
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
        while loop.time() < deadline and any(s in shards for s, _ in self._held):
            await asyncio.sleep(0.01)  # running, or done and about to be acknowledged
        await self._ack_settled()
        await self.leases.release(shards)
        log.info("shards handed back", shards=shards)

    async def _take_over(self, shard: int) -> None:
        """Run what the shard's previous reader left pending (oldest first), then read it."""
        running = {entry_id for s, entry_id in self._held if s == shard}
        entries = await self.outbox.take_over(shard, self.consumer, running)
        for entry in entries:
            await self._dispatch(entry)
        self._reading_shards.add(shard)
        if entries:
            log.info("shard taken over", shard=shard, pending=len(entries))

    async def _guarded(self, where: str, call: Awaitable[T]) -> T | None:
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
            await self._pause(ERROR_PAUSE, self._wake)  # `wake()`: someone waits, try now
            return None

    async def _dispatch(self, entry: Entry) -> None:
        key = (entry.shard, entry.entry_id)
        if key in self._held:
            # Our own entry, claimed back because it is slow or its ack is still on its way
            # (a paused Redis): running it again would repeat its effects.
            return
        self._held.add(key)
        await self._slots.acquire()
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
            self._held.discard((entry.shard, entry.entry_id))
            await self._pause(ERROR_PAUSE)
        finally:
            self._free_slot()

    def _free_slots(self) -> int:
        """How many more entries may be read now. Texts waiting for the carrier's pace hold
        no slot, so reading goes on past them (up to `PACED_BACKLOG` of them): a code or a
        STOP answer further down the outbox is read and takes the next token, instead of
        waiting until the replies ahead of it have been sent at the carrier's rate."""
        pacing = min(self._pacing, PACED_BACKLOG)
        return self.settings.worker_concurrency - (len(self._inflight) - pacing)

    def _free_slot(self) -> None:
        """Give a slot back, or pay back one a paced send ran over with (`_retake_slot`)."""
        if self._slot_debt:
            self._slot_debt -= 1
        else:
            self._slots.release()

    async def _retake_slot(self) -> None:
        """Take a slot back at once after a token: a text holding a token goes now. Queued
        behind other tasks for a slot, its token would be spent later, bunched with others
        (over the rate in that second), and a code would wait behind replies. With every
        slot busy it runs over the bound, which the next task to finish pays back."""
        if self._slots.locked():
            self._slot_debt += 1
        else:
            await self._slots.acquire()  # a free slot: taken without waiting

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
                if self._acking:
                    # Acknowledged by the ack loop within a few ms, together with whatever
                    # else finished meanwhile, instead of a round trip for every entry.
                    self._settled.append(entry)
                    self._ack_wanted.set()
                else:
                    await self.outbox.ack(entry)
                    self._held.discard((entry.shard, entry.entry_id))
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
        since = time.time() - CLOCK_SKEW
        for _ in range(MAX_RESOLVES):
            try:
                return await self._send_once(effect)
            except GiveUp as exc:
                if not _outcome_unknown(exc):
                    await self._dead(entry, effect, str(exc))
                    return "dead"
                found = await self._look_up(effect, since)
                if found is None:  # cannot tell: a person decides (`python -m bot dead`)
                    await self._dead(entry, effect, str(exc), unknown=True)
                    return "dead"
                if found:
                    log.info("unclear send found upstream", id=effect.id, phone=effect.phone)
                    return "sent"
                log.info("unclear send confirmed absent: sending again", id=effect.id,
                         phone=effect.phone)
            except RecipientOptedOut:
                event = CarrierOptOut(phone=effect.phone, message_id=effect.id,
                                      provider="carrier")
                await self.core.apply(effect.phone, event, dedup=f"fx:{effect.id}")
                return "carrier_opted_out"
        await self._dead(entry, effect, "outcome unknown after every lookup", unknown=True)
        return "dead"

    async def _look_up(self, effect: SendSms, since: float) -> bool | None:
        """Resolve an unclear send at the provider (`bot.lookup`); None when it cannot."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                return await sent_upstream(
                    self.upstreams, self.settings.sms_sender, effect.phone, effect.body,
                    since, effect_id=effect.id,
                    reports=ExternalIds(self.outbox.redis, self.outbox.keys))
        except Exception as exc:  # noqa: BLE001 - a failed lookup proves nothing
            log.warning("lookup failed", id=effect.id, error=repr(exc)[:200])
            return None

    async def _send_once(self, effect: SendSms) -> str:
        """One send with its retries; `GiveUp` when it failed or ended unclearly."""
        result = await self.retry.run(lambda: self._paced_send(effect), retryable,
                                      passthrough=(RecipientOptedOut, *REDIS_UNAVAILABLE))
        return result if result in ("opted_out", "loop") else "sent"

    async def _action(self, entry: Entry, effect: RunAction) -> str:
        action = self.actions.get(effect.action)
        if action is None:
            await self._dead(entry, effect, f"unknown action {effect.action!r}")
            return "dead"
        refused = await self._code_refused(effect)
        if refused is not None:
            event = self._result(effect, ok=False, reason=CODE_LIMITED)
            if action.replies:
                await self.core.apply(effect.phone, event, dedup=f"fx:{effect.id}")
            return refused
        try:
            call = action.bind(effect.params)
        except ValidationError as exc:  # the params did not fit after filling placeholders
            event = self._result(effect, ok=False, reason="invalid")
            log.warning("action params invalid", action=effect.action, error=str(exc)[:200])
        else:
            ctx = self._context(effect)
            try:
                outcome = await self.retry.run(lambda: call(ctx), action_retryable,
                                               passthrough=REDIS_UNAVAILABLE)
                event = self._result(effect, ok=outcome.ok, data=dict(outcome.data),
                                     reason=outcome.reason)
                if outcome.reason == UNCLEAR:  # its flow was told; staff see it too
                    await self._dead(entry, effect, f"{effect.action}: outcome unknown "
                                     "upstream (the flow was told)", unknown=True)
            except GiveUp as exc:
                await self._dead(entry, effect, str(exc), unknown=_outcome_unknown(exc))
                event = self._result(effect, ok=False, reason="unavailable")
        if action.replies:
            await self.core.apply(effect.phone, event, dedup=f"fx:{effect.id}")
        return "ok" if event.ok else (event.reason or "failed")

    async def _code_refused(self, effect: RunAction) -> str | None:
        """Why a verification code may not go out now (per-phone limits, breaker), or
        None. Only actions that send a code are counted."""
        if self.codes is None or effect.action not in CODE_ACTIONS:
            return None
        verdict, tripped = await self.codes.take(effect.phone, self.core.clock.now())
        if tripped:
            self.core.metrics.code_breaker_trips.inc()
            log.error("code breaker open: verification codes paused",
                      per_minute=self.codes.per_minute, seconds=self.codes.pause_seconds)
        if verdict is CodeVerdict.OK:
            return None
        self.core.metrics.codes_refused.labels(verdict.value).inc()
        log.warning("verification code refused", phone=effect.phone, why=verdict.value)
        return f"code_{verdict.value}"

    def _context(self, effect: RunAction) -> ActionContext:
        """What the action may use; its texts go through the guard like any other."""

        async def send_sms(body: str) -> Refused | str:  # a code: the first lane
            return await self._paced_send(SendSms(id=f"{effect.id}-sms", phone=effect.phone,
                                                  body=body, lane=Lane.URGENT))

        return ActionContext(phone=effect.phone, idempotency_key=effect.id,
                             upstreams=self.upstreams, now=self.core.clock.now(),
                             lang=effect.lang, send_sms=send_sms)

    async def _paced_send(self, effect: SendSms) -> Refused | str:
        """Send at the carrier's pace, in the effect's lane. A provider's pushback slows the
        shared bucket and the text waits its turn again, instead of spending one of its
        tries (at most `MAX_PUSHBACKS` times; then a pushback counts like any error)."""
        for _ in range(MAX_PUSHBACKS):
            await self._wait_for_pace(effect)
            try:
                return await self.sender.send(effect)
            except ProviderPushback as exc:
                if self.pace is None:
                    raise
                await self.pace.slow_down(str(exc))
        await self._wait_for_pace(effect)
        return await self.sender.send(effect)

    async def _wait_for_pace(self, effect: SendSms) -> None:
        """Wait for a token. Meanwhile the effect gives its concurrency slot back, so the
        reader goes on reading and a code further down the outbox is not stuck behind a
        crowd waiting for tokens."""
        if self.pace is None:
            return
        self._free_slot()
        self._pacing += 1
        self._wake.set()  # a slot is free: the reader may go on
        try:
            await self.pace.acquire(effect.lane)
        finally:
            self._pacing -= 1
            await self._retake_slot()

    @staticmethod
    def _result(effect: RunAction, *, ok: bool, data: dict[str, Any] | None = None,
                reason: str | None = None) -> ActionResult:
        return ActionResult(effect_id=effect.id, phone=effect.phone, action=effect.action,
                            ok=ok, data=data or {}, reason=reason)

    async def _dead(self, entry: Entry, effect: Effect, reason: str, *,
                    unknown: bool = False) -> None:
        self.core.metrics.dead_letters.inc()
        log.error("dead letter", type=effect.type, id=effect.id, phone=effect.phone,
                  reason=reason[:200], outcome_unknown=unknown)
        await self.outbox.dead_letter(entry, effect, reason, unknown=unknown)


def _outcome_unknown(exc: BaseException) -> bool:
    """Somewhere in the chain, or in any try before a give-up, an upstream call ended
    unclearly (it may have happened: `OutcomeUnknown`, or an idempotent call's
    `UpstreamMaybeDone`, e.g. a timeout, then a circuit breaker refused the next try)."""
    for start in [exc, *(exc.tries if isinstance(exc, GiveUp) else [])]:
        seen: BaseException | None = start
        while seen is not None:
            if isinstance(seen, OutcomeUnknown | UpstreamMaybeDone):
                return True
            seen = seen.__cause__
    return False


def action_retryable(exc: BaseException) -> bool:
    """`retryable`, except a breaker's refusal: while a service's breaker is open an action
    fails to its flow at once (`unavailable`) instead of waiting out the cool-down."""
    return not isinstance(exc, CircuitOpen) and retryable(exc)


def retryable(exc: BaseException) -> bool:
    """The one place a failure becomes a retry: an upstream's "try later"
    (`UpstreamUnavailable`, rate limits included), a sender's retryable `SendError`, an
    action's own `ActionRetry`, network trouble, and our own Redis unavailable (which,
    still failing after the last try, leaves the entry pending instead of dead: see
    `REDIS_UNAVAILABLE` passed through)."""
    if isinstance(exc, SendError):
        return exc.retryable
    return isinstance(exc, ActionRetry | UpstreamUnavailable | TimeoutError | ConnectionError
                      | OSError) or redis_unavailable(exc)
