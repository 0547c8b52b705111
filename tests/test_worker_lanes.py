"""The worker's lanes at a rally: an urgent entry (a HELP answer) committed behind more
waiting replies than the worker may keep waiting for the pace is still read at once and sent
first, on fakeredis and on a real Redis server."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest
from redis.asyncio import Redis

from bot.clock import FrozenClock
from bot.models import Inbound, Lane
from bot.pace import PaceGate, pace_key
from bot.redis_conn import RedisClient
from bot.runtime import Runtime
from bot.sms import MemorySender
from bot.store import Keys
from tests.conftest import drop_prefix
from tests.test_worker import runtime_on

BACKLOG = 3  # texts the worker keeps waiting for the pace (`PACED_BACKLOG`, made small)
JOINS = 12  # opt-in replies committed before the HELP: more than slots + BACKLOG


async def text(rt: Runtime, phone: str, body: str, sid: str) -> None:
    await rt.core.apply(phone, Inbound(provider="twilio", message_id=sid, phone=phone,
                                       body=body, received_at=0.0), dedup=f"twilio:{sid}")


async def urgent_goes_first_past_a_full_backlog(redis: RedisClient, keys: Keys) -> None:
    sender = MemorySender()
    async with runtime_on(redis, sender=sender, keys=keys, worker_concurrency=2) as rt:
        for n in range(JOINS):
            await text(rt, f"+155555501{n:02d}", "JOIN", f"SMr{n}")
        clock = FrozenClock()
        tokens = asyncio.Event()  # no token comes until the HELP is committed

        async def sleep(seconds: float) -> None:  # then a token a second
            if tokens.is_set():
                clock.advance(seconds)
            # Real time only until the first send: the backlog's drain after it is moot.
            await asyncio.sleep(0 if sender.sent else 0.02)

        pace = PaceGate(redis, pace_key(keys.prefix), 1, clock=clock, sleep=sleep)
        await pace.take(Lane.URGENT, 10)  # the bucket starts empty: everyone must wait
        worker = rt.new_worker(pace=pace, paced_backlog=BACKLOG)
        task = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(10):
                while pace.waiting < 2 + BACKLOG:  # two slots, then the backlog is full
                    await asyncio.sleep(0.01)
                full = pace.waiting
                while True:  # the reader goes on, and reads no more replies: it settles
                    await asyncio.sleep(0.1)
                    if pace.waiting == full:
                        break
                    full = pace.waiting
                # (a read may run over by one entry a shard; a busy machine may let it)
                assert full <= 2 + BACKLOG + keys.shards and full < JOINS
                helper = "+15555550188"
                await text(rt, helper, "HELP", "SMhelp")  # committed behind the backlog
                tokens.set()
                while not sender.sent:
                    await asyncio.sleep(0.01)
        finally:
            worker.stop()
            await task
        # Read within a read pause and sent first. With one outbox stream, the reader
        # stopped at the backlog and the HELP waited until replies ahead of it were sent.
        assert sender.sent[0][0] == helper
        assert pace.granted[Lane.URGENT] == 1


async def test_urgent_entry_behind_a_full_backlog_is_sent_first_fakeredis() -> None:
    await urgent_goes_first_past_a_full_backlog(
        fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), Keys(shards=4))


@pytest.mark.integration
async def test_urgent_entry_behind_a_full_backlog_is_sent_first_real_redis(
        real_redis: Redis, key_prefix: str) -> None:
    try:
        await urgent_goes_first_past_a_full_backlog(real_redis, Keys(prefix=key_prefix,
                                                                     shards=4))
    finally:
        await drop_prefix(real_redis, key_prefix)
