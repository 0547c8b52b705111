"""Broadcasts in Redis: the record and its counts, the recipient queue, the deferred set,
the lease that lets one runner at a time work on a broadcast, and the frequency cap.

Every broadcast key shares the `{bc}` hash tag; the frequency cap is a key of the phone's
own shard (a set of the broadcast ids the phone got that month, so counting is idempotent).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.typing import EncodableT, FieldT

from bot.redis_conn import RedisClient
from bot.store.keys import Keys

CAP_TTL = 40 * 24 * 3600
LEASE_MS = 30_000
COUNTS = ("total", "sent", "already", "deferred", "skipped_opted_out", "skipped_cap",
          "skipped_not_subscribed", "skipped_invalid")


class Status(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


ACTIVE = (Status.SCHEDULED, Status.RUNNING)

#: KEYS: cap set. ARGV: broadcast id, cap, ttl. 'again' (this broadcast already counted),
#: 'full' (the month's cap is reached), else 'new' (counted now).
TAKE_CAP = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'again' end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'full' end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'new'
"""

#: KEYS: lease. ARGV: owner, ms. Take or renew the lease; 1 when this owner holds it.
LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


@dataclass
class Broadcast:
    """One broadcast as staff see it."""

    id: str
    flow: str
    segment: str
    at: float
    created: float
    status: Status
    cap: int
    state: str = ""
    snapshot_done: bool = False
    cursor: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def done_count(self) -> int:
        """Recipients settled so far (sent, or skipped for a reason)."""
        c = self.counts
        return sum(c.get(k, 0) for k in COUNTS if k not in ("total", "deferred"))

    @property
    def progress(self) -> float:
        total = self.counts.get("total", 0)
        return min(1.0, self.done_count / total) if total else (
            1.0 if self.status is Status.DONE else 0.0)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class BroadcastStore:
    """Every read and write of broadcast state."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._cap = redis.register_script(TAKE_CAP)
        self._lease = redis.register_script(LEASE)

    def _key(self, *parts: str) -> str:
        return ":".join((self.keys.prefix, "bc", "{bc}", *parts))

    async def create(self, *, flow: str, state: str | None, segment: str, at: float,
                     now: float, cap: int) -> Broadcast:
        bc_id = secrets.token_hex(4)
        record: dict[FieldT, EncodableT] = {
            "flow": flow, "state": state or "", "segment": segment, "at": at, "created": now,
            "status": Status.SCHEDULED.value, "cap": cap, "snapshot": "0", "cursor": 0}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(bc_id), mapping=record)
            pipe.zadd(self._key("index"), {bc_id: now})
            pipe.zadd(self._key("active"), {bc_id: at})
            await pipe.execute()
        found = await self.get(bc_id)
        assert found is not None
        return found

    async def get(self, bc_id: str) -> Broadcast | None:
        raw: Any = await self.redis.hgetall(self._key(bc_id))
        if not raw:
            return None
        v = {_s(k): _s(x) for k, x in raw.items()}
        return Broadcast(id=bc_id, flow=v["flow"], state=v.get("state", ""),
                         segment=v["segment"], at=float(v["at"]), created=float(v["created"]),
                         status=Status(v["status"]), cap=int(v["cap"]),
                         snapshot_done=v.get("snapshot") == "1", cursor=int(v.get("cursor", 0)),
                         counts={k: int(v.get(k, 0)) for k in COUNTS})

    async def recent(self, limit: int = 50) -> list[Broadcast]:
        ids: Any = await self.redis.zrevrange(self._key("index"), 0, limit - 1)
        found = [await self.get(_s(i)) for i in ids]
        return [b for b in found if b is not None]

    async def set_status(self, bc_id: str, status: Status,
                         only_from: tuple[Status, ...] | None = None) -> bool:
        """Move a broadcast to `status` (only from one of `only_from`, when given)."""
        current = await self.get(bc_id)
        if current is None or (only_from is not None and current.status not in only_from):
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(bc_id), "status", status.value)
            if status in ACTIVE:
                pipe.zadd(self._key("active"), {bc_id: current.at})
            else:
                pipe.zrem(self._key("active"), bc_id)
            await pipe.execute()
        return True

    async def due_ids(self, now: float) -> list[str]:
        """Broadcasts to run now: scheduled or running, and due (the runners' poll)."""
        ids: Any = await self.redis.zrangebyscore(self._key("active"), "-inf", now)
        return [_s(i) for i in ids]

    async def count(self, bc_id: str, name: str, by: int = 1) -> None:
        await self.redis.hincrby(self._key(bc_id), name, by)

    async def lease(self, bc_id: str, owner: str) -> bool:
        """Take or renew the right to run this broadcast (one runner at a time)."""
        return bool(await self._lease(keys=[self._key(bc_id, "lease")],
                                      args=[owner, LEASE_MS]))

    async def release(self, bc_id: str, owner: str) -> None:
        if _s(await self.redis.get(self._key(bc_id, "lease")) or b"") == owner:
            await self.redis.delete(self._key(bc_id, "lease"))

    # --- the recipient queue -------------------------------------------------------------
    async def reset_queue(self, bc_id: str) -> None:
        await self.redis.delete(self._key(bc_id, "queue"), self._key(bc_id, "later"))

    async def enqueue(self, bc_id: str, phones: list[str]) -> None:
        if phones:
            await self.redis.rpush(self._key(bc_id, "queue"), *phones)

    async def finish_snapshot(self, bc_id: str, total: int, skipped: dict[str, int]) -> None:
        mapping: dict[FieldT, EncodableT] = {"snapshot": "1", "total": total, "cursor": 0}
        mapping.update(skipped.items())
        await self.redis.hset(self._key(bc_id), mapping=mapping)

    async def batch(self, bc_id: str, cursor: int, size: int) -> list[str]:
        items: Any = await self.redis.lrange(self._key(bc_id, "queue"), cursor,
                                             cursor + size - 1)
        return [_s(p) for p in items]

    async def advance(self, bc_id: str, cursor: int) -> None:
        await self.redis.hset(self._key(bc_id), "cursor", cursor)

    async def defer(self, bc_id: str, phone: str, due: float) -> None:
        await self.redis.zadd(self._key(bc_id, "later"), {phone: due})

    async def due(self, bc_id: str, now: float, limit: int) -> list[str]:
        items: Any = await self.redis.zrangebyscore(self._key(bc_id, "later"), "-inf", now,
                                                    start=0, num=limit)
        return [_s(p) for p in items]

    async def undefer(self, bc_id: str, phone: str) -> None:
        await self.redis.zrem(self._key(bc_id, "later"), phone)

    async def next_due(self, bc_id: str) -> float | None:
        first: Any = await self.redis.zrange(self._key(bc_id, "later"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    # --- the frequency cap ---------------------------------------------------------------
    async def take_cap(self, phone: str, month: str, bc_id: str, cap: int) -> str:
        """Count this broadcast against the phone's month: 'new', 'again' or 'full'."""
        return _s(await self._cap(keys=[self.keys.broadcast_cap(phone, month)],
                                  args=[bc_id, cap, CAP_TTL]))

    async def cap_full(self, phone: str, month: str, bc_id: str, cap: int) -> bool:
        """Would `take_cap` answer 'full' (for the dry run; counts nothing)?"""
        key = self.keys.broadcast_cap(phone, month)
        if await self.redis.sismember(key, bc_id):
            return False
        return int(await self.redis.scard(key)) >= cap
