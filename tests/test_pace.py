"""The carrier's pace: one shared bucket, priority lanes, and pushback that slows it."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
from redis.asyncio import Redis

from bot.clock import FrozenClock
from bot.models import Inbound, Lane
from bot.pace import RECOVER_SECONDS, PaceGate, PaceTimeout, ProviderPushback, pace_key
from bot.runtime import Runtime
from bot.sms import MemorySender
from tests.conftest import drop_prefix
from tests.test_worker import FlakySender, inbound, outbox_empty, run_until, runtime_on

PHONE = "+15555550100"


def gate(redis: Redis, clock: FrozenClock, rate: float, prefix: str = "ct",
         **kwargs: Any) -> PaceGate:
    async def sleep(seconds: float) -> None:  # time passes only when a waiter waits
        clock.advance(seconds)
        await asyncio.sleep(0)

    return PaceGate(redis, pace_key(prefix), rate, clock=clock, sleep=sleep, **kwargs)


async def two_workers_never_exceed_the_rate(redis: Redis, prefix: str) -> None:
    clock = FrozenClock()
    a, b = gate(redis, clock, 20, prefix), gate(redis, clock, 20, prefix)
    granted = 0
    for _ in range(100):  # 10 seconds in steps of 0.1 s, both asking for far too much
        granted += (await a.take(Lane.URGENT, 50))[0] + (await b.take(Lane.URGENT, 50))[0]
        clock.advance(0.1)
    assert granted <= 20 * 10 + 20  # the rate over the time, plus one burst
    assert granted >= 20 * 10 - 2


async def test_two_workers_share_one_rate_fakeredis(fake_redis: Redis) -> None:
    await two_workers_never_exceed_the_rate(fake_redis, "ct")


@pytest.mark.integration
async def test_two_workers_share_one_rate_real_redis(real_redis: Redis, key_prefix: str) -> None:
    try:
        await two_workers_never_exceed_the_rate(real_redis, key_prefix)
    finally:
        await drop_prefix(real_redis, key_prefix)


async def test_lanes_leave_a_reserve_for_the_lanes_before_them(fake_redis: Redis) -> None:
    g = gate(fake_redis, FrozenClock(), 10, burst=10)
    assert (await g.take(Lane.BULK, 100))[0] == 5  # leaves half
    assert (await g.take(Lane.REMINDER, 100))[0] == 2  # leaves 3
    assert (await g.take(Lane.REPLY, 100))[0] == 2  # leaves 1
    got, wait = await g.take(Lane.REPLY, 1)
    assert got == 0 and wait > 0
    assert (await g.take(Lane.URGENT, 100))[0] == 1  # a code still goes


async def test_waiting_texts_get_tokens_lowest_lane_first(fake_redis: Redis) -> None:
    clock = FrozenClock()
    g = gate(fake_redis, clock, 1)
    await g.take(Lane.URGENT, 1)  # empty the bucket
    order: list[str] = []

    async def send(name: str, lane: Lane) -> None:
        await g.acquire(lane)
        order.append(name)

    tasks = [asyncio.create_task(send(n, lane)) for n, lane in [
        ("alert", Lane.BULK), ("reminder", Lane.REMINDER), ("reply", Lane.REPLY),
        ("code", Lane.URGENT)]]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert order == ["code", "reply", "reminder", "alert"]
    assert clock.now() - 1_764_000_000.0 >= 3  # one a second: the pace held


async def test_no_token_within_the_bound_is_a_retryable_timeout(fake_redis: Redis) -> None:
    g = PaceGate(fake_redis, pace_key("ct"), 0.01, clock=FrozenClock(), max_wait=0.05)
    assert (await g.take(Lane.URGENT, 10))[0] == 2  # the whole burst
    with pytest.raises(PaceTimeout) as caught:
        await g.acquire(Lane.URGENT)
    assert caught.value.retryable


async def test_pushback_halves_the_rate_then_it_recovers(fake_redis: Redis) -> None:
    clock = FrozenClock()
    g = gate(fake_redis, clock, 10, burst=10)
    await g.slow_down("429")
    assert g.factor == 0.5
    clock.advance(1.0)
    assert (await g.take(Lane.URGENT, 100))[0] == 5  # half the rate for that second
    await g.slow_down("429 again")
    assert g.factor == 0.25
    for _ in range(20):
        clock.advance(RECOVER_SECONDS)
        await g.take(Lane.URGENT, 100)
    assert g.factor == 1.0


async def test_pushback_slows_the_bucket_instead_of_burning_tries() -> None:
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    sender = FlakySender([ProviderPushback("HTTP 429 | code 20429")] * 8)
    async with runtime_on(redis, sender=sender, worker_max_tries=2, sms_rate=1000) as rt:
        assert rt.pace is not None
        assert rt.session.trace_configs  # the pace notes when each text is written
        await inbound(rt, "JOIN", "SM1")
        await run_until(rt.new_worker(), outbox_empty(rt))
        assert len(sender.sent) == 1  # 8 pushbacks, 2 tries allowed: still sent, once
        assert rt.pace.factor < 1
        assert await rt.outbox.dead_letters() == []


async def test_without_a_rate_no_request_is_traced() -> None:
    """The write-time trace costs every upstream request a few signal calls: only a paced
    deployment (SMS_RATE) installs it."""
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    async with runtime_on(redis, sender=MemorySender()) as rt:
        assert rt.pace is None and not rt.session.trace_configs


async def test_a_help_answer_jumps_a_queue_of_replies_waiting_for_the_rate() -> None:
    """The rally: many opt-in replies wait for the carrier's pace; a HELP answer committed
    after all of them still goes out first (the worker keeps reading while texts wait)."""
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    sender = MemorySender()
    async with runtime_on(redis, sender=sender) as rt:
        helper = await ten_joins_then_a_help(rt)
        clock = FrozenClock()
        pace = gate(redis, clock, 1)
        await pace.take(Lane.URGENT, 10)  # the bucket starts empty: everyone must wait
        await run_until(rt.new_worker(pace=pace), lambda: _sent(sender, 11))
        order = [phone for phone, _ in sender.sent]
        assert order[0] == helper  # first, though it was committed last
        assert clock.now() - 1_764_000_000.0 >= 10  # and the rest kept to 1 a second


async def ten_joins_then_a_help(rt: Runtime) -> str:
    """Ten new phones text JOIN, then one more texts HELP; returns the HELP phone."""
    texts = [(f"+155555501{n:02d}", "JOIN") for n in range(10)] + [("+15555550188", "HELP")]
    for n, (phone, body) in enumerate(texts):
        await rt.core.apply(phone, Inbound(provider="twilio", message_id=f"SMj{n}",
                                           phone=phone, body=body, received_at=0.0),
                            dedup=f"twilio:SMj{n}")
    return texts[-1][0]


async def _sent(sender: MemorySender, count: int) -> bool:
    return len(sender.sent) >= count


async def test_a_code_jumps_more_waiting_replies_than_the_worker_has_slots() -> None:
    """Two slots, ten opt-in replies waiting for the pace: the worker reads on past them
    (waiting texts hold no slot), so a HELP answer committed last is read, takes the first
    token and goes at once; and a text with a token never queues for a slot (its token
    would be spent later, bunched with others over the rate)."""
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    sender = MemorySender()
    async with runtime_on(redis, sender=sender, worker_concurrency=2) as rt:
        helper = await ten_joins_then_a_help(rt)
        clock = FrozenClock()

        async def sleep(seconds: float) -> None:  # a token a second, while reading goes on
            clock.advance(seconds)
            # Real time until the HELP went (the reader reads on meanwhile), then none.
            await asyncio.sleep(0.02 if not sender.sent else 0)

        pace = PaceGate(redis, pace_key("ct"), 1, clock=clock, sleep=sleep)
        await pace.take(Lane.URGENT, 10)  # the bucket starts empty
        sent_at: list[float] = []
        send = sender.send

        async def timed(phone: str, body: str, *, idempotency_key: str) -> str:
            sent_at.append(clock.now())
            return await send(phone, body, idempotency_key=idempotency_key)

        sender.send = timed  # type: ignore[method-assign]
        await run_until(rt.new_worker(pace=pace), lambda: _sent(sender, 11))
        assert [phone for phone, _ in sender.sent][0] == helper
        assert len({int(t) for t in sent_at}) == len(sent_at)  # one a second, never two
