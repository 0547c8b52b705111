"""The subscriber index: who broadcasts may go to, read back (the commit script writes it).

Small hashes (`Keys.sub_buckets` per shard), `phone -> "flow|lang|campaign|zip|state"`
(`bot.funnel` encodes it; an opted-out phone's last one kept as `~phone`), and a count per
shard: a field of a small shared hash costs far
less memory than a key per subscriber, which keeps an opted-in conversation within the
1 KiB budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bot.funnel import decode_profile
from bot.redis_conn import RedisClient
from bot.store.keys import Keys

#: Prefix of a field that keeps an opted-out phone's last profile (`~+1555...`), so a START
#: rejoins its flow and campaign; never a subscriber, never a broadcast's.
STOPPED = "~"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SubscriberIndex:
    """Reads the per-shard subscriber hashes."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def get(self, phone: str) -> dict[str, str] | None:
        """The phone's profile, or None when it is not subscribed."""
        raw = await self.redis.hget(self.keys.subscribers(phone), phone)
        return None if raw is None else decode_profile(_s(raw))

    async def profiles(self, phones: list[str]) -> list[dict[str, str] | None]:
        """Each phone's profile (None: not subscribed), in one pipelined round trip."""
        if not phones:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for phone in phones:
                pipe.hget(self.keys.subscribers(phone), phone)
            raw: list[Any] = await pipe.execute()
        return [None if r is None else decode_profile(_s(r)) for r in raw]

    async def scan(self) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """Every subscriber with their profile, shard by shard (HSCAN: bounded batches)."""
        for shard in self.keys.all_shards():
            for bucket in self.keys.subscriber_buckets(shard):
                async for phone, raw in self.redis.hscan_iter(bucket, count=500):
                    if not _s(phone).startswith(STOPPED):
                        yield _s(phone), decode_profile(_s(raw))

    async def count(self) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.keys.all_shards():
                pipe.get(self.keys.subscriber_count(shard))
            replies: list[Any] = await pipe.execute()
        return sum(int(r or 0) for r in replies)
