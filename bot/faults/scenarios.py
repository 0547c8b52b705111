"""The faults, one function each: break the stack the way production breaks, then count
what the provider (the Twilio sandbox) saw. Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.bench.procs import http_get
from bot.faults.fuzz import Keys, fuzz
from bot.faults.matrix import run_matrix
from bot.faults.stack import Stack
from bot.faults.texts import Posted, phones, tally, text_all
from bot.sandbox import credentials as cred

SETTLE_TIMEOUT = 180.0  # the longest wait for every reply of a scenario to arrive


@dataclass
class Row:
    """One line of the table."""

    fault: str
    result: str
    ok: bool


Scenario = Callable[[Stack, "Scale"], Awaitable[Row | list[Row]]]


@dataclass(frozen=True)
class Scale:
    """How big each scenario is (the issue's figures, or smaller for a quick look)."""

    backlog: int = 2000
    kills: int = 20
    rate_seconds: float = 12.0
    fuzz: int = 10_000
    matrix_phones: int = 4  # phones per row of the upstream fault matrix


def _count(stack: Stack) -> int:
    url = f"http://127.0.0.1:{stack.sandbox_port('twilio')}/_bench/count"
    return int(json.loads(http_get(url, timeout=10))["sends"])


async def _settled(stack: Stack, numbers: list[str], timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until every number got its reply (then 2 s more: late duplicates count too),
    or no new send came for 20 s, or `timeout`."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        sends = await asyncio.to_thread(stack.sends)
        if tally(numbers, sends)[0] == 0:
            await asyncio.sleep(2.0)
            return
        if len(sends) != last:
            last, last_change = len(sends), time.monotonic()
        elif time.monotonic() - last_change > 20:
            return
        await asyncio.sleep(0.5)


def _start(stack: Stack, *, worker: bool = True) -> None:
    stack.start_redis()
    stack.start_sandbox()
    stack.start_web()
    if worker:
        stack.start_worker().wait_line("worker started", timeout=60)


async def worker_kills(stack: Stack, scale: Scale) -> Row:
    """kill -9 the worker `kills` times while it works through a backlog."""
    _start(stack, worker=False)
    numbers = phones(201, scale.backlog)
    posted = await text_all(stack.web_url, numbers, concurrency=64)
    worker = stack.start_worker()
    chance = random.Random(20)  # noqa: S311 - when to kill, reproducibly
    for _ in range(scale.kills):
        # Once the worker works (a send got out since it started), kill it at a moment
        # that has nothing to do with its sends: killing right when a batch reached the
        # provider would catch every one of those sends before its acknowledgement.
        before = await asyncio.to_thread(_count, stack)
        deadline = time.monotonic() + 30
        while (await asyncio.to_thread(_count, stack) <= before
               and time.monotonic() < deadline):
            await asyncio.sleep(0.02)
        await asyncio.sleep(chance.uniform(0.3, 1.5))
        stack.kill9_worker(worker)
        worker = stack.start_worker()
    await _settled(stack, posted.ok)
    lost, dups = tally(posted.ok, stack.sends())
    return Row(f"worker kill -9 x{scale.kills} during a {scale.backlog}-text backlog",
               f"{len(posted.ok)} answered 200; lost {lost}; duplicates {dups} "
               f"({dups / max(1, scale.kills):.1f} a kill; in flight is at most "
               f"WORKER_CONCURRENCY=256)", lost == 0)


async def redis_kill_aof(stack: Stack, scale: Scale) -> Row:
    """kill -9 Redis (AOF, fsync always) under ~100 texts/s, restart it on the same data."""
    stack.appendonly = True
    _start(stack)
    numbers = phones(202, int(100 * scale.rate_seconds))
    texting = asyncio.create_task(text_all(stack.web_url, numbers, rate=100, concurrency=64))
    await asyncio.sleep(scale.rate_seconds / 3)
    stack.kill9_redis()
    killed_at = time.monotonic()
    await asyncio.sleep(1.0)
    stack.start_redis()
    back_at = time.monotonic()
    posted: Posted = await texting
    await _settled(stack, posted.ok)
    lost, dups = tally(posted.ok, stack.sends())
    codes = dict(sorted(posted.counts().items()))
    return Row("Redis kill -9, restarted with AOF, under 100 texts/s",
               f"answers {codes}; Redis down {back_at - killed_at:.1f} s; of "
               f"{len(posted.ok)} answered 200: lost {lost}, duplicates {dups}; "
               "web and worker not restarted", lost == 0 and 200 in codes)


async def redis_replaced(stack: Stack, scale: Scale) -> Row:
    """Redis replaced by an empty one (a fail-over to a fresh node): the worker resumes."""
    _start(stack)
    await text_all(stack.web_url, phones(203, 5))
    await _settled(stack, phones(203, 5))
    stack.kill9_redis()
    stack.start_redis(fresh=True)
    up = time.monotonic()
    before = await asyncio.to_thread(_count, stack)
    posted = await text_all(stack.web_url, phones(206, 1), retry_until=up + 30)
    while await asyncio.to_thread(_count, stack) <= before and time.monotonic() < up + 60:
        await asyncio.sleep(0.05)
    resumed = time.monotonic() - up
    sent = await asyncio.to_thread(_count, stack) > before
    return Row("Redis replaced by an empty one",
               f"first reply {resumed:.2f} s after the new Redis answered "
               f"(webhook {posted.counts().most_common(1)})", sent and resumed <= 5.0)


async def client_pause(stack: Stack, scale: Scale) -> Row:
    """CLIENT PAUSE 8 s on our Redis: every webhook answers within 5.1 s, nothing lost."""
    _start(stack)
    numbers = phones(207, 200)
    # As the provider does, what got a 503 is posted again (same message id) afterwards.
    texting = asyncio.create_task(text_all(stack.web_url, numbers, rate=20, concurrency=200,
                                           retry_until=time.monotonic() + 45))
    await asyncio.sleep(1.0)
    with stack.client() as r:
        r.execute_command("CLIENT", "PAUSE", 8000, "ALL")
    posted = await texting
    slowest = max(posted.seconds)
    await _settled(stack, numbers)
    lost, dups = tally(numbers, stack.sends())
    codes = dict(sorted(posted.counts().items()))
    return Row("CLIENT PAUSE 8 s during 20 texts/s",
               f"slowest answer {slowest:.2f} s (first answers {codes}); after the provider's "
               f"retries lost {lost}, duplicates {dups}", slowest <= 5.1 and lost == 0)


async def fuzzed(stack: Stack, scale: Scale) -> Row:
    """Hypothesis-generated hostile requests on both providers' routes."""
    _start(stack)
    keys = Keys(twilio_token=cred.TWILIO_AUTH_TOKEN,
                telesign_customer_id=cred.TELESIGN_CUSTOMER_ID,
                telesign_api_key=cred.TELESIGN_API_KEY)
    started = time.monotonic()
    report = await asyncio.to_thread(fuzz, "127.0.0.1", stack.ports.web, keys, scale.fuzz,
                                     random_seed=11)
    fives = sum(n for status, n in report.statuses.items() if status >= 500)
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items()))
    return Row(f"{scale.fuzz} fuzzed webhook requests (both providers)",
               f"{statuses}; 5xx {fives}; no answer {len(report.transport_errors)}; "
               f"{time.monotonic() - started:.0f} s", fives == 0 and not report.transport_errors)


async def upstreams(stack: Stack, scale: Scale) -> list[Row]:
    """500, 429 and timeouts of Twilio (texts), TeleSign (Verify codes), WhatCounts and
    Phone2Action (`bot.faults.matrix`)."""
    rows = await run_matrix(stack, ["twilio", "telesign", "whatcounts", "p2a"],
                            scale.matrix_phones, {"SMS_SENDER": "twilio"})
    return [Row(*row) for row in rows]


async def upstreams_quorum(stack: Stack, scale: Scale) -> list[Row]:
    """The same matrix for Quorum, the sender of every text (`SMS_SENDER=quorum`)."""
    rows = await run_matrix(stack, ["quorum"], scale.matrix_phones, {"SMS_SENDER": "quorum"})
    return [Row(*row) for row in rows]


async def upstreams_telesign_sms(stack: Stack, scale: Scale) -> list[Row]:
    """The same matrix for TeleSign Messaging as the sender (`SMS_SENDER=telesign`): an
    unanswered send is found once TeleSign's delivery report names it (`bot.lookup`)."""
    rows = await run_matrix(stack, ["telesign-sms"], scale.matrix_phones,
                            {"SMS_SENDER": "telesign"})
    return [Row(*row) for row in rows]


async def upstreams_wevote(stack: Stack, scale: Scale) -> list[Row]:
    """The same matrix for WeVote, the verification provider that texts its own code
    (`VERIFY_PROVIDER=wevote`): the sign-in code send after YES."""
    rows = await run_matrix(stack, ["wevote"], scale.matrix_phones,
                            {"SMS_SENDER": "twilio", "VERIFY_PROVIDER": "wevote"})
    return [Row(*row) for row in rows]


SCENARIOS: dict[str, Scenario] = {
    "worker-kill": worker_kills,
    "redis-kill-aof": redis_kill_aof,
    "redis-replaced": redis_replaced,
    "client-pause": client_pause,
    "fuzz": fuzzed,
    "upstreams": upstreams,
    "upstreams-quorum": upstreams_quorum,
    "upstreams-telesign-sms": upstreams_telesign_sms,
    "upstreams-wevote": upstreams_wevote,
}
