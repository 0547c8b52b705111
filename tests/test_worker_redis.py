"""The worker against Redis failing: outages are retried (never dead letters), lost consumer
groups come back, finished entries are acknowledged at once, dead consumers go away."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.models import Inbound
from bot.redis_conn import redis_lost_group, redis_unavailable
from bot.retry import RetryPolicy
from bot.runtime import Runtime
from bot.sms import MemorySender
from bot.store import Keys
from bot.store.keys import GROUP
from tests.conftest import drop_prefix
from tests.test_worker import FlakySender, inbound, outbox_empty, run_until, runtime_on

PHONE = "+15555550100"


@pytest.mark.parametrize(("error", "unavailable"), [
    (redis_errors.ConnectionError("Connection reset by peer"), True),
    (redis_errors.TimeoutError("Timeout reading from socket"), True),
    (redis_errors.BusyLoadingError("Redis is loading the dataset in memory"), True),
    (redis_errors.ReadOnlyError("You can't write against a read only replica."), True),
    (redis_errors.TryAgainError("TRYAGAIN"), True),
    (redis_errors.MaxConnectionsError("Too many connections"), True),
    (redis_errors.AuthenticationError("invalid password"), False),
    (redis_errors.ResponseError("WRONGTYPE Operation against a key"), False),
    (ValueError("x"), False),
])
def test_which_redis_errors_mean_try_again(error: Exception, unavailable: bool) -> None:
    assert redis_unavailable(error) is unavailable


def test_nogroup_is_recognised() -> None:
    assert redis_lost_group(redis_errors.ResponseError(
        "NOGROUP No such key 'outbox:{s1}' or consumer group 'workers' in XREADGROUP"))
    assert not redis_lost_group(redis_errors.ResponseError("BUSYGROUP Consumer Group name"))


async def test_redis_outage_in_the_send_path_is_retried_not_dead_lettered(
        fake_redis: Redis) -> None:
    sender = FlakySender([redis_errors.ConnectionError("Connection closed by server."),
                          redis_errors.BusyLoadingError("loading"),
                          redis_errors.TimeoutError("timeout")])
    async with runtime_on(fake_redis, sender=sender) as rt:
        await inbound(rt, "JOIN", "SM1")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=5, base=0.001))
        await run_until(worker, outbox_empty(rt))
        assert len(sender.sent) == 1
        assert await rt.outbox.dead_letters() == []


async def test_redis_down_past_every_try_leaves_the_entry_pending_then_sends(
        fake_redis: Redis) -> None:
    sender = FlakySender([redis_errors.ConnectionError("down")] * 3)
    async with runtime_on(fake_redis, sender=sender, worker_claim_idle_ms=50) as rt:
        await inbound(rt, "JOIN", "SM1")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=2, base=0.001))

        async def sent() -> bool:
            return bool(sender.sent) and await rt.outbox.pending_count() == 0

        await run_until(worker, sent)
        assert len(sender.sent) == 1  # claimed again once Redis answered, sent once
        assert await rt.outbox.dead_letters() == []


async def _text(rt: Runtime, phone: str, sid: str) -> None:
    event = Inbound(provider="twilio", message_id=sid, phone=phone, body="JOIN",
                    received_at=rt.core.clock.now())
    await rt.core.apply(phone, event, dedup=f"twilio:{sid}")


async def test_worker_recreates_its_groups_when_redis_comes_back_empty(
        fake_redis: Redis) -> None:
    sender = MemorySender()
    async with runtime_on(fake_redis, sender=sender) as rt:
        worker = rt.new_worker()
        task = asyncio.create_task(worker.run())
        try:
            await _text(rt, "+15555550101", "SM1")
            async with asyncio.timeout(5):
                while len(sender.sent) < 1:
                    await asyncio.sleep(0.01)
            await fake_redis.flushall()  # a fail-over to an empty node, or a flush
            await _text(rt, "+15555550102", "SM2")
            async with asyncio.timeout(5):
                while len(sender.sent) < 2:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [phone for phone, _ in sender.sent] == ["+15555550101", "+15555550102"]


@dataclass
class GateSender:
    """Holds texts to `held` until the gate opens; records every text."""

    held: str
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[str] = field(default_factory=list)
    name: str = "gate"

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        if phone == self.held:
            await self.gate.wait()
        self.sent.append(phone)
        return idempotency_key


async def test_finished_entries_are_acknowledged_while_dispatch_waits(
        fake_redis: Redis) -> None:
    """One slot: A finishes, B hangs; A is acknowledged meanwhile, and C is not even read
    (read, it would wait for the slot and count a delivery at every crash). Acknowledged
    with the reader's next trip, A stayed pending for as long as B hung, and a kill -9
    then would have sent A twice."""
    a, b, c = "+15555550111", "+15555550112", "+15555550113"
    sender = GateSender(held=b)
    async with runtime_on(fake_redis, sender=sender, worker_concurrency=1,
                          keys=Keys(shards=1)) as rt:
        for sid, phone in enumerate((a, b, c)):
            await _text(rt, phone, f"SM{sid}")
        worker = rt.new_worker()
        task = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(5):
                while True:
                    pending = await fake_redis.xpending(rt.keys.outbox(0), GROUP)
                    if sender.sent == [a] and pending["pending"] == 1:
                        break  # B (running) only: A acknowledged, C still unread
                    await asyncio.sleep(0.005)
            sender.gate.set()
            async with asyncio.timeout(5):
                while await rt.outbox.pending_count():
                    await asyncio.sleep(0.005)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert sender.sent == [a, b, c]


@pytest.fixture
async def redis_and_keys(any_redis: Redis, key_prefix: str) -> object:
    yield any_redis, Keys(prefix=key_prefix, shards=2)
    await drop_prefix(any_redis, key_prefix)


async def test_dead_consumers_are_deleted_once_their_entries_are_claimed(
        redis_and_keys: tuple[Redis, Keys]) -> None:
    redis, keys = redis_and_keys
    sender = MemorySender()
    async with runtime_on(redis, sender=sender, keys=keys, worker_claim_idle_ms=100) as rt:
        await inbound(rt, "JOIN", "SM1")
        shard = rt.keys.shard(PHONE)
        assert len(await rt.outbox.read(shard, "dead-worker", count=10, block_ms=0)) == 1
        survivor = rt.new_worker(consumer="survivor")

        async def gone() -> bool:
            names = set()
            for s in rt.keys.all_shards():
                names |= {str(c["name"], "utf-8") if isinstance(c["name"], bytes)
                          else c["name"] for c in await redis.xinfo_consumers(
                              rt.keys.outbox(s), GROUP)}
            return bool(sender.sent) and "dead-worker" not in names

        await run_until(survivor, gone)
        assert len(sender.sent) == 1


async def test_an_entry_still_running_past_the_claim_time_is_not_run_twice(
        fake_redis: Redis) -> None:
    """A slow effect outlives the claim time: its own worker's claim loop must leave it
    alone (nor count a delivery), and it runs once."""
    sender = GateSender(held=PHONE)
    async with runtime_on(fake_redis, sender=sender, worker_claim_idle_ms=20,
                          keys=Keys(shards=1)) as rt:
        await _text(rt, PHONE, "SM1")
        worker = rt.new_worker()
        task = asyncio.create_task(worker.run())
        stream = rt.keys.outbox(0)
        try:
            async with asyncio.timeout(10):
                while True:  # idle 15 times the claim time, and the claim loop (every
                    # 0.2 s from the worker's start, before the read) ran meanwhile
                    pending = await fake_redis.xpending_range(stream, GROUP, min="-",
                                                              max="+", count=10)
                    if pending and int(pending[0]["time_since_delivered"]) >= 300:
                        break
                    await asyncio.sleep(0.01)
            assert int(pending[0]["times_delivered"]) == 1
            sender.gate.set()
            async with asyncio.timeout(5):
                while await rt.outbox.pending_count() or worker.busy:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert sender.sent == [PHONE]
