"""A worker's lane reader: what it takes from the outbox, and how it gives it back.

Holds the worker's share of the shards (`bot.shard_lease`) and reads every shard it holds,
the urgent streams first on every read (`bot.store.lanes`); claims what dead workers left,
takes a shard's pending entries over when its lease comes, and acknowledges finished
entries a few milliseconds' worth at a time. An urgent entry is read within one read pause
whatever the normal streams' backlog: the reader stops reading those at `PACED_BACKLOG`
texts waiting for the pace, never the urgent ones (`bot.worker_slots`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import structlog

from bot.metrics import Metrics
from bot.shard_lease import ShardLeases
from bot.store import Entry, Outbox
from bot.store.lanes import Stream
from bot.worker_slots import Slots

log = structlog.get_logger("bot.worker")
T = TypeVar("T")

READ_PAUSE_BUSY = 0.005  # between reads while entries keep coming (they batch up meanwhile)
#: The longest pause, reached after about 0.3 s of an empty outbox: a text after a quiet
#: spell waits at most this long to be read. Each read costs the same whether it finds
#: anything or not (on a cluster, one command per shard): an idle worker at 50 ms used
#: 21 % of a (slow) core on a 3-master cluster and 4.7 % on one server; at 200 ms, 8.0 %
#: and 2.5 %. (`Runtime.settle` wakes the reader, so tests do not wait for it.)
READ_PAUSE_IDLE = 0.2
ACK_BATCH_SECONDS = 0.003  # finished entries wait this long to share one acknowledgement
CLAIM_BATCH = 50  # entries claimed from one shard at a time
STOP_TIMEOUT = 5.0
HeldKey = tuple[int, Stream, str]


class Loops(Protocol):
    """What the reader's loops need from their worker: pauses, stop, and guarded calls."""

    @property
    def stopping(self) -> bool: ...

    async def pause(self, seconds: float, *, wake: bool = False) -> None: ...

    async def until_stopped(self, wait: Awaitable[object]) -> None: ...

    async def guarded(self, where: str, call: Awaitable[T]) -> T | None: ...

    def progressed(self) -> None: ...


class LaneReader:
    """Entries one worker has taken: read, claimed or taken over, running, or settled and
    waiting for their acknowledgement."""

    def __init__(self, outbox: Outbox, consumer: str, slots: Slots, loops: Loops,
                 start: Callable[[Entry], None], inflight: Callable[[], int]) -> None:
        self.outbox = outbox
        self.consumer = consumer
        self.slots = slots
        self.loops = loops
        self._start = start  # runs an entry (its slot is taken)
        self._inflight = inflight  # entries running or waiting for the pace
        self.shards: set[int] = set()  # owned, taken over, and read now
        self.held: set[HeldKey] = set()  # entries running or done but not acked
        self._taking = asyncio.Lock()  # held while entries are read or claimed and dispatched
        self._settled: list[Entry] = []  # done, acknowledged by the ack loop in a moment
        self._ack_wanted = asyncio.Event()
        self._acking = False

    # --- shards ----------------------------------------------------------------------
    async def lease_loop(self, leases: ShardLeases, ready: asyncio.Event,
                         metrics: Metrics) -> None:
        """Hold this worker's share of the shards: renew, hand back extras, take free ones.
        `ready` is set after the first round."""
        pause = leases.ttl_ms / 4000
        while not self.loops.stopping:
            await self.loops.guarded("leases", self._rebalance(leases, metrics))
            ready.set()
            await self.loops.pause(pause)

    async def _rebalance(self, leases: ShardLeases, metrics: Metrics) -> None:
        workers = await leases.heartbeat()
        lost = await leases.renew()
        if lost:  # lapsed (this worker stalled): someone else may read them now
            self.shards -= lost
            log.warning("shard leases lost", shards=sorted(lost))
        share = leases.share(workers)
        owned = sorted(leases.owned)
        if len(owned) > share:
            await self.hand_back(owned[share:])
            await leases.release(owned[share:])
            log.info("shards handed back", shards=owned[share:])
        elif len(owned) < share:
            await leases.acquire(share - len(owned))
        # Held but not read yet: just taken, or a take-over that failed (Redis lost the
        # groups, a failover) and is tried again on every round until it is done.
        for shard in sorted(leases.owned - self.shards):
            pending = await self.take_over(shard)
            if pending:
                log.info("shard taken over", shard=shard, pending=pending)
        metrics.worker_shards.set(len(self.shards))

    # --- reading ---------------------------------------------------------------------
    async def read_loop(self, ready: asyncio.Event) -> None:
        """Every shard in one pipelined read, paced: one pool connection for a moment per
        read. (One blocking reader per shard held a pool connection each, all the time,
        and under load fetched about one entry per read: the webhooks then queued for
        connections behind the worker.) The pause lets entries batch up while they keep
        coming, and backs off to `READ_PAUSE_IDLE` while the outbox is empty. `ready`:
        set once the worker holds its first leases."""
        pause = READ_PAUSE_BUSY
        await self.loops.until_stopped(ready.wait())
        while not self.loops.stopping:
            shards = sorted(self.shards)
            # Read only what can start now: an entry read but waiting for a slot counts a
            # delivery at every crash without ever running, until it looks like poison.
            inflight = self._inflight()
            urgent, normal = (self.slots.free(inflight, urgent=True),
                              self.slots.free(inflight))
            if urgent <= 0:
                await self.loops.pause(READ_PAUSE_BUSY, wake=True)
                continue
            per = max(1, len(shards))
            async with self._taking:
                entries = await self.loops.guarded("read", self.outbox.read_shards(
                    shards, self.consumer, max(1, normal // per) if normal > 0 else 0,
                    urgent_count=max(1, urgent // per))) if shards else []
                for entry in entries or []:  # urgent ones first
                    await self.dispatch(entry)
            pause = READ_PAUSE_BUSY if entries else min(READ_PAUSE_IDLE, pause * 2)
            await self.loops.pause(pause, wake=True)

    async def dispatch(self, entry: Entry) -> None:
        """Start an entry once a slot is free (unless this worker runs it already)."""
        if entry.key in self.held:
            # Our own entry, claimed back because it is slow or its ack is still on its way
            # (a paused Redis): running it again would repeat its effects.
            return
        self.held.add(entry.key)
        await self.slots.acquire()
        self._start(entry)

    async def claim_loop(self, idle_ms: int) -> None:
        """Claim what other (dead) workers left pending for `idle_ms`, urgent streams
        first; then forget consumers that hold nothing."""
        pause = max(0.2, min(5.0, idle_ms / 2000))
        while not self.loops.stopping:
            await self.loops.pause(pause)
            for shard in sorted(self.shards):
                inflight = self._inflight()
                budgets = ((Stream.URGENT, self.slots.free(inflight, urgent=True)),
                           (Stream.NORMAL, self.slots.free(inflight)))
                if budgets[0][1] <= 0:
                    break  # claim only what can start now (see `read_loop`)
                nothing = True
                for stream, free in budgets:
                    if free <= 0:
                        nothing = False
                        continue
                    async with self._taking:
                        if shard not in self.shards:
                            nothing = False
                            break
                        running = frozenset((st, i) for s, st, i in self.held if s == shard)
                        claimed = await self.loops.guarded("claim", self.outbox.claim(
                            shard, self.consumer, idle_ms, min(CLAIM_BATCH, free), running,
                            streams=(stream,)))
                        nothing = nothing and claimed == []
                        for entry in claimed or []:
                            await self.dispatch(entry)
                if nothing:
                    # Nothing left to claim here: consumers that stopped reading (dead
                    # workers) and hold nothing pending can go.
                    await self.loops.guarded("forget consumers", self.outbox.
                                             forget_idle_consumers(shard, idle_ms,
                                                                   keep=self.consumer))

    async def take_over(self, shard: int) -> int:
        """Run what the shard's previous reader left pending (urgent stream first, each
        oldest first), then read it; returns how many entries were taken over."""
        running = {(st, entry_id) for s, st, entry_id in self.held if s == shard}
        entries = await self.outbox.take_over(shard, self.consumer, running)
        for entry in entries:
            await self.dispatch(entry)
        self.shards.add(shard)
        return len(entries)

    async def hand_back(self, shards: list[int]) -> None:
        """Stop reading these shards and wait (bounded) until what was taken from them is
        finished and acknowledged: the next reader starts after this worker's last entry."""
        self.shards.difference_update(shards)
        async with self._taking:  # a read or claim under way may still bring their entries
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT
        while loop.time() < deadline and any(s in shards for s, _, _ in self.held):
            await asyncio.sleep(0.01)  # running, or done and about to be acknowledged
        await self.ack_settled()

    # --- settling ---------------------------------------------------------------------
    async def settle(self, entry: Entry) -> None:
        """An entry whose effects are all done: acknowledged by the ack loop within a few
        ms, together with whatever else finished meanwhile (or now, without the loop)."""
        if self._acking:
            self._settled.append(entry)
            self._ack_wanted.set()
        else:
            await self.outbox.ack(entry)
            self.held.discard(entry.key)

    def forget(self, entry: Entry) -> None:
        """An entry left for a retry (claimed again later): no longer this worker's."""
        self.held.discard(entry.key)

    async def ack_loop(self) -> None:
        """Acknowledge finished entries as they finish, a few milliseconds' worth at a time
        in one round trip. Never behind the reader: it may wait for a free slot to
        dispatch, and an entry done but not yet acknowledged is what a kill -9 repeats."""
        self._acking = True
        try:
            while not self.loops.stopping:
                await self.loops.until_stopped(self._ack_wanted.wait())
                await asyncio.sleep(ACK_BATCH_SECONDS)
                self._ack_wanted.clear()
                settled, self._settled = self._settled, []
                if not settled:
                    continue
                done = await self.loops.guarded("ack", self.outbox.read_shards(
                    [], self.consumer, 0, settled))
                if done is None:
                    self._settled[:0] = settled  # not acknowledged: try again
                    self._ack_wanted.set()
                else:
                    self.held.difference_update(e.key for e in settled)
                    self.loops.progressed()
        finally:
            self._acking = False

    async def ack_settled(self) -> None:
        """Acknowledge what the ack loop has not (it stopped), bounded in time."""
        settled, self._settled = self._settled, []
        if settled:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.outbox.read_shards([], self.consumer, 0, settled)
