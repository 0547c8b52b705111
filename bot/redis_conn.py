"""The Redis client: a real server behind a blocking pool, or the in-process fakeredis."""

from __future__ import annotations

import fakeredis
from redis.asyncio import BlockingConnectionPool, Redis

from bot.config import Settings

SOCKET_TIMEOUT = 5.0


def make_redis(settings: Settings, *, fake_server: fakeredis.FakeServer | None = None) -> Redis:
    """A client for `REDIS_URL`, or a fakeredis one when it is unset.

    The pool blocks (up to `REDIS_POOL_TIMEOUT`) when every connection is busy, so a spike
    queues for Redis instead of failing because a pool ran out.
    """
    if settings.redis_url is None:
        return fakeredis.FakeAsyncRedis(server=fake_server or fakeredis.FakeServer())
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=settings.redis_pool_timeout,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)
