"""Apply one event to one phone: load, step, commit, with a bounded compare-and-set loop.

Used by every entry point (webhooks for texts, the worker for action results and timers),
so "commit, then act" and "load only inside the version check" hold everywhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from bot.clock import Clock, IdFactory
from bot.engine import Rules, step
from bot.flow import FlowSet
from bot.logs import info_enabled
from bot.metrics import Metrics
from bot.models import Event, Inbound, Step
from bot.store import (
    Ack,
    CommitResult,
    RecentConversations,
    Snapshot,
    StoreError,
    VersionConflict,
)

log = structlog.get_logger("bot.core")

MAX_CAS_TRIES = 100
"""A phone's texts are serialised by version; 50 at once settle well within this bound."""


class Contended(StoreError):
    """The compare-and-set kept losing; the caller answers 503 and the provider retries."""


@dataclass(frozen=True)
class Applied:
    """What applying one event did."""

    outcome: CommitResult
    step: Step | None
    cas_retries: int


@dataclass
class Core:
    """The engine plus its store: everything needed to apply an event, and nothing else."""

    flows: FlowSet
    rules: Rules
    store: RecentConversations
    clock: Clock
    ids: IdFactory
    metrics: Metrics

    observers: list[Callable[[str, Step], None]] = field(default_factory=list)
    """Called with every committed step (the flow-test runner records the states visited)."""
    _phones: dict[str, _PhoneTurn] = field(default_factory=dict, init=False, repr=False)

    async def apply(self, phone: str, event: Event, dedup: str | None,
                    ack: Ack | None = None) -> Applied:
        """Step the phone's conversation with `event` and commit it whole (or not at all).

        Events of one phone take turns inside this process (a burst of texts from one phone
        would otherwise clash on the version again and again, each clash costing a reload
        and a step); the compare-and-set still guards against every other process.
        """
        turn = self._phones.get(phone)
        if turn is None:
            turn = self._phones[phone] = _PhoneTurn()
        turn.users += 1
        try:
            async with turn.lock:
                return await self._apply(phone, event, dedup, ack)
        finally:
            turn.users -= 1
            if not turn.users:
                del self._phones[phone]

    async def _apply(self, phone: str, event: Event, dedup: str | None,
                     ack: Ack | None) -> Applied:
        """Load, step, commit; the first try steps on the store's guess instead of a load
        (one round trip when right: a new phone, or one this process just wrote), and
        every clash answers the real state, so no try needs a separate load."""
        started = time.perf_counter()
        snap: Snapshot | None = self.store.guess(phone)
        for attempt in range(MAX_CAS_TRIES):
            if snap is None:
                snap = await self.store.load(phone, dedup)
            if snap.seen and ack is None:
                self.metrics.inbound.labels(_provider(event), "duplicate").inc()
                return Applied(CommitResult.DUPLICATE, None, attempt)
            result = step(self.flows, snap.conversation, event, self.clock.now(), self.ids,
                          self.rules)
            ignored = _ignored_record(event) if result.note == "ignored" else ""
            try:
                outcome = await self.store.commit(snap.conversation, result, dedup, ack,
                                                  ignored)
            except VersionConflict as clash:
                if not (snap.guessed and snap.conversation.version == 0):
                    self.metrics.cas_retries.inc()  # a clash, not a new-phone guess missed
                snap = clash.current
                continue
            if outcome is CommitResult.DUPLICATE and ack is None:
                self.metrics.inbound.labels(_provider(event), "duplicate").inc()
                return Applied(CommitResult.DUPLICATE, None, attempt)
            self.metrics.steps.labels(result.note).inc()
            for observe in self.observers:
                observe(phone, result)
            if result.note.startswith("halted:"):
                bound = result.note.removeprefix("halted:")
                self.metrics.halted.labels(bound).inc()
                log.warning("conversation halted by a run-time bound", phone=phone, bound=bound,
                            flow=snap.conversation.flow, state=snap.conversation.state)
            if info_enabled(log):  # not even built under load (LOG_LEVEL=WARNING)
                log.info("step", phone=phone, kind=event.type, note=result.note,
                         state=result.conversation.state, effects=len(result.effects),
                         retries=attempt, ms=round((time.perf_counter() - started) * 1000, 2))
            return Applied(outcome, result, attempt)
        raise Contended(f"gave up after {MAX_CAS_TRIES} version clashes")


class _PhoneTurn:
    """One phone's turn-taking lock, kept only while someone uses or waits for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def _provider(event: Event) -> str:
    return event.provider if isinstance(event, Inbound) else "internal"


def _ignored_record(event: Event) -> str:
    if not isinstance(event, Inbound):
        return ""
    return event.model_dump_json(include={"phone", "body", "message_id", "provider",
                                          "received_at"})
