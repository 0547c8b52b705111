"""The Redis client: one server behind a blocking pool, a Redis Cluster, or fakeredis.

`connect_redis` is the one way the bot opens Redis: `REDIS_URL` may name a single server or
any node of a cluster (`REDIS_CLUSTER=true`, or detected from `INFO cluster` when unset).
Every caller then speaks the same commands; keys of one phone share a hash tag, so each
script and each command touches one slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
from typing import TYPE_CHECKING, Any, TypeAlias

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import Connection
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from bot.config import Settings
from bot.redis_packing import packed

if TYPE_CHECKING:
    import fakeredis

RedisClient: TypeAlias = Redis | RedisCluster
"""What the store, the outbox and the worker talk to."""

SOCKET_TIMEOUT = 5.0
#: A peer that vanished without closing (a partition, a dead host) is found by TCP
#: keepalive within about KEEPIDLE + KEEPINTVL * KEEPCNT seconds.
KEEPALIVE = {"TCP_KEEPIDLE": 3, "TCP_KEEPINTVL": 1, "TCP_KEEPCNT": 3}
DETECT_TIMEOUT = 5.0
#: Tries of one command while a cluster changes (a failover): each re-reads the slot map.
CLUSTER_TRIES = 6


def make_redis(settings: Settings, *, fake_server: fakeredis.FakeServer | None = None,
               cluster: bool | None = None) -> RedisClient:
    """A client for `REDIS_URL`, or a fakeredis one when it is unset.

    `cluster` (default `REDIS_CLUSTER`) picks the cluster client; `connect_redis` also
    detects it. The single-server pool blocks (up to `REDIS_POOL_TIMEOUT`) when every
    connection is busy, so a spike queues for Redis instead of failing.

    No per-command socket timeout: redis-py arms one for every read and wraps every write
    in `asyncio.wait_for` (a new task each on Python 3.11), about an eighth of the server's
    CPU per inbound text under load. Instead a dead peer is found by TCP keepalive, and the
    callers bound whole operations: the webhooks answer 503 after `INBOUND_TIMEOUT` (see
    `webhooks.common`), the readiness probe after 2 s; connecting keeps its timeout.
    """
    if settings.redis_url is None:
        import fakeredis  # noqa: PLC0415 - embedded default only (0.2-0.6 s of a start-up)

        return fakeredis.FakeAsyncRedis(server=fake_server or fakeredis.FakeServer())
    if cluster if cluster is not None else settings.redis_cluster:
        return make_cluster(settings)
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
    # Commands packed by hiredis (`bot.redis_packing`), over TCP, TLS or a unix socket alike.
    pool.connection_class = packed(pool.connection_class)
    return Redis(connection_pool=pool)


def make_cluster(settings: Settings) -> BoundedCluster:
    """The cluster client for `REDIS_URL` (any node: the others are found from it)."""
    assert settings.redis_url is not None
    return BoundedCluster.from_url(  # type: ignore[return-value]
        settings.redis_url,
        slots=settings.redis_pool_size,
        slot_timeout=settings.redis_pool_timeout,
        max_connections=settings.redis_pool_size,  # per node
        socket_timeout=None,
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        socket_keepalive_options=_keepalive_options(),
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), CLUSTER_TRIES),
        require_full_coverage=False,  # slots of a live master answer during a failover
    )


async def connect_redis(settings: Settings) -> RedisClient:
    """`make_redis`, with the cluster detected from `INFO cluster` when `REDIS_CLUSTER` is
    unset (a single server answers `cluster_enabled:0`). A cluster client reads the slot
    map now, so the first texts do not each wait for it."""
    if settings.redis_url is None or settings.redis_cluster is False:
        return make_redis(settings, cluster=False)
    cluster: bool | None = settings.redis_cluster
    if cluster is None:
        cluster = await is_cluster(settings.redis_url)
    client = make_redis(settings, cluster=cluster)
    if isinstance(client, RedisCluster):
        with contextlib.suppress(Exception):  # a cluster still down shows in /readyz
            async with asyncio.timeout(DETECT_TIMEOUT):
                await client.initialize()
    return client


async def is_cluster(url: str) -> bool:
    """Whether the server at `url` runs in cluster mode (False when it cannot tell)."""
    probe: Redis = Redis.from_url(url, socket_timeout=DETECT_TIMEOUT,
                                  socket_connect_timeout=DETECT_TIMEOUT)
    try:
        async with asyncio.timeout(DETECT_TIMEOUT):
            info = await probe.info("cluster")
    except Exception:  # noqa: BLE001 - not reachable now: the single client will say so
        return False
    finally:
        await probe.aclose()
    return bool(int(info.get("cluster_enabled", 0)))


_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("holding_redis_slot",
                                                                default=False)


class BoundedCluster(RedisCluster):
    """The cluster client, with callers queueing for one of `slots` turns (at most
    `slot_timeout` seconds, then a connection error: 503) instead of failing at once.

    redis-py's cluster client raises as soon as a node's connections are all busy; the
    single-server pool waits instead. With at most `slots` commands or pipelines in flight
    and `slots` connections per node, no node ever runs out."""

    def __init__(self, *args: Any, slots: int = 64, slot_timeout: float = 5.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every node's connections pack with hiredis (see `bot.redis_packing`): the nodes
        # known now, and those the slot map adds later (made from `connection_kwargs`).
        self.connection_kwargs["connection_class"] = packed(
            self.connection_kwargs.get("connection_class", Connection))
        for node in self.startup_nodes:
            node.connection_class = packed(node.connection_class)
        self._turns = asyncio.Semaphore(slots)
        self._turn_timeout = slot_timeout

    @contextlib.asynccontextmanager
    async def turn(self) -> Any:
        """One turn for this task (re-entrant: a pipeline's redirected commands reuse it)."""
        if _holding.get():
            yield
            return
        try:
            async with asyncio.timeout(self._turn_timeout):
                await self._turns.acquire()
        except TimeoutError as exc:
            raise RedisConnectionError("every Redis connection stayed busy") from exc
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None,
                 shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)
        return _BoundedPipeline(self, transaction)  # type: ignore[abstract]


class _BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that takes one turn of its client for the whole round trip
    (one connection per node it touches, all in parallel)."""

    cluster_client: BoundedCluster

    async def execute(self, raise_on_error: bool = True,
                      allow_redirections: bool = True) -> list[Any]:
        async with self.cluster_client.turn():
            return await super().execute(raise_on_error, allow_redirections)


def _keepalive_options() -> dict[int, int]:
    """The keepalive timings this platform knows how to set (Linux knows all three)."""
    return {getattr(socket, name): value for name, value in KEEPALIVE.items()
            if hasattr(socket, name)}


WARM_CONNECTIONS = 16
WARM_TIMEOUT = 5.0


async def warm_up(redis: RedisClient, connections: int = WARM_CONNECTIONS) -> None:
    """Open pool connections now, so a spike's first texts do not each pay for a connect
    (a TCP handshake and the client's set-up commands). Best effort, bounded in time: a
    Redis that is down shows in /readyz, not here."""
    pool = getattr(redis, "connection_pool", None)
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
