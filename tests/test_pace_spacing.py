"""Sends leave at the pace, not in bunches: the bucket holds a fifth of a second's tokens,
a grant that waited too long for its sender is exchanged, and one process's sends in any
second stay within the rate. Time is the test's clock: nothing here sleeps on the wall
clock."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bot.clock import FrozenClock
from bot.models import Lane
from bot.pace import Grant, PaceGate, bucket_burst, pace_key
from tests.test_pace import gate

RATE = 100.0


def most_in_window(times: list[float], seconds: float) -> int:
    """The most sends in any window of `seconds` (starting at a send: every alignment)."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + seconds) for i, start in enumerate(times))


def most_in_one_second(times: list[float]) -> int:
    return most_in_window(times, 1.0)


async def send_times(g: PaceGate, clock: FrozenClock, texts: int,
                     lane: Lane = Lane.REPLY) -> list[float]:
    """When each of `texts` sends, all waiting at once, would make its request."""
    times: list[float] = []

    async def one() -> None:
        async with g.sending(await g.acquire(lane)):
            times.append(clock.now())

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(texts))), timeout=30)
    return times


def test_the_bucket_holds_a_fifth_of_a_second_not_a_whole_second() -> None:
    assert bucket_burst(100) == 20 and bucket_burst(1000) == 200
    assert bucket_burst(1) == 2  # a lane with a reserve still finds a whole token


async def test_a_rested_bucket_grants_its_small_burst_at_once(fake_redis: Redis) -> None:
    g = gate(fake_redis, FrozenClock(), RATE)
    assert (await g.take(Lane.URGENT, 1000))[0] == 20  # a full second's worth was 100


async def test_a_backlog_of_sends_leaves_spread_over_each_second(fake_redis: Redis) -> None:
    clock = FrozenClock()
    g = gate(fake_redis, clock, RATE)
    times = sorted(await send_times(g, clock, 250))
    assert most_in_one_second(times) <= RATE  # the full bucket does not go at once
    assert most_in_window(times, 0.2) <= 20 + 20 + 1  # nor a second's worth in a fifth of one
    assert times[-1] - times[0] >= (250 - 20) / RATE - 1e-6  # the rate held overall


async def test_granted_sends_never_exceed_the_rate_in_any_second(fake_redis: Redis) -> None:
    """However many grants a process holds at once (here a bucket with a huge burst hands
    out 250 together, as a starved event loop releases a backlog), its sends in any
    1-second window stay within the rate."""
    clock = FrozenClock()
    g = gate(fake_redis, clock, RATE, burst=1000)
    times = sorted(await send_times(g, clock, 250))
    assert most_in_one_second(times) == RATE
    assert times[-1] - times[0] >= 2.0  # 250 at 100 a second: three windows


async def test_a_grant_that_waited_too_long_is_exchanged_for_a_fresh_one(
        fake_redis: Redis) -> None:
    clock = FrozenClock()
    g = gate(fake_redis, clock, RATE)
    grant = await g.acquire(Lane.REPLY)
    async with g.sending(grant) as sent:
        assert sent == grant and g.regranted == 0  # fresh: goes as it is
    late = await g.acquire(Lane.REPLY)
    clock.advance(g.stale_after + 0.01)  # its sender's process stalled meanwhile
    async with g.sending(late) as fresh:
        pass
    assert g.regranted == 1 and fresh.at > late.at and fresh.seq == late.seq
    assert g.granted[Lane.REPLY] == 3  # the stale token is spent, not given back


async def test_a_sender_back_from_a_stall_does_not_send_its_backlog_at_once(
        fake_redis: Redis) -> None:
    clock = FrozenClock()
    g = gate(fake_redis, clock, RATE)
    grants = [await g.acquire(Lane.REPLY) for _ in range(150)]  # granted at the pace
    clock.advance(5.0)  # the process stalled with all of them in hand
    times: list[float] = []

    async def send(grant: Grant) -> None:
        async with g.sending(grant):
            times.append(clock.now())

    await asyncio.wait_for(asyncio.gather(*(send(grant) for grant in grants)), timeout=30)
    assert g.regranted == 150  # stale: each waited for a fresh token
    assert most_in_one_second(times) <= RATE
    assert most_in_window(sorted(times), 0.2) <= 20 + 20 + 1


async def test_no_token_is_taken_while_the_last_second_is_full(fake_redis: Redis) -> None:
    """Ten requests written at rate 10: the next token is not even taken from the shared
    bucket (another worker may use it) until the first write is a window old."""
    clock = FrozenClock()

    async def turn(seconds: float) -> None:  # time stands still until the test moves it
        await asyncio.sleep(0)

    g = PaceGate(fake_redis, pace_key("ct"), 10, clock=clock, burst=100, sleep=turn)
    for _ in range(10):
        async with g.sending(await g.acquire(Lane.URGENT)):
            pass
    waiting = asyncio.create_task(g.acquire(Lane.URGENT))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not waiting.done() and g.granted[Lane.URGENT] == 10
    clock.advance(1.0)  # a second: the margin still holds them
    for _ in range(50):
        await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(g.window - 1.0 + 1e-6)
    await asyncio.wait_for(waiting, timeout=5)
    assert g.granted[Lane.URGENT] == 11
