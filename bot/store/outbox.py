"""The outbox: per-shard Redis Streams (one per lane class, `bot.store.lanes`) read by a
consumer group, timers and dead letters."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from bot.models import EFFECTS, Effect
from bot.redis_conn import RedisClient
from bot.store.keys import GROUP, Keys
from bot.store.lanes import STREAMS, Stream
from bot.store.scripts import ACK, MOVE_DUE_TIMERS

DONE_TTL = 3 * 24 * 3600


@dataclass(frozen=True)
class Entry:
    """One outbox entry: the effects of one commit, in order, and the stream it is in."""

    shard: int
    entry_id: str
    effects: list[Effect]
    deliveries: int = 1
    stream: Stream = Stream.NORMAL

    @property
    def key(self) -> tuple[int, Stream, str]:
        """Unique among every outbox (entry ids are unique only within one stream)."""
        return (self.shard, self.stream, self.entry_id)


class Outbox:
    """Reads and settles outbox entries; all commands stay on one shard's keys.

    Each shard has a stream per lane class (`bot.store.lanes`); everything that reads them
    goes through the urgent stream first."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._move = redis.register_script(MOVE_DUE_TIMERS)
        self._ack = redis.register_script(ACK)

    def _names(self, shards: list[int]) -> dict[bytes, tuple[int, Stream]]:
        return {self.keys.outbox(s, st).encode(): (s, st) for s in shards for st in STREAMS}

    async def ensure_groups(self) -> None:
        """Create the consumer group on every stream of every shard (idempotent)."""
        for shard in self.keys.all_shards():
            for stream in STREAMS:
                try:
                    await self.redis.xgroup_create(self.keys.outbox(shard, stream), GROUP,
                                                   id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise

    async def read(self, shard: int, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries of one shard for this consumer, urgent first, up to `count` of each
        stream (waits at most `block_ms`; 0: no wait)."""
        names = {self.keys.outbox(shard, st): ">" for st in STREAMS}  # one slot: one command
        reply: Any = await self.redis.xreadgroup(GROUP, consumer, names,  # type: ignore[arg-type]
                                                 count=count, block=block_ms or None)
        return _parse(self._names([shard]), reply or [])

    async def read_shards(self, shards: list[int], consumer: str, count: int,
                          settled: list[Entry] | None = None, *,
                          urgent_count: int | None = None) -> list[Entry]:
        """Settle `settled` entries (as `ack` does), then read new entries of several shards,
        all in one round trip: up to `urgent_count` (default `count`) of each shard's urgent
        stream and `count` (0: none) of its normal one; urgent entries come first. A
        pipeline of commands that each stay on one shard's keys (on a cluster, one pipeline
        per node, in parallel). A single server reads every shard's streams of one lane with
        one XREADGROUP: one command instead of one per shard is most of a read's cost in
        the client."""
        by_stream: dict[tuple[int, Stream], list[str]] = {}
        for entry in settled or []:
            by_stream.setdefault((entry.shard, entry.stream), []).append(entry.entry_id)
        urgent = count if urgent_count is None else urgent_count
        wanted = [(st, n) for st, n in ((Stream.URGENT, urgent), (Stream.NORMAL, count)) if n > 0]
        groups = [shards] if not isinstance(self.redis, RedisCluster) else [[s] for s in shards]
        commands: list[tuple[dict[str, str], int]] = []
        for group in groups if shards else []:
            if len(wanted) == 2 and urgent == count:  # one command reads both lanes
                commands.append(({self.keys.outbox(s, st): ">" for st, _ in wanted
                                  for s in group}, count))
            else:
                commands += [({self.keys.outbox(s, st): ">" for s in group}, n)
                             for st, n in wanted]
        async with self.redis.pipeline(transaction=False) as pipe:
            for (shard, stream), ids in by_stream.items():
                pipe.xack(self.keys.outbox(shard, stream), GROUP, *ids)
                pipe.xdel(self.keys.outbox(shard, stream), *ids)
            for names, n in commands:
                pipe.xreadgroup(GROUP, consumer, names, count=n)  # type: ignore[arg-type]
            replies: list[Any] = (await pipe.execute())[2 * len(by_stream):]
        streams = self._names(shards)
        return _parse(streams, [item for reply in replies for item in reply or []])

    async def claim(self, shard: int, consumer: str, idle_ms: int, count: int,
                    running: frozenset[tuple[Stream, str]] = frozenset(), *,
                    streams: tuple[Stream, ...] = STREAMS) -> list[Entry]:
        """Take over entries of `streams` (default all, urgent first) left unacknowledged
        for `idle_ms` (XPENDING with IDLE, then XCLAIM), except this consumer's own
        `running` ones (stream, entry id): a slow entry it is still running is not a dead
        one, and claiming it would count a delivery it never had."""
        out: list[Entry] = []
        for stream in streams:
            if len(out) >= count:
                break
            ids = frozenset(i for st, i in running if st == stream)
            out += await self._claim(shard, stream, consumer, idle_ms, count - len(out), ids)
        return out

    async def _claim(self, shard: int, stream: Stream, consumer: str, idle_ms: int,
                     count: int, running: frozenset[str]) -> list[Entry]:
        name = self.keys.outbox(shard, stream)
        # idle=0 means no filter (as Redis reads it); fakeredis would drop this millisecond's.
        pending: list[dict[str, Any]] = await self.redis.xpending_range(
            name, GROUP, min="-", max="+", count=count + len(running), idle=idle_ms or None)
        others = [p for p in pending if not (_s(p["consumer"]) == consumer
                                             and _s(p["message_id"]) in running)][:count]
        if not others:
            return []
        times = {_s(p["message_id"]): int(p["times_delivered"]) for p in others}
        reply: Any = await self.redis.xclaim(name, GROUP, consumer, min_idle_time=idle_ms,
                                             message_ids=list(times))
        entries = _entries(shard, [i for i in reply or [] if i and i[1]], stream)
        return [replace(e, deliveries=times.get(e.entry_id, 1) + 1) for e in entries]

    async def take_over(self, shard: int, consumer: str, skip: set[tuple[Stream, str]],
                        limit: int = 10_000) -> list[Entry]:
        """Every entry of a shard still pending with any consumer (up to `limit` a stream),
        urgent stream first, each oldest first, now this consumer's: for a worker that just
        took the shard over, before it reads new entries (so a phone's older effects go
        first). `skip`: (stream, entry id) of entries this consumer is still running."""
        out: list[Entry] = []
        for stream in STREAMS:
            out += await self._take_over(shard, stream, consumer,
                                         {i for st, i in skip if st == stream}, limit)
        return out

    async def _take_over(self, shard: int, stream: Stream, consumer: str, skip: set[str],
                         limit: int) -> list[Entry]:
        out: list[Entry] = []
        start = "0-0"
        while len(out) < limit:
            reply = await self.redis.xautoclaim(self.keys.outbox(shard, stream), GROUP,
                                                consumer, min_idle_time=0, start_id=start,
                                                count=100)
            items: list[Any] = list(reply[1]) if reply else []
            taken = [e for e in _entries(shard, [i for i in items if i and i[1]], stream)
                     if e.entry_id not in skip]
            out.extend(await self._with_deliveries(taken))
            start = _s(reply[0]) if reply else "0-0"
            if start == "0-0":
                break
        return out

    async def _with_deliveries(self, entries: list[Entry]) -> list[Entry]:
        """The entries with how often each was delivered (a redelivery checks what is done)."""
        if not entries:
            return []
        pending = await self.redis.xpending_range(
            self.keys.outbox(entries[0].shard, entries[0].stream), GROUP,
            min=entries[0].entry_id, max=entries[-1].entry_id, count=len(entries) * 2)
        times = {_s(p["message_id"]): int(p["times_delivered"]) for p in pending}  # type: ignore[arg-type]
        return [replace(e, deliveries=times.get(e.entry_id, 2)) for e in entries]

    async def forget_idle_consumers(self, shard: int, idle_ms: int, keep: str) -> list[str]:
        """Delete the group's consumers idle past `idle_ms` with nothing pending, from each
        of the shard's streams (workers that died: a live one reads every few milliseconds,
        and a deleted one that was only quiet is made again by its next read). Returns the
        names deleted."""
        gone: dict[str, None] = {}
        for stream in STREAMS:
            name = self.keys.outbox(shard, stream)
            consumers: list[dict[str, Any]] = await self.redis.xinfo_consumers(name, GROUP)
            idle = [_s(c["name"]) for c in consumers
                    if int(c["idle"]) > idle_ms and int(c["pending"]) == 0
                    and _s(c["name"]) != keep]
            for consumer in idle:
                await self.redis.xgroup_delconsumer(name, GROUP, consumer)
                gone[consumer] = None
        return list(gone)

    async def ack(self, entry: Entry) -> None:
        """Settle an entry whose effects are all done (and delete it: the stream stays small)."""
        # One script call: atomic like MULTI/XACK/XDEL/EXEC, at a quarter of the client's cost.
        await self._ack(keys=[self.keys.outbox(entry.shard, entry.stream)],
                        args=[GROUP, entry.entry_id])

    async def dead_letter(self, entry: Entry, effect: Effect, reason: str, *,
                          unknown: bool = False) -> None:
        """Keep an effect that kept failing, for staff to look at and replay (`python -m bot
        dead`). `unknown`: it may have happened upstream (an unclear end), so a replay must
        look it up first."""
        fields = {"e": effect.model_dump_json(), "reason": reason[:500]}
        if unknown:
            fields["u"] = "1"
        await self.redis.xadd(self.keys.dead(entry.shard), fields,  # type: ignore[arg-type]
                              maxlen=100_000, approximate=True)

    async def move_due_timers(self, shard: int, now: float, limit: int = 500) -> int:
        """Move this shard's due timers into its normal outbox stream (what a timer causes
        is in the reminder lane); returns how many moved."""
        moved = await self._move(keys=[self.keys.timers(shard),
                                       self.keys.outbox(shard, Stream.NORMAL)],
                                 args=[now, limit])
        return int(moved)

    async def is_done(self, phone: str, effect_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.done(phone, effect_id)))

    async def mark_done(self, phone: str, effect_id: str) -> None:
        """Remember a finished effect, so a redelivered entry does not repeat it."""
        await self.redis.set(self.keys.done(phone, effect_id), "1", ex=DONE_TTL)

    async def pending_count(self) -> int:
        """Entries waiting in every outbox stream (for /metrics and tests), in one round
        trip: a pipeline of XLENs that each stay on one shard's key."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.keys.all_shards():
                for stream in STREAMS:
                    pipe.xlen(self.keys.outbox(shard, stream))
            lengths: list[Any] = await pipe.execute()
        return sum(int(n) for n in lengths)

    async def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead-lettered effect, with its reason."""
        rows: list[dict[str, Any]] = []
        for shard in self.keys.all_shards():
            items: Any = await self.redis.xrange(self.keys.dead(shard))
            for _, fields in items or []:
                rows.append({"effect": json.loads(fields[b"e"]), "reason": _s(fields[b"reason"])})
        return rows


def _entries(shard: int, items: list[Any], stream: Stream) -> list[Entry]:
    return [Entry(shard, _s(entry_id), EFFECTS.validate_json(fields[b"e"]), stream=stream)
            for entry_id, fields in items]


def _parse(streams: dict[bytes, tuple[int, Stream]], reply: list[Any]) -> list[Entry]:
    """XREADGROUP's [name, items] pairs as entries, urgent stream first (stable)."""
    entries: list[Entry] = []
    for name, items in reply:
        shard, stream = streams[_b(name)]
        entries += _entries(shard, items, stream)
    return sorted(entries, key=lambda e: e.stream)


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
