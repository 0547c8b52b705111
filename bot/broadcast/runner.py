"""Running a broadcast: snapshot the audience, then reach each recipient once.

Per recipient, in this order: opted out -> skipped; in their local quiet hours -> deferred
to the next allowed time; over the monthly cap -> skipped; else the broadcast's flow starts
through the core, committed with the dedup mark `bc:<id>:<phone>` (so a resumed run is a
no-op for anyone already reached), and its texts go out in the bulk lane, behind codes, STOP/HELP
answers and replies. The runner feeds at most `SMS_RATE` recipients a second and waits
while the outbox is backed up, so a code never queues behind a broadcast.

The audience is snapshotted into a list and a cursor records progress, so a crash resumes
where it stopped; a lease keeps two runners off one broadcast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from bot.broadcast.segments import Segment, parse_segment
from bot.broadcast.store import ACTIVE, Broadcast, BroadcastStore, Status
from bot.config import Settings
from bot.core import Core
from bot.models import BroadcastStart
from bot.quiet import outside_quiet_hours
from bot.store import CommitResult, Outbox
from bot.store.consent import ConsentStore
from bot.store.subscribers import SubscriberIndex

log = structlog.get_logger("bot.broadcast")

BATCH = 50
BACKLOG_PER_RATE = 2.0  # outbox entries allowed per unit of SMS_RATE before the feed waits
MIN_BACKLOG = 200
BACKLOG_EVERY = 20
POLL_SECONDS = 2.0
Progress = Callable[[Broadcast], None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Audience:
    """Who a segment reaches now, and who it leaves out and why."""

    phones: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class DryRun:
    """What a broadcast would do if it started now."""

    would_send: int
    deferred_quiet: int
    skipped: dict[str, int]
    cap: int

    @property
    def total(self) -> int:
        return self.would_send + self.deferred_quiet + sum(self.skipped.values())


def month_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


class BroadcastRunner:
    """Runs broadcasts for one process; `loop` picks up any that are due (resumes too)."""

    def __init__(self, core: Core, consent: ConsentStore, outbox: Outbox,
                 store: BroadcastStore, settings: Settings, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.core = core
        self.consent = consent
        self.outbox = outbox
        self.store = store
        self.settings = settings
        self.subscribers = SubscriberIndex(store.redis, store.keys)
        self._since_backlog_check = 0
        self._sleep = sleep

    # --- who ------------------------------------------------------------------------------
    async def audience(self, segment: Segment) -> Audience:
        """The subscribers a segment selects (a CSV's phones must each be subscribed)."""
        out = Audience(skipped={"skipped_invalid": segment.invalid} if segment.invalid else {})
        if segment.phones is not None:
            await self._listed(segment, out)
            return out
        out.phones = sorted([phone async for phone, profile in self.subscribers.scan()
                             if segment.matches(profile)])
        return out

    async def _listed(self, segment: Segment, out: Audience) -> None:
        phones = list(segment.phones or ())
        for phone, profile in zip(phones, await self.subscribers.profiles(phones),
                                  strict=True):
            if profile is None:
                reason = ("skipped_opted_out" if await self.consent.is_opted_out(phone)
                          else "skipped_not_subscribed")
                out.skipped[reason] = out.skipped.get(reason, 0) + 1
            elif segment.matches(profile):
                out.phones.append(phone)

    # --- dry run --------------------------------------------------------------------------
    async def dry_run(self, segment: Segment, cap: int, bc_id: str = "dry-run") -> DryRun:
        """How many would get it now, how many wait out quiet hours, who is skipped, why."""
        audience = await self.audience(segment)
        now, month = self.core.clock.now(), month_of(self.core.clock.now())
        skipped = dict(audience.skipped)
        send = deferred = 0
        for phone in audience.phones:
            if await self.consent.is_opted_out(phone):
                skipped["skipped_opted_out"] = skipped.get("skipped_opted_out", 0) + 1
            elif await self.store.cap_full(phone, month, bc_id, cap):
                skipped["skipped_cap"] = skipped.get("skipped_cap", 0) + 1
            elif self._allowed_at(phone, now) > now:
                deferred += 1
            else:
                send += 1
        return DryRun(would_send=send, deferred_quiet=deferred, skipped=skipped, cap=cap)

    def _allowed_at(self, phone: str, now: float) -> float:
        s = self.settings
        return outside_quiet_hours(now, phone, s.quiet_hours_start, s.quiet_hours_end)

    # --- run ------------------------------------------------------------------------------
    async def run(self, bc_id: str, owner: str, progress: Progress | None = None) -> Broadcast:
        """Run (or resume) one broadcast until it is done, paused or cancelled, or only
        recipients in quiet hours are left (it stays running: call again later)."""
        b = await self.store.get(bc_id)
        if b is None:
            raise KeyError(f"no broadcast {bc_id}")
        if b.status not in ACTIVE or b.at > self.core.clock.now():
            return b  # finished, stopped, or not due yet
        if not await self.store.lease(bc_id, owner):
            return b  # another runner has it
        try:
            await self.store.set_status(bc_id, Status.RUNNING, only_from=ACTIVE)
            if not b.snapshot_done:
                await self._snapshot(b)
            finished = await self._send_queue(bc_id, owner, progress)
            if finished:
                finished = await self._send_deferred(bc_id, owner, progress)
            if finished:
                await self.store.set_status(bc_id, Status.DONE, only_from=(Status.RUNNING,))
        finally:
            await self.store.release(bc_id, owner)
        final = await self.store.get(bc_id) or b
        if progress:
            progress(final)
        return final

    async def _current(self, bc_id: str, owner: str) -> Broadcast | None:
        """The broadcast, if this runner may work on it now (leased; still active)."""
        b = await self.store.get(bc_id)
        if b is None or b.status not in ACTIVE or not await self.store.lease(bc_id, owner):
            return None
        return b

    async def _snapshot(self, b: Broadcast) -> None:
        await self.store.reset_queue(b.id)
        audience = await self.audience(parse_segment(b.segment, self.settings.default_region))
        for start in range(0, len(audience.phones), 1000):
            await self.store.enqueue(b.id, audience.phones[start:start + 1000])
        total = len(audience.phones) + sum(audience.skipped.values())
        await self.store.finish_snapshot(b.id, total, audience.skipped)
        log.info("broadcast audience", broadcast=b.id, recipients=len(audience.phones),
                 **audience.skipped)

    async def _send_queue(self, bc_id: str, owner: str, progress: Progress | None) -> bool:
        """Reach everyone in the queue from the cursor on; False when paused or cancelled."""
        while True:
            b = await self._current(bc_id, owner)
            if b is None:
                return False
            phones = await self.store.batch(bc_id, b.cursor, BATCH)
            if not phones:
                return True
            for offset, phone in enumerate(phones):
                await self._reach(b, phone)
                if offset % 10 == 9:
                    await self.store.advance(bc_id, b.cursor + offset + 1)
            await self.store.advance(bc_id, b.cursor + len(phones))
            if progress:
                progress(await self.store.get(bc_id) or b)

    async def _send_deferred(self, bc_id: str, owner: str, progress: Progress | None) -> bool:
        """Reach those who were in quiet hours whose morning has come; True when nobody is
        left, False when stopped or the rest are still in quiet hours."""
        while True:
            b = await self._current(bc_id, owner)
            if b is None:
                return False
            now = self.core.clock.now()
            due = await self.store.due(bc_id, now, BATCH)
            for phone in due:
                await self.store.undefer(bc_id, phone)
                await self._reach(b, phone, deferred=True)
            if due:
                if progress:
                    progress(await self.store.get(bc_id) or b)
                continue
            next_due = await self.store.next_due(bc_id)
            if next_due is None:
                return True
            if next_due - now > POLL_SECONDS:
                return False
            await self._sleep(max(0.0, next_due - now))

    async def _reach(self, b: Broadcast, phone: str, *, deferred: bool = False) -> None:
        now = self.core.clock.now()
        if await self.consent.is_opted_out(phone):
            await self.store.count(b.id, "skipped_opted_out")
            return
        allowed = self._allowed_at(phone, now)
        if allowed > now:
            await self.store.defer(b.id, phone, allowed)
            if not deferred:
                await self.store.count(b.id, "deferred")
            return
        if await self.store.take_cap(phone, month_of(now), b.id, b.cap) == "full":
            await self.store.count(b.id, "skipped_cap")
            return
        event = BroadcastStart(phone=phone, broadcast_id=b.id, flow=b.flow,
                               state=b.state or None)
        applied = await self.core.apply(phone, event, dedup=f"bc:{b.id}:{phone}")
        if applied.outcome is CommitResult.DUPLICATE:
            await self.store.count(b.id, "already")
        elif applied.step is not None and applied.step.note == "broadcast_skipped":
            await self.store.count(b.id, "skipped_opted_out")
        else:
            await self.store.count(b.id, "sent")
        await self._keep_pace()

    async def _keep_pace(self) -> None:
        """At most `SMS_RATE` recipients a second, and none while the outbox is backed up
        (looked at every `BACKLOG_EVERY` recipients: it costs a call per shard)."""
        rate = self.settings.sms_rate
        if rate:
            await self._sleep(1.0 / rate)
        self._since_backlog_check += 1
        if self._since_backlog_check < BACKLOG_EVERY:
            return
        self._since_backlog_check = 0
        limit = max(MIN_BACKLOG, int(BACKLOG_PER_RATE * (rate or 0)))
        for _ in range(600):  # bounded: at most ~5 minutes behind a stuck outbox
            if await self.outbox.pending_count() <= limit:
                return
            await self._sleep(0.5)

    # --- the background loop --------------------------------------------------------------
    async def loop(self, owner: str) -> None:
        """Run every due broadcast, and resume any a crashed runner left (until cancelled)."""
        while True:
            try:
                for bc_id in await self.store.due_ids(self.core.clock.now()):
                    await self.run(bc_id, owner)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop outlives a Redis blip
                log.warning("broadcast loop error", error=repr(exc)[:200])
            await asyncio.sleep(POLL_SECONDS)

