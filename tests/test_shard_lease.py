"""Shard leases: each outbox shard has one reader at a time, workers split the shards
evenly, a lapsed or taken lease is noticed, and a released shard is free for another."""

from __future__ import annotations

import fakeredis
import pytest
from redis.asyncio import Redis

from bot.shard_lease import ShardLeases
from bot.store import Keys

KEYS = Keys(prefix="lease", shards=8)


@pytest.fixture
def redis() -> Redis:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


async def test_two_workers_split_the_shards_without_overlap(redis: Redis) -> None:
    a, b = ShardLeases(redis, KEYS, "a"), ShardLeases(redis, KEYS, "b")
    await a.heartbeat()
    assert await a.acquire(a.share(1)) and a.owned == set(KEYS.all_shards())
    assert await b.heartbeat() == 2
    assert await b.acquire(b.share(2)) == []  # all held: b waits for a to hand some back
    await a.release(sorted(a.owned)[a.share(2):])
    taken = await b.acquire(b.share(2))
    assert len(taken) == 4 and len(a.owned) == 4
    assert a.owned.isdisjoint(b.owned) and a.owned | b.owned == set(KEYS.all_shards())
    for shard in KEYS.all_shards():
        holder = await redis.get(KEYS.lease(shard))
        assert holder == (b"a" if shard in a.owned else b"b")


async def test_a_lease_taken_by_another_is_lost_on_renewal(redis: Redis) -> None:
    a = ShardLeases(redis, KEYS, "a")
    await a.acquire(2)
    stolen = min(a.owned)
    await redis.set(KEYS.lease(stolen), "b", px=10_000)  # a's lease lapsed, b took it
    assert await a.renew() == {stolen}
    assert stolen not in a.owned and len(a.owned) == 1


async def test_renewal_extends_only_our_own_leases(redis: Redis) -> None:
    a = ShardLeases(redis, KEYS, "a", ttl_ms=5_000)
    [shard] = await a.acquire(1)
    await redis.pexpire(KEYS.lease(shard), 100)
    assert await a.renew() == set()
    assert await redis.pttl(KEYS.lease(shard)) > 4_000


async def test_leaving_frees_every_shard_and_the_roll(redis: Redis) -> None:
    a, b = ShardLeases(redis, KEYS, "a"), ShardLeases(redis, KEYS, "b")
    await a.heartbeat()
    await b.heartbeat()
    await a.acquire(8)
    await a.leave()
    assert a.owned == set() and await b.heartbeat() == 1
    assert len(await b.acquire(8)) == 8


def test_share_rounds_up_so_every_shard_has_a_reader() -> None:
    leases = ShardLeases(fakeredis.FakeAsyncRedis(), Keys(shards=48), "x")
    assert [leases.share(n) for n in (1, 2, 3, 5, 48, 60)] == [48, 24, 16, 10, 1, 1]
