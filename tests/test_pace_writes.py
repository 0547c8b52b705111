"""One process's requests are bounded where the provider sees them: a request holds its
place in the log from the moment it is let go until a window after it is written to the
socket, so a loop that lags between the two cannot bunch the writes. Time is the test's
clock (no wall-clock sleeps); one test writes through a real aiohttp session on loopback."""

from __future__ import annotations

import asyncio
import random

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot.clock import FrozenClock
from bot.models import Lane
from bot.pace import MARGIN, WINDOW, PaceGate, pace_key, request_trace, request_written
from tests.test_pace import gate
from tests.test_pace_spacing import most_in_window

RATE = 10.0


async def still(seconds: float) -> None:
    """A pace sleep in which time stands still until the test moves the clock."""
    await asyncio.sleep(0)


async def spin(turns: int = 50) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def test_the_window_is_a_second_and_a_small_margin() -> None:
    assert WINDOW == 1.0 + MARGIN and 0 < MARGIN <= 0.1  # the cost: rate / (1 + MARGIN)


async def test_a_place_is_held_until_a_window_after_the_write_not_the_start(
        fake_redis: Redis) -> None:
    clock = FrozenClock()
    g = PaceGate(fake_redis, pace_key("ct"), RATE, clock=clock, burst=100, sleep=still)
    socket_free = asyncio.Event()
    writes: list[float] = []

    async def request(lagging: bool) -> None:
        async with g.sending(await g.acquire(Lane.URGENT)):
            if lagging:
                await socket_free.wait()
            request_written()
            writes.append(clock.now())

    first = [asyncio.create_task(request(True)) for _ in range(10)]
    await spin()
    clock.advance(0.9)  # the loop lagged: they reach the socket 0.9 s after being let go
    socket_free.set()
    await asyncio.wait_for(asyncio.gather(*first), timeout=5)
    later = asyncio.create_task(request(False))
    clock.advance(0.2)  # a second after the first were let go, 0.2 s after their writes
    await spin()
    assert not later.done()  # counting from the start would send 11 within 0.2 s
    clock.advance(g.window - 0.2 + 1e-6)
    await asyncio.wait_for(later, timeout=5)
    assert writes[-1] - writes[0] >= g.window - 1e-9


async def test_writes_stay_within_the_rate_in_any_window_however_late_they_come(
        fake_redis: Redis) -> None:
    """Random lags between the log and the socket (a starved loop, 0-1.5 s) and a bucket
    with a huge burst (a backlog of grants at once): the writes in any window of the
    log's length never exceed the rate."""
    clock = FrozenClock()
    g = gate(fake_redis, clock, RATE, burst=1000)
    rng = random.Random(12)
    writes: list[float] = []

    async def request(lag: float) -> None:
        async with g.sending(await g.acquire(Lane.REPLY)):
            await g._sleep(lag)  # the clock moves on while this one lags
            request_written()
            writes.append(clock.now())

    lags = [rng.choice([0.0, 0.0, 0.01, 0.3, 0.9, 1.5]) for _ in range(120)]
    await asyncio.wait_for(asyncio.gather(*(request(lag) for lag in lags)), timeout=30)
    assert len(writes) == 120 and g.unnoted == 0
    assert most_in_window(writes, g.window) <= RATE


async def test_a_request_with_no_write_noted_holds_its_place_until_after_its_end(
        fake_redis: Redis) -> None:
    """A sender outside the traced session (nothing notes its write): its request counts
    until a window after it ended, which is never sooner than its write."""
    clock = FrozenClock()
    g = PaceGate(fake_redis, pace_key("ct"), 1, clock=clock, burst=10, sleep=still)
    async with g.sending(await g.acquire(Lane.URGENT)):
        clock.advance(0.5)  # the request took half a second
    assert g.unnoted == 1
    waiting = asyncio.create_task(g.acquire(Lane.URGENT))
    clock.advance(g.window - 0.5)  # a window after the start: still held
    await spin()
    assert not waiting.done()
    clock.advance(0.5 + 1e-6)
    await asyncio.wait_for(waiting, timeout=5)


async def test_the_session_trace_notes_the_write_of_a_real_request(
        fake_redis: Redis, aiohttp_server: object) -> None:
    """Through aiohttp on loopback: the trace finds the sending request (the body's writer
    task inherits its context), and requests outside any `sending` are not noted."""
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/send", ok)
    server = await aiohttp_server(app)  # type: ignore[operator]
    clock = FrozenClock()
    g = PaceGate(fake_redis, pace_key("ct"), RATE, clock=clock, burst=100, sleep=still)
    url = f"http://127.0.0.1:{server.port}/send"
    async with aiohttp.ClientSession(trace_configs=[request_trace()]) as session:
        async with session.post(url, data=b"outside") as resp:
            assert resp.status == 200
        for _ in range(3):
            async with (g.sending(await g.acquire(Lane.URGENT)),
                        session.post(url, data=b"To=%2B15555550100&Body=hi") as resp):
                assert await resp.text() == "ok"
    assert g.unnoted == 0
    assert len(g._recent) == 3 and g._writing == 0
