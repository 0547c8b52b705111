"""Delivery records: each sent text's provider id and its final status, and daily counts.

The sender records a text when the provider accepts it; the provider's status callback
(Twilio, TeleSign) settles it. A final status (delivered, failed) is counted once per text,
per day and in all-time totals, with failures also counted per error code. The record and
its counters share a hash tag (from the message id), so one script updates both.

Quorum's statuses are integers whose meanings Quorum does not publish (REFERENCE 4.3): they
are stored as they come (`quorum-<n>`), never counted as delivered or failed, and counted
apart (`quorum:<n>`: texts seen in that status) so staff see them as "unknown status n".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.funnel import day_of
from bot.redis_conn import RedisClient
from bot.store.keys import Keys
from bot.store.scriptcalls import AutoPipeline

RECORD_TTL = 3 * 24 * 3600  # final statuses come within hours; a record costs ~150 B
COUNTS_TTL = 400 * 24 * 3600
FINAL = ("delivered", "failed")
QUORUM = "quorum:"
"""Prefix of the counts of texts per Quorum status (`quorum:<n>`; meanings unpublished)."""

#: Counts a settled text once (KEYS[1] record, KEYS[2] day counts, KEYS[3] totals), and
#: only a text this bot sent (its record has `sent_at`): a callback for anything else
#: (a TeleSign Verify code, a text from before the ledger) is kept but not counted.
_SETTLE = """
local function settle(counts_ttl)
  local r = redis.call('HMGET', KEYS[1], 'status', 'error', 'sent_at', 'counted')
  local status = r[1]
  if (status ~= 'delivered' and status ~= 'failed') or not r[3] or r[4] then return 0 end
  redis.call('HSET', KEYS[1], 'counted', '1')
  redis.call('HINCRBY', KEYS[2], status, 1)
  redis.call('HINCRBY', KEYS[3], status, 1)
  if status == 'failed' then
    local code = r[2] or 'unknown'
    redis.call('HINCRBY', KEYS[2], 'failed:' .. code, 1)
    redis.call('HINCRBY', KEYS[3], 'failed:' .. code, 1)
  end
  redis.call('EXPIRE', KEYS[2], counts_ttl)
  return 1
end
"""

#: KEYS: record, day counts, total counts. ARGV: provider, effect id, phone, at, ttl,
#: counts ttl. A callback may beat the record: its status is kept, and counted now.
RECORD_SENT = _SETTLE + """
redis.call('HSET', KEYS[1], 'provider', ARGV[1], 'effect', ARGV[2], 'phone', ARGV[3],
           'sent_at', ARGV[4])
redis.call('HSETNX', KEYS[1], 'status', 'sent')
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HINCRBY', KEYS[2], 'sent', 1)
redis.call('HINCRBY', KEYS[3], 'sent', 1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
settle(ARGV[6])
return 1
"""

#: KEYS: record, day counts, total counts. ARGV: status, error code, at, ttl, counts ttl.
#: Answers 1 when this callback settled the text (counted now), else 0. The first final
#: status stands: a later one is ignored. A Quorum status (`quorum-<n>`, meaning unknown)
#: is counted as `quorum:<n>` once per text and status, the first time it is seen.
RECORD_STATUS = _SETTLE + """
local prev = redis.call('HGET', KEYS[1], 'status')
if prev == 'delivered' or prev == 'failed' then return 0 end
if string.sub(ARGV[1], 1, 7) == 'quorum-' and prev ~= ARGV[1]
    and redis.call('HEXISTS', KEYS[1], 'sent_at') == 1 then
  local field = 'quorum:' .. string.sub(ARGV[1], 8)
  redis.call('HINCRBY', KEYS[2], field, 1)
  redis.call('HINCRBY', KEYS[3], field, 1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_at', ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return settle(ARGV[5])
"""


@dataclass(frozen=True)
class Delivery:
    """One sent text as the ledger knows it."""

    provider: str
    message_id: str
    phone: str
    effect_id: str
    status: str
    error: str


class DeliveryLedger:
    """Writes and reads delivery records and counts."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._sent = redis.register_script(RECORD_SENT)
        self._status = redis.register_script(RECORD_STATUS)
        # A record per send, a status per callback: those of one loop turn share a round
        # trip (the worker's concurrent sends, a burst of callbacks).
        self._pipeline = AutoPipeline(redis)

    def _keys(self, provider: str, message_id: str, day: str) -> list[str]:
        k = self.keys
        return [k.delivery(provider, message_id), k.delivery_counts(message_id, day),
                k.delivery_counts(message_id, "total")]

    async def sent(self, provider: str, message_id: str, phone: str, effect_id: str,
                   at: float) -> None:
        """The provider accepted a text under `message_id`."""
        await self._pipeline.call(self._sent, self._keys(provider, message_id, day_of(at)),
                                  [provider, effect_id, phone, at, RECORD_TTL, COUNTS_TTL])

    async def status(self, provider: str, message_id: str, status: str, error: str,
                     at: float) -> bool:
        """A status callback; True when it settled the text (first final status)."""
        settled = await self._pipeline.call(self._status,
                                            self._keys(provider, message_id, day_of(at)),
                                            [status, error, at, RECORD_TTL, COUNTS_TTL])
        return bool(int(settled))

    async def get(self, provider: str, message_id: str) -> Delivery | None:
        raw: Any = await self.redis.hgetall(self.keys.delivery(provider, message_id))
        if not raw:
            return None
        values = {k.decode(): v.decode() for k, v in raw.items()}
        return Delivery(provider=provider, message_id=message_id,
                        phone=values.get("phone", ""), effect_id=values.get("effect", ""),
                        status=values.get("status", ""), error=values.get("error", ""))

    async def counts(self, day: str) -> dict[str, int]:
        """One day's counts (`total`: all time) summed over every shard."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.keys.all_shards():
                pipe.hgetall(self.keys.delivery_counts_of(shard, day))
            replies: list[Any] = await pipe.execute()
        out: dict[str, int] = {}
        for reply in replies:
            for name, value in (reply or {}).items():
                key = name.decode()
                out[key] = out.get(key, 0) + int(value)
        return out


class ExternalIds:
    """Our effect id -> the provider's message id, as a delivery report told us (TeleSign
    reports carry the `external_id` we sent). The one trace of a text whose send was never
    answered: `bot.lookup` reads it to find that send at the provider."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def remember(self, provider: str, external_id: str, message_id: str) -> None:
        await self.redis.set(self.keys.delivery_external(provider, external_id), message_id,
                             ex=RECORD_TTL)

    async def reference_of(self, provider: str, external_id: str) -> str | None:
        raw: Any = await self.redis.get(self.keys.delivery_external(provider, external_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)
