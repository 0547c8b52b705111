"""A worker's concurrency slots, and its sends at the carrier's pace, which give theirs up.

`WORKER_CONCURRENCY` bounds the effects a worker runs at once. A text waiting for a token
of the pace (`bot.pace`) is not running: it gives its slot back while it waits, so the
reader goes on reading past it (up to `paced_backlog` waiting texts for the normal lanes;
urgent entries are read past any backlog), and a code further down the outbox is read and
takes the next token. A text that got its token takes a slot back at once, without waiting:
queued behind other tasks for a slot, its token would be spent later, bunched with others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from bot.models import SendSms
from bot.pace import Grant, PaceGate, ProviderPushback
from bot.sms import GuardedSender, Refused

PACED_BACKLOG = 20_000  # texts one worker keeps waiting for the pace while it reads on
MAX_PUSHBACKS = 30  # provider "slow down" answers one text may get before they cost tries


class Slots:
    """The bound on running effects, with the texts waiting for the pace set apart."""

    def __init__(self, concurrency: int, *, paced_backlog: int = PACED_BACKLOG,
                 on_free: Callable[[], None] = lambda: None) -> None:
        self.concurrency = concurrency
        self.paced_backlog = paced_backlog
        self._on_free = on_free  # a slot was given back while its text waits: read on
        self._slots = asyncio.Semaphore(concurrency)
        self._debt = 0  # slots paced sends ran over with; paid back before any is freed
        self.pacing = 0  # texts waiting for a token of the carrier's pace (hold no slot)

    async def acquire(self) -> None:
        """A slot for an entry about to start (waits while every slot is taken)."""
        await self._slots.acquire()

    def release(self) -> None:
        """Give a slot back, or pay back one a paced send ran over with (`retake`)."""
        if self._debt:
            self._debt -= 1
        else:
            self._slots.release()

    async def retake(self) -> None:
        """Take a slot back at once after a token: a text holding a token goes now. With
        every slot busy it runs over the bound, which the next task to finish pays back."""
        if self._slots.locked():
            self._debt += 1
        else:
            await self._slots.acquire()  # a free slot: taken without waiting

    @contextlib.asynccontextmanager
    async def waiting_for_pace(self) -> AsyncIterator[None]:
        """Around a wait for a token: the slot is given back meanwhile, taken back after."""
        self.release()
        self.pacing += 1
        self._on_free()
        try:
            yield
        finally:
            self.pacing -= 1
            await self.retake()

    def free(self, inflight: int, *, urgent: bool = False) -> int:
        """How many more entries may be read now, `inflight` running or waiting. Texts
        waiting for the pace hold no slot, so reading goes on past them: for the urgent
        streams past any number, for the others past up to `paced_backlog` of them."""
        pacing = self.pacing if urgent else min(self.pacing, self.paced_backlog)
        return self.concurrency - (inflight - pacing)


class PacedSends:
    """Sends through the guard at the carrier's pace (`pace`; None: no pace), each text in
    its effect's lane, giving its slot back while it waits for a token."""

    def __init__(self, sender: GuardedSender, pace: PaceGate | None, slots: Slots) -> None:
        self.sender = sender
        self.pace = pace
        self.slots = slots

    async def send(self, effect: SendSms) -> Refused | str:
        """Send at the carrier's pace, in the effect's lane. A provider's pushback slows the
        shared bucket and the text waits its turn again, instead of spending one of its
        tries (at most `MAX_PUSHBACKS` times; then a pushback counts like any error)."""
        for _ in range(MAX_PUSHBACKS):
            pacing = await self._wait_for_pace(effect)
            try:
                return await self.sender.send(effect, pacing=pacing)
            except ProviderPushback as exc:
                if self.pace is None:
                    raise
                await self.pace.slow_down(str(exc))
        return await self.sender.send(effect, pacing=await self._wait_for_pace(effect))

    async def _wait_for_pace(self, effect: SendSms
                             ) -> Callable[[], AbstractAsyncContextManager[Grant]] | None:
        """Wait for a token, without a slot meanwhile (`Slots.waiting_for_pace`). Returns
        what the send enters around its request, after the opt-out guard: the grant's
        re-check and this process's sliding window (`PaceGate.sending`)."""
        pace = self.pace
        if pace is None:
            return None
        async with self.slots.waiting_for_pace():
            grant = await pace.acquire(effect.lane)
        return lambda: pace.sending(grant)
