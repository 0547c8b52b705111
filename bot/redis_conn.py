"""The Redis client: a real server behind a blocking pool, or the in-process fakeredis."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import fakeredis
from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis

from bot.config import Settings

SOCKET_TIMEOUT = 5.0
#: A peer that vanished without closing (a partition, a dead host) is found by TCP
#: keepalive within about KEEPIDLE + KEEPINTVL * KEEPCNT seconds.
KEEPALIVE = {"TCP_KEEPIDLE": 3, "TCP_KEEPINTVL": 1, "TCP_KEEPCNT": 3}


def make_redis(settings: Settings, *, fake_server: fakeredis.FakeServer | None = None) -> Redis:
    """A client for `REDIS_URL`, or a fakeredis one when it is unset.

    The pool blocks (up to `REDIS_POOL_TIMEOUT`) when every connection is busy, so a spike
    queues for Redis instead of failing because a pool ran out.

    No per-command socket timeout: redis-py arms one for every read and wraps every write
    in `asyncio.wait_for` (a new task each on Python 3.11), about an eighth of the server's
    CPU per inbound text under load. Instead a dead peer is found by TCP keepalive, and the
    callers bound whole operations: the webhooks answer 503 after `INBOUND_TIMEOUT` (see
    `webhooks.common`), the readiness probe after 2 s; connecting keeps its timeout.
    """
    if settings.redis_url is None:
        return fakeredis.FakeAsyncRedis(server=fake_server or fakeredis.FakeServer())
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=settings.redis_pool_timeout,
        socket_timeout=None,
        socket_connect_timeout=SOCKET_TIMEOUT,
        socket_keepalive=True,
        socket_keepalive_options=_keepalive_options(),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


def _keepalive_options() -> dict[int, int]:
    """The keepalive timings this platform knows how to set (Linux knows all three)."""
    return {getattr(socket, name): value for name, value in KEEPALIVE.items()
            if hasattr(socket, name)}


WARM_CONNECTIONS = 16
WARM_TIMEOUT = 5.0


async def warm_up(redis: Redis, connections: int = WARM_CONNECTIONS) -> None:
    """Open pool connections now, so a spike's first texts do not each pay for a connect
    (a TCP handshake and the client's set-up commands). Best effort, bounded in time: a
    Redis that is down shows in /readyz, not here."""
    pool = redis.connection_pool
    if not isinstance(pool, BlockingConnectionPool):
        return
    wanted = min(connections, pool.max_connections)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(WARM_TIMEOUT):
            got = await asyncio.gather(*(pool.get_connection()  # type: ignore[no-untyped-call]
                                         for _ in range(wanted)),
                                       return_exceptions=True)
            for conn in got:
                if not isinstance(conn, BaseException):
                    await pool.release(conn)


#: Redis errors that say "not now" (down, restarting, loading its data, failing over, a
#: full pool), never "this command is wrong": whoever meets one tries again later.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError, redis_errors.TryAgainError, redis_errors.ClusterDownError,
    redis_errors.MasterDownError, redis_errors.MaxConnectionsError,
)
_NOT_TRANSIENT = (redis_errors.AuthenticationError, redis_errors.AuthorizationError)


def redis_unavailable(exc: BaseException) -> bool:
    """True for a Redis outage or fail-over (retry), false for a wrong command or password."""
    return isinstance(exc, REDIS_UNAVAILABLE) and not isinstance(exc, _NOT_TRANSIENT)


def redis_lost_group(exc: BaseException) -> bool:
    """Redis lost the outbox's consumer group (a flushed or brand-new empty server)."""
    # A pipeline wraps the message ("Command # 1 (...) of pipeline caused error: NOGROUP...");
    # fakeredis (the embedded default) words a missing stream its own way.
    text = str(exc)
    return isinstance(exc, redis_errors.ResponseError) and (
        "NOGROUP" in text or "requires the key to exist" in text)
