"""What the outbox worker does with one effect, and the one place a failure becomes a retry.

A text goes out at the carrier's pace through the send guard, with bounded retries; a send
that ended unclearly is looked up at the provider before it is sent again or given up
(`bot.lookup`). An action runs with its typed params, within the verification-code budget
(`bot.store.codes`), and its result goes back into the engine as an event. A timer fires
into the engine. What keeps failing is dead-lettered. Reading the outbox, a phone's turn,
acknowledging and the worker's loops are `bot.worker`'s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
from bot.redis_conn import REDIS_UNAVAILABLE, redis_unavailable
from bot.retry import GiveUp, RetryPolicy
from bot.sms import Refused, SendError
from bot.store import Entry, Outbox
from bot.store.codes import CodeBudget, CodeVerdict
from bot.store.delivery import ExternalIds
from bot.store.lanes import CODE_ACTIONS
from bot.upstream import Upstreams
from bot.upstream.breaker import CircuitOpen
from bot.upstream.errors import (
    OutcomeUnknown,
    RecipientOptedOut,
    UpstreamMaybeDone,
    UpstreamUnavailable,
)
from bot.worker_slots import PacedSends

log = structlog.get_logger("bot.worker")

__all__ = ["EffectRunner", "action_retryable", "retryable"]

CODE_LIMITED = "code_limit"  # the reason a flow sees when the code budget says no
MAX_RESOLVES = 3  # sends of one effect whose outcome a lookup had to settle
LOOKUP_TIMEOUT = 15.0
CLOCK_SKEW = 5.0  # seconds our clock may run ahead of the provider's


class EffectRunner:
    """Runs one worker's effects: its texts, actions and timers, and its dead letters."""

    def __init__(self, core: Core, outbox: Outbox, paced: PacedSends, actions: Registry,
                 settings: Settings, upstreams: Upstreams, retry: RetryPolicy,
                 codes: CodeBudget | None) -> None:
        self.core = core
        self.outbox = outbox
        self._paced = paced
        self.actions = actions
        self.settings = settings
        self.upstreams = upstreams
        self.retry = retry
        self.codes = codes

    async def run(self, entry: Entry, effect: Effect) -> None:
        """Run one effect to its end (sent, done, dead-lettered, or fed back to the engine),
        counted and logged; raises only what leaves the entry pending for a retry."""
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
                    await self.dead_letter(entry, effect, str(exc))
                    return "dead"
                found = await self._look_up(effect, since)
                if found is None:  # cannot tell: a person decides (`python -m bot dead`)
                    await self.dead_letter(entry, effect, str(exc), unknown=True)
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
        await self.dead_letter(entry, effect, "outcome unknown after every lookup", unknown=True)
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
            await self.dead_letter(entry, effect, f"unknown action {effect.action!r}")
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
                    await self.dead_letter(entry, effect, f"{effect.action}: outcome unknown "
                                     "upstream (the flow was told)", unknown=True)
            except GiveUp as exc:
                await self.dead_letter(entry, effect, str(exc), unknown=_outcome_unknown(exc))
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

    async def dead_letter(self, entry: Entry, effect: Effect, reason: str, *,
                          unknown: bool = False) -> None:
        """Give the effect up: counted, logged, and kept for staff (`python -m bot dead`)."""
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
