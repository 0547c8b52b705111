"""The shard count is part of every key name: keep a deployment from changing it by accident.

A phone's keys (its conversation, its opt-out flag) are tagged with its shard, `crc32(phone)
% shards`. Starting with another `REDIS_SHARDS` would look every phone up under another key:
conversations would restart and, worse, opt-outs would be forgotten. So the first process
writes the count to Redis, and every later one refuses to start with a different one.
"""

from __future__ import annotations

import asyncio

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.store.keys import Keys

log = structlog.get_logger("bot.store")

CHECK_TIMEOUT = 5.0


class ShardCountChanged(RuntimeError):
    """`REDIS_SHARDS` differs from the count this deployment's keys were written with."""


async def check_shard_count(redis: object, keys: Keys) -> None:
    """Record the shard count on first start; refuse a different one later. Redis being down
    now is not fatal (readiness says so); a changed count is."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await redis.set(keys.shard_count(), keys.shards, nx=True)  # type: ignore[attr-defined]
            stored = await redis.get(keys.shard_count())  # type: ignore[attr-defined]
    except (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError) as exc:
        log.warning("shard count not checked: Redis unreachable", error=repr(exc)[:200])
        return
    if stored is not None and int(stored) != keys.shards:
        raise ShardCountChanged(
            f"REDIS_SHARDS={keys.shards} but this Redis holds keys written with "
            f"{int(stored)} shards; set REDIS_SHARDS={int(stored)} (see docs/deploy.md)")
