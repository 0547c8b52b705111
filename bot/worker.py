"""The outbox worker: run each committed effect at least once, then acknowledge it.

Reads every shard's outbox streams through one consumer group (`bot.worker_reader`: the
urgent stream first, `bot.store.lanes`), runs effects with bounded retries (`bot.retry`:
backoff with full jitter, or the upstream's Retry-After), feeds action results back into the
engine as events, claims entries a dead worker left behind and dead-letters effects that
keep failing. Effects of one phone run in order within a lane class, across any number of
workers: each shard's streams are read by one worker at a time (`bot.shard_lease`), and
inside a worker a phone's entries of one stream take turns (an urgent entry may overtake
the same phone's older normal one); different phones run concurrently, up to a bound.

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
from bot.pace import PaceGate
from bot.redis_conn import REDIS_UNAVAILABLE, redis_lost_group, redis_unavailable
from bot.retry import GiveUp, RetryPolicy
from bot.shard_lease import ShardLeases
from bot.sms import GuardedSender, Refused, SendError
from bot.store import Entry, Outbox
from bot.store.codes import CodeBudget, CodeVerdict
from bot.store.delivery import ExternalIds
from bot.store.lanes import CODE_ACTIONS
from bot.timer_poll import TimerPoll, every
from bot.upstream import Upstreams
from bot.upstream.breaker import CircuitOpen
from bot.upstream.errors import (
    OutcomeUnknown,
    RecipientOptedOut,
    UpstreamMaybeDone,
    UpstreamUnavailable,
)
from bot.worker_reader import STOP_TIMEOUT, LaneReader
from bot.worker_slots import PACED_BACKLOG, PacedSends, Slots

log = structlog.get_logger("bot.worker")
T = TypeVar("T")

__all__ = ["CODE_ACTIONS", "PACED_BACKLOG", "Worker", "action_retryable", "retryable"]

#: An entry delivered this often is poison: dead-lettered. Every worker crash counts a
#: delivery for everything it was running, so this must outnumber the crashes one entry may
#: live through in a crash-looping deployment (`python -m bot faults` kills 20 times).
MAX_DELIVERIES = 25
TIMER_POLL_SECONDS = 1.0
LOOP_CALL_TIMEOUT = 10.0  # seconds for one read, claim or timer move of a worker loop
ERROR_PAUSE = 0.5  # after a failed loop call or entry, before going on
CODE_LIMITED = "code_limit"  # the reason a flow sees when the code budget says no
MAX_RESOLVES = 3  # sends of one effect whose outcome a lookup had to settle
LOOKUP_TIMEOUT = 15.0
CLOCK_SKEW = 5.0  # seconds our clock may run ahead of the provider's


class Worker:
    """One consumer of the outbox; run several (processes or tasks) to scale out."""

    def __init__(self, core: Core, outbox: Outbox, sender: GuardedSender, actions: Registry,
                 settings: Settings, upstreams: Upstreams, *, retry: RetryPolicy | None = None,
                 consumer: str | None = None, timer_poll: TimerPoll | None = None,
                 codes: CodeBudget | None = None, pace: PaceGate | None = None,
                 lease_ttl_ms: int | None = None, paced_backlog: int = PACED_BACKLOG) -> None:
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
        self._slots = Slots(settings.worker_concurrency, paced_backlog=paced_backlog,
                            on_free=self.wake)
        self._paced = PacedSends(sender, pace, self._slots)
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
        task.add_done_callback(self._inflight.discard)

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
                        await self._dead(entry, effect, "delivered too often (poison entry)")
                        continue
                    await self._run_effect(entry, effect)
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
        result = await self.retry.run(lambda: self._paced.send(effect), retryable,
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
                # A flow hears `unavailable` at once while a breaker is open; an action no
                # flow waits for (a STOP's consent sync) waits the cool-down out instead.
                outcome = await self.retry.run(
                    lambda: call(ctx), action_retryable if action.replies else retryable,
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
            return await self._paced.send(SendSms(id=f"{effect.id}-sms", phone=effect.phone,
                                                  body=body, lane=Lane.URGENT))

        return ActionContext(phone=effect.phone, idempotency_key=effect.id,
                             upstreams=self.upstreams, now=self.core.clock.now(),
                             lang=effect.lang, send_sms=send_sms)

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
    """`retryable`, except a breaker's refusal: while a service's breaker is open a flow's
    action fails to its flow at once (`unavailable`) instead of waiting out the cool-down
    (an action no flow waits for, such as `consent_sync`, uses `retryable`)."""
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
