"""Which outbox shards a worker reads: each shard by exactly one worker at a time.

A phone's effects sit in one shard's streams (one per lane class, `bot.store.lanes`), in
order within each. Two workers reading the same stream could each take one of a phone's
entries and send them out of order; one reader per shard cannot. So workers split the
shards through leases in Redis: a live worker holds about `shards / workers` of them,
renews them well within their TTL, hands extras back (after finishing what it took from
them) when another worker joins, and takes over a dead worker's shards when their leases
lapse. Chosen over a per-phone lock, which costs a round trip per entry and still lets a
later entry's lock be taken before an earlier one's.
"""

from __future__ import annotations

import math
import time
import zlib

from bot.redis_conn import RedisClient
from bot.store.keys import Keys
from bot.store.scriptcalls import call_many

LEASE_TTL_MS = 10_000
"""A dead worker's shards are taken over this long after its last renewal."""

#: Renew a lease only if it is still ours. KEYS: lease. ARGV: consumer, ttl ms.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

#: Give a lease back only if it is still ours. KEYS: lease. ARGV: consumer.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ShardLeases:
    """One worker's leases; every call is one pipelined round trip (per cluster node)."""

    def __init__(self, redis: RedisClient, keys: Keys, consumer: str,
                 ttl_ms: int = LEASE_TTL_MS) -> None:
        self.redis = redis
        self.keys = keys
        self.consumer = consumer
        self.ttl_ms = ttl_ms
        self.owned: set[int] = set()
        self._renewed: dict[int, float] = {}  # shard -> when its lease was last extended
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        # Each worker looks at the shards from its own starting point: fewer collisions.
        start = zlib.crc32(consumer.encode()) % keys.shards
        self._order = [(start + i) % keys.shards for i in range(keys.shards)]

    async def heartbeat(self) -> int:
        """Say this worker is alive; how many workers are (this one included)."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.workers(), {self.consumer: now_ms})
            pipe.zremrangebyscore(self.keys.workers(), "-inf", now_ms - self.ttl_ms)
            pipe.zcard(self.keys.workers())
            replies = await pipe.execute()
        return max(1, int(replies[-1]))

    def share(self, workers: int) -> int:
        """How many shards each of `workers` workers should hold."""
        return math.ceil(self.keys.shards / max(1, workers))

    async def renew(self) -> set[int]:
        """Extend every lease still ours; the shards lost leave `owned`: lapsed or taken, or
        not renewable (their node is failing over) for most of a TTL, after which another
        worker may take them."""
        shards = sorted(self.owned)
        calls = [([self.keys.lease(s)], [self.consumer, self.ttl_ms]) for s in shards]
        results = await call_many(self.redis, self._renew, calls)
        now = time.monotonic()
        stale = now - 0.75 * self.ttl_ms / 1000
        lost: set[int] = set()
        for shard, result in zip(shards, results, strict=True):
            if isinstance(result, Exception):
                if self._renewed.get(shard, now) < stale:
                    lost.add(shard)
            elif int(result):
                self._renewed[shard] = now
            else:
                lost.add(shard)
        self.owned -= lost
        for shard in lost:
            self._renewed.pop(shard, None)
        return lost

    async def acquire(self, wanted: int) -> list[int]:
        """Take up to `wanted` free shards; the ones taken."""
        if wanted <= 0:
            return []
        candidates = [s for s in self._order if s not in self.owned]
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in candidates:
                pipe.exists(self.keys.lease(shard))
            held = await pipe.execute()
        free = [s for s, h in zip(candidates, held, strict=True) if not int(h)][:wanted]
        if not free:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in free:
                pipe.set(self.keys.lease(shard), self.consumer, nx=True, px=self.ttl_ms)
            won = await pipe.execute(raise_on_error=False)
        taken = [s for s, ok in zip(free, won, strict=True) if ok is True]
        self.owned.update(taken)
        now = time.monotonic()
        self._renewed.update((s, now) for s in taken)
        return taken

    async def release(self, shards: list[int]) -> None:
        """Give these shards back (the caller finished what it took from them)."""
        calls = [([self.keys.lease(s)], [self.consumer]) for s in shards]
        self.owned.difference_update(shards)
        for shard in shards:
            self._renewed.pop(shard, None)
        if calls:
            await call_many(self.redis, self._release, calls)

    async def leave(self) -> None:
        """Give every shard back and stop counting as a live worker (a clean stop)."""
        await self.release(sorted(self.owned))
        await self.redis.zrem(self.keys.workers(), self.consumer)
