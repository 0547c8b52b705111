"""Verification codes are bounded per phone and in total (with a breaker), end to end."""

from __future__ import annotations

import re
from typing import Any

from redis.asyncio import Redis

from bot.store import Keys
from bot.store.codes import CodeBudget, CodeVerdict
from tests.test_advocacy import Voter, start, walk_to_code

NOW = 1_764_000_000.0
LIMITED = "Sorry, we cannot send you a code right now. Please try again later."


async def test_per_phone_hour_and_day_limits(fake_redis: Redis) -> None:
    budget = CodeBudget(fake_redis, Keys(), per_hour=2, per_day=3, per_minute=100,
                        pause_seconds=60)
    phone = "+15555550100"
    verdicts = [(await budget.take(phone, NOW))[0] for _ in range(3)]
    assert verdicts == [CodeVerdict.OK, CodeVerdict.OK, CodeVerdict.PHONE_HOUR]
    next_hour = [(await budget.take(phone, NOW + 3600))[0] for _ in range(2)]
    assert next_hour == [CodeVerdict.OK, CodeVerdict.PHONE_DAY]
    assert (await budget.take("+15555550101", NOW))[0] is CodeVerdict.OK  # per phone


async def test_total_per_minute_trips_the_breaker_once(fake_redis: Redis) -> None:
    budget = CodeBudget(fake_redis, Keys(), per_hour=5, per_day=10, per_minute=2,
                        pause_seconds=60)
    got = [await budget.take(f"+1555555010{i}", NOW) for i in range(5)]
    assert [v for v, _ in got] == [CodeVerdict.OK, CodeVerdict.OK, CodeVerdict.PAUSED,
                                   CodeVerdict.PAUSED, CodeVerdict.PAUSED]
    assert [t for _, t in got] == [False, False, True, False, False]
    # Paused for everyone, also in the next minute, until the pause ends.
    assert (await budget.take("+15555550109", NOW + 61))[0] is CodeVerdict.PAUSED


def _codes(texts: list[str]) -> list[str]:
    return re.findall(r"\b\d{6}\b", " ".join(texts))


async def test_a_phone_asking_for_codes_again_and_again_is_stopped(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server,
                                       verify_codes_per_hour=2)
    voter = Voter(bot, client, sandbox)
    await walk_to_code(voter, "local")
    bot.clock.advance(61)
    assert _codes(await voter.says("RESEND"))
    bot.clock.advance(61)
    refused = await voter.says("RESEND")
    assert refused == [LIMITED] and not _codes(refused)
    metrics = bot.runtime.metrics.render().decode()
    assert 'civictext_codes_refused_total{reason="phone_hour"} 1.0' in metrics


async def test_the_breaker_pauses_codes_for_everyone(aiohttp_client: Any,
                                                     aiohttp_server: Any) -> None:
    bot, client, sandbox = await start(aiohttp_client, aiohttp_server,
                                       verify_codes_per_minute=1)
    await walk_to_code(Voter(bot, client, sandbox), "local")
    other = Voter(bot, client, sandbox, phone="+15555550111")
    await other.says("JOIN")
    refused = await other.says("yes")
    assert refused == [LIMITED]
    metrics = bot.runtime.metrics.render().decode()
    assert "civictext_code_breaker_trips_total 1.0" in metrics
    assert 'civictext_codes_refused_total{reason="paused"} 1.0' in metrics
