"""Apply one event to one phone: load, step, commit, with a bounded compare-and-set loop.

Used by every entry point (webhooks for texts, the worker for action results and timers),
so "commit, then act" and "load only inside the version check" hold everywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from bot.clock import Clock, IdFactory
from bot.engine import Rules, step
from bot.flow import FlowSet
from bot.metrics import Metrics
from bot.models import Event, Inbound, Step
from bot.store import Ack, ConversationStore, Outcome, StoreError, VersionConflict

log = structlog.get_logger("bot.core")

MAX_CAS_TRIES = 100
"""A phone's texts are serialised by version; 50 at once settle well within this bound."""


class Contended(StoreError):
    """The compare-and-set kept losing; the caller answers 503 and the provider retries."""


@dataclass(frozen=True)
class Applied:
    """What applying one event did."""

    outcome: Outcome
    step: Step | None
    cas_retries: int


@dataclass
class Core:
    """The engine plus its store: everything needed to apply an event, and nothing else."""

    flows: FlowSet
    rules: Rules
    store: ConversationStore
    clock: Clock
    ids: IdFactory
    metrics: Metrics

    async def apply(self, phone: str, event: Event, dedup: str | None,
                    ack: Ack | None = None) -> Applied:
        """Step the phone's conversation with `event` and commit it whole (or not at all)."""
        started = time.perf_counter()
        for attempt in range(MAX_CAS_TRIES):
            snap = await self.store.load(phone, dedup)
            if snap.seen and ack is None:
                self.metrics.inbound.labels(_provider(event), "duplicate").inc()
                return Applied(Outcome.DUPLICATE, None, attempt)
            result = step(self.flows, snap.conversation, event, self.clock.now(), self.ids,
                          self.rules)
            ignored = _ignored_record(event) if result.note == "ignored" else ""
            try:
                outcome = await self.store.commit(snap.conversation, result, dedup, ack, ignored)
            except VersionConflict:
                self.metrics.cas_retries.inc()
                continue
            self.metrics.steps.labels(result.note).inc()
            log.info("step", phone=phone, kind=event.type, note=result.note,
                     state=result.conversation.state, effects=len(result.effects),
                     retries=attempt, ms=round((time.perf_counter() - started) * 1000, 2))
            return Applied(outcome, result, attempt)
        raise Contended(f"gave up after {MAX_CAS_TRIES} version clashes")


def _provider(event: Event) -> str:
    return event.provider if isinstance(event, Inbound) else "internal"


def _ignored_record(event: Event) -> str:
    if not isinstance(event, Inbound):
        return ""
    return event.model_dump_json(include={"phone", "body", "message_id", "provider",
                                          "received_at"})
