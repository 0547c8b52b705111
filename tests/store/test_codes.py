"""The verification-code budget's contract (bot/store/codes.py), on fakeredis and a real
Redis: per-phone hour and day windows, the shared per-minute breaker, keys that expire."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.store import Keys
from bot.store.codes import CodeBudget, CodeVerdict
from tests.store.conftest import OTHER, PHONE

NOW = 1_764_000_000.0  # on an hour boundary's safe side: NOW + 3600 is the next hour


def budget(redis: Redis, keys: Keys, *, per_minute: int = 100) -> CodeBudget:
    return CodeBudget(redis, keys, per_hour=2, per_day=3, per_minute=per_minute,
                      pause_seconds=60)


async def test_each_phone_has_an_hour_and_a_day_window(any_redis: Redis, keys: Keys) -> None:
    codes = budget(any_redis, keys)
    assert [(await codes.take(PHONE, NOW))[0] for _ in range(3)] == [
        CodeVerdict.OK, CodeVerdict.OK, CodeVerdict.PHONE_HOUR]
    assert [(await codes.take(PHONE, NOW + 3600))[0] for _ in range(2)] == [
        CodeVerdict.OK, CodeVerdict.PHONE_DAY]
    assert (await codes.take(OTHER, NOW))[0] is CodeVerdict.OK
    hour_key = keys.codes(PHONE, "h", int(NOW // 3600))
    assert 0 < await any_redis.ttl(hour_key) <= 3600  # the counts expire with their window
    assert 3600 < await any_redis.ttl(keys.codes(PHONE, "d", int(NOW // 86400))) <= 86400


async def test_the_breaker_trips_once_and_pauses_everyone(any_redis: Redis,
                                                          keys: Keys) -> None:
    codes = budget(any_redis, keys, per_minute=2)
    got = [await codes.take(f"+1555555010{i}", NOW) for i in range(4)]
    assert got == [(CodeVerdict.OK, False), (CodeVerdict.OK, False),
                   (CodeVerdict.PAUSED, True), (CodeVerdict.PAUSED, False)]
    assert (await codes.take(OTHER, NOW + 61))[0] is CodeVerdict.PAUSED
    assert 0 < await any_redis.ttl(keys.codes_paused()) <= 60
