"""The verification-code budget: the texts that cost the most when pumped.

Per phone, at most `per_hour` codes an hour and `per_day` a day; for everyone together at
most `per_minute` a minute, past which a breaker pauses every code send for a while (so a
forged or scripted burst cannot run up the SMS bill, as Twilio Verify and TeleSign do).
"""

from __future__ import annotations

from enum import StrEnum

from bot.redis_conn import RedisClient
from bot.store.keys import Keys

#: Count one code for one phone if both windows allow it. KEYS: hour, day (one hash tag).
#: ARGV: per_hour, per_day. 0: counted; 1: hour full; 2: day full (nothing counted).
TAKE_PHONE = """
local h = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
if h >= tonumber(ARGV[1]) then return 1 end
if d >= tonumber(ARGV[2]) then return 2 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], 3600) end
if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], 86400) end
return 0
"""


class CodeVerdict(StrEnum):
    """May a code go out now?"""

    OK = "ok"
    PHONE_HOUR = "phone_hour"
    PHONE_DAY = "phone_day"
    PAUSED = "paused"


class CodeBudget:
    """Counts codes in Redis; `take` before every code send."""

    def __init__(self, redis: RedisClient, keys: Keys, *, per_hour: int, per_day: int,
                 per_minute: int, pause_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.per_hour, self.per_day = per_hour, per_day
        self.per_minute, self.pause_seconds = per_minute, pause_seconds
        self._take_phone = redis.register_script(TAKE_PHONE)

    async def take(self, phone: str, now: float) -> tuple[CodeVerdict, bool]:
        """Count one code for `phone`, or say why not; the flag is True when this call
        tripped the breaker (the caller logs and counts that once)."""
        if await self.redis.exists(self.keys.codes_paused()):
            return CodeVerdict.PAUSED, False
        hour, day = int(now // 3600), int(now // 86400)
        verdict = int(await self._take_phone(
            keys=[self.keys.codes(phone, "h", hour), self.keys.codes(phone, "d", day)],
            args=[self.per_hour, self.per_day]))
        if verdict:
            return (CodeVerdict.PHONE_HOUR if verdict == 1 else CodeVerdict.PHONE_DAY), False
        total_key = self.keys.codes_total(int(now // 60))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(total_key)
            pipe.expire(total_key, 120)
            total = int((await pipe.execute())[0])
        if total <= self.per_minute:
            return CodeVerdict.OK, False
        tripped = bool(await self.redis.set(self.keys.codes_paused(), "1",
                                            ex=self.pause_seconds, nx=True))
        return CodeVerdict.PAUSED, tripped
