"""The outbox: per-shard Redis Streams read by a consumer group, timers and dead letters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from bot.models import EFFECTS, Effect
from bot.redis_conn import RedisClient
from bot.store.keys import GROUP, Keys
from bot.store.scripts import ACK, MOVE_DUE_TIMERS

DONE_TTL = 3 * 24 * 3600


@dataclass(frozen=True)
class Entry:
    """One outbox entry: the effects of one commit, in order."""

    shard: int
    entry_id: str
    effects: list[Effect]
    deliveries: int = 1


class Outbox:
    """Reads and settles outbox entries; all commands stay on one shard's keys."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._move = redis.register_script(MOVE_DUE_TIMERS)
        self._ack = redis.register_script(ACK)

    async def ensure_groups(self) -> None:
        """Create the consumer group on every shard's stream (idempotent)."""
        for shard in self.keys.all_shards():
            try:
                await self.redis.xgroup_create(self.keys.outbox(shard), GROUP, id="0",
                                               mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read(self, shard: int, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries of one shard for this consumer (waits at most `block_ms`; 0: no wait)."""
        reply: Any = await self.redis.xreadgroup(GROUP, consumer, {self.keys.outbox(shard): ">"},
                                                 count=count, block=block_ms or None)
        return [entry for _, items in reply or [] for entry in _entries(shard, items)]

    async def read_shards(self, shards: list[int], consumer: str, count: int,
                          settled: list[Entry] | None = None) -> list[Entry]:
        """Settle `settled` entries (as `ack` does), then read new entries of several shards,
        all in one round trip: a pipeline of commands that each stay on one shard's keys (on
        a cluster, one pipeline per node, in parallel). A single server reads every shard
        with one XREADGROUP: one command instead of one per shard is most of a read's cost
        in the client."""
        by_shard: dict[int, list[str]] = {}
        for entry in settled or []:
            by_shard.setdefault(entry.shard, []).append(entry.entry_id)
        one_command = bool(shards) and not isinstance(self.redis, RedisCluster)
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard, ids in by_shard.items():
                pipe.xack(self.keys.outbox(shard), GROUP, *ids)
                pipe.xdel(self.keys.outbox(shard), *ids)
            if one_command:
                pipe.xreadgroup(GROUP, consumer, {self.keys.outbox(s): ">" for s in shards},
                                count=count)
            else:
                for shard in shards:
                    pipe.xreadgroup(GROUP, consumer, {self.keys.outbox(shard): ">"},
                                    count=count)
            replies: list[Any] = (await pipe.execute())[2 * len(by_shard):]
        if one_command:
            shard_of = {self.keys.outbox(s).encode(): s for s in shards}
            return [entry for name, items in replies[0] or []
                    for entry in _entries(shard_of[_b(name)], items)]
        return [entry for shard, reply in zip(shards, replies, strict=True)
                for _, items in reply or [] for entry in _entries(shard, items)]

    async def claim(self, shard: int, consumer: str, idle_ms: int, count: int,
                    running: frozenset[str] = frozenset()) -> list[Entry]:
        """Take over entries left unacknowledged for `idle_ms` (XPENDING with IDLE, then
        XCLAIM), except this consumer's own `running` ones: a slow entry it is still
        running is not a dead one, and claiming it would count a delivery it never had."""
        stream = self.keys.outbox(shard)
        # idle=0 means no filter (as Redis reads it); fakeredis would drop this millisecond's.
        pending: list[dict[str, Any]] = await self.redis.xpending_range(
            stream, GROUP, min="-", max="+", count=count + len(running), idle=idle_ms or None)
        others = [p for p in pending if not (_s(p["consumer"]) == consumer
                                             and _s(p["message_id"]) in running)][:count]
        if not others:
            return []
        times = {_s(p["message_id"]): int(p["times_delivered"]) for p in others}
        reply: Any = await self.redis.xclaim(stream, GROUP, consumer, min_idle_time=idle_ms,
                                             message_ids=list(times))
        entries = _entries(shard, [i for i in reply or [] if i and i[1]])
        return [Entry(e.shard, e.entry_id, e.effects, times.get(e.entry_id, 1) + 1)
                for e in entries]

    async def take_over(self, shard: int, consumer: str, skip: set[str],
                        limit: int = 10_000) -> list[Entry]:
        """Every entry of a shard still pending with any consumer (up to `limit`), oldest
        first, now this consumer's: for a worker that just took the shard over, before it
        reads new entries (so a phone's older effects go first). `skip`: entry ids this
        consumer is still running itself."""
        out: list[Entry] = []
        start = "0-0"
        while len(out) < limit:
            reply = await self.redis.xautoclaim(self.keys.outbox(shard), GROUP, consumer,
                                                min_idle_time=0, start_id=start, count=100)
            items: list[Any] = list(reply[1]) if reply else []
            taken = [e for e in _entries(shard, [i for i in items if i and i[1]])
                     if e.entry_id not in skip]
            out.extend(await self._with_deliveries(shard, taken))
            start = _s(reply[0]) if reply else "0-0"
            if start == "0-0":
                break
        return out

    async def _with_deliveries(self, shard: int, entries: list[Entry]) -> list[Entry]:
        """The entries with how often each was delivered (a redelivery checks what is done)."""
        if not entries:
            return []
        pending = await self.redis.xpending_range(
            self.keys.outbox(shard), GROUP, min=entries[0].entry_id, max=entries[-1].entry_id,
            count=len(entries) * 2)
        times = {_s(p["message_id"]): int(p["times_delivered"]) for p in pending}  # type: ignore[arg-type]
        return [Entry(e.shard, e.entry_id, e.effects, times.get(e.entry_id, 2)) for e in entries]

    async def forget_idle_consumers(self, shard: int, idle_ms: int, keep: str) -> list[str]:
        """Delete the group's consumers idle past `idle_ms` with nothing pending (workers
        that died: a live one reads every few milliseconds, and a deleted one that was only
        quiet is made again by its next read). Returns the names deleted."""
        stream = self.keys.outbox(shard)
        consumers: list[dict[str, Any]] = await self.redis.xinfo_consumers(stream, GROUP)
        gone = [_s(c["name"]) for c in consumers
                if int(c["idle"]) > idle_ms and int(c["pending"]) == 0
                and _s(c["name"]) != keep]
        for name in gone:
            await self.redis.xgroup_delconsumer(stream, GROUP, name)
        return gone

    async def ack(self, entry: Entry) -> None:
        """Settle an entry whose effects are all done (and delete it: the stream stays small)."""
        # One script call: atomic like MULTI/XACK/XDEL/EXEC, at a quarter of the client's cost.
        await self._ack(keys=[self.keys.outbox(entry.shard)], args=[GROUP, entry.entry_id])

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
        """Move this shard's due timers into its outbox; returns how many moved."""
        moved = await self._move(keys=[self.keys.timers(shard), self.keys.outbox(shard)],
                                 args=[now, limit])
        return int(moved)

    async def is_done(self, phone: str, effect_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.done(phone, effect_id)))

    async def mark_done(self, phone: str, effect_id: str) -> None:
        """Remember a finished effect, so a redelivered entry does not repeat it."""
        await self.redis.set(self.keys.done(phone, effect_id), "1", ex=DONE_TTL)

    async def pending_count(self) -> int:
        """Entries waiting in every outbox (for /metrics and tests), in one round trip: a
        pipeline of XLENs that each stay on one shard's key."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.keys.all_shards():
                pipe.xlen(self.keys.outbox(shard))
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


def _entries(shard: int, items: list[Any]) -> list[Entry]:
    return [Entry(shard, _s(entry_id), EFFECTS.validate_json(fields[b"e"]))
            for entry_id, fields in items]


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
