"""On a local Redis Cluster (3 masters, 3 replicas): the worker, a whole conversation through
the webhook, a failover in the middle of one, and WAIT for replicas. The store contract
runs here too (`any_redis` has a cluster case)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis as redis_sync
from aiohttp.test_utils import TestClient
from redis.asyncio.cluster import RedisCluster

from bot.bench.cluster import LocalCluster
from bot.redis_conn import RedisClient, connect_redis, make_cluster
from bot.redis_packing import HiredisPacking
from bot.sms import MemorySender
from bot.store import Keys
from tests.apphelpers import build_bot, new_sid, text
from tests.conftest import CLUSTER_MARKS, cluster_settings, drop_prefix
from tests.test_worker import outbox_empty, run_until, runtime_on

pytestmark = CLUSTER_MARKS

PHONE = "+15555550100"
FAILOVER_BOUND = 20.0  # seconds: node timeout 1 s, election, and the client's slot refresh


def master_port(client: RedisClient, key: str) -> int:
    """The port of the master that holds `key` (by the client's slot map)."""
    assert isinstance(client, RedisCluster)
    node = client.get_node_from_key(key)
    assert node is not None
    return int(node.port)


@pytest.fixture
async def prefixed(cluster_redis: RedisClient, key_prefix: str) -> AsyncIterator[Keys]:
    yield Keys(prefix=key_prefix, shards=4)
    await drop_prefix(cluster_redis, key_prefix)


async def test_cluster_is_detected_from_info_cluster(local_cluster: LocalCluster) -> None:
    settings = cluster_settings(local_cluster).model_copy(update={"redis_cluster": None})
    client = await connect_redis(settings)
    try:
        assert type(client).__name__ == "BoundedCluster"
        assert len(client.get_primaries()) == 3  # type: ignore[union-attr]
        # Every node the slot map found packs its commands with hiredis.
        nodes = client.get_nodes()  # type: ignore[union-attr]
        assert all(issubclass(n.connection_class, HiredisPacking) for n in nodes)
        assert await client.set(f"{PHONE}:packed", "é") and await client.delete(f"{PHONE}:packed")
    finally:
        await client.aclose()


async def test_worker_reads_every_shard_from_its_node(cluster_redis: RedisClient,
                                                      prefixed: Keys) -> None:
    sender = MemorySender()
    phones = [f"+1555555{n:04d}" for n in range(100, 140)]
    assert {prefixed.shard(p) for p in phones} == set(prefixed.all_shards())
    async with runtime_on(cluster_redis, sender=sender, keys=prefixed) as rt:
        masters = {rt.redis.get_node_from_key(prefixed.outbox(s)).name  # type: ignore[union-attr]
                   for s in prefixed.all_shards()}
        assert len(masters) > 1  # the shards live on more than one master
        for n, phone in enumerate(phones):
            await rt.core.apply(phone, _join(rt, phone), dedup=f"twilio:SM{n}")
        await run_until(rt.new_worker(), outbox_empty(rt), timeout=15)
    assert sorted(p for p, _ in sender.sent) == sorted(phones)


def _join(rt: Any, phone: str) -> Any:
    from bot.models import Inbound
    return Inbound(provider="twilio", message_id=f"m-{phone}", phone=phone, body="JOIN",
                   received_at=rt.core.clock.now())


async def test_conversation_end_to_end_through_the_webhook(
        aiohttp_client: Any, local_cluster: LocalCluster, cluster_redis: RedisClient,
        prefixed: Keys) -> None:
    bot = build_bot(cluster_settings(local_cluster), redis=cluster_redis, keys=prefixed)
    client = await aiohttp_client(bot.app)
    assert (await text(client, "JOIN")).status == 200
    await bot.runtime.settle(timeout=15)
    assert (await text(client, "yes")).status == 200
    await bot.runtime.settle(timeout=15)
    texts = bot.texts_to(PHONE)
    assert "Reply YES" in texts[0] and texts[1].startswith("Thanks, you're in!")
    conv = (await bot.runtime.store.load(PHONE)).conversation
    assert conv.texts_in == 2 and conv.flow is None
    assert [c.keyword for c in await bot.runtime.consent.history(PHONE)] == ["OPT-IN:join"]


async def test_master_killed_mid_conversation_503_then_200_without_restart(
        aiohttp_client: Any, local_cluster: LocalCluster, key_prefix: str) -> None:
    """The phone's master dies: texts answer 503 (never 500, never a lost 200) until its
    replica is promoted, then 200 again; the worker sends every reply, nothing restarted."""
    settings = cluster_settings(local_cluster, worker_lease_ms=1000)
    client_redis = make_cluster(settings)
    keys = Keys(prefix=key_prefix, shards=4)
    bot = build_bot(settings, redis=client_redis, keys=keys)
    client = await aiohttp_client(bot.app)
    victim = client_redis.get_node_from_key(keys.conversation(PHONE))
    assert victim is not None
    try:
        assert (await text(client, "JOIN")).status == 200
        await bot.runtime.settle(timeout=15)
        local_cluster.kill_node(int(victim.port))
        killed = time.monotonic()
        statuses = await _text_until_accepted(client, "HELP", FAILOVER_BOUND)
        outage = time.monotonic() - killed
        assert set(statuses) <= {200, 503} and statuses[-1] == 200
        assert outage < FAILOVER_BOUND
        assert (await text(client, "YES")).status == 200
        await bot.runtime.settle(timeout=20)
        texts = bot.texts_to(PHONE)
        assert "Reply YES" in texts[0] and "HELP" not in texts[-1][:4]
        assert texts[-1].startswith("Thanks, you're in!")
        conv = (await bot.runtime.store.load(PHONE)).conversation
        assert conv.texts_in == 3  # JOIN, HELP (once, however often it was retried), YES
    finally:
        local_cluster.start_node(int(victim.port))  # it comes back as a replica
        local_cluster.wait_ready()
        await drop_prefix(client_redis, key_prefix)
        await client_redis.aclose()


async def _text_until_accepted(client: TestClient[Any, Any], body: str,
                               bound: float) -> list[int]:
    """Post one text as a provider does: the same message id again after each 503."""
    sid, statuses = new_sid(), []
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        status = (await text(client, body, sid=sid)).status
        statuses.append(status)
        if status != 503:
            break
        await asyncio.sleep(0.2)
    return statuses


async def test_graceful_failover_keeps_the_conversation(
        aiohttp_client: Any, local_cluster: LocalCluster, cluster_redis: RedisClient,
        prefixed: Keys) -> None:
    """`CLUSTER FAILOVER` on the replica: the conversation carries on where it was."""
    bot = build_bot(cluster_settings(local_cluster), redis=cluster_redis, keys=prefixed)
    client = await aiohttp_client(bot.app)
    assert (await text(client, "JOIN")).status == 200
    await bot.runtime.settle(timeout=15)
    replica = local_cluster.replica_of(master_port(cluster_redis, prefixed.conversation(PHONE)))
    with redis_sync.Redis(port=replica, socket_timeout=5) as r:
        assert r.execute_command("CLUSTER", "FAILOVER") in (b"OK", "OK", True)
    local_cluster.wait_ready()
    statuses = await _text_until_accepted(client, "YES", FAILOVER_BOUND)
    assert statuses[-1] == 200
    await bot.runtime.settle(timeout=15)
    assert bot.texts_to(PHONE)[-1].startswith("Thanks, you're in!")
    assert (await bot.runtime.store.load(PHONE)).conversation.texts_in == 2


async def test_wait_replicas_commits_reach_a_replica_before_the_200(
        aiohttp_client: Any, local_cluster: LocalCluster, key_prefix: str) -> None:
    keys = Keys(prefix=key_prefix, shards=4)
    for wanted, status in ((1, 200), (2, 503)):  # each master has one replica
        settings = cluster_settings(local_cluster, redis_wait_replicas=wanted,
                                    redis_wait_timeout_ms=200)
        client_redis = make_cluster(settings)
        phone = f"+1555555010{wanted}"
        bot = build_bot(settings, redis=client_redis, keys=keys)
        client = await aiohttp_client(bot.app)
        try:
            assert (await text(client, "JOIN", phone=phone)).status == status
            master = client_redis.get_node_from_key(keys.conversation(phone))
            assert master is not None
            replica = local_cluster.replica_of(int(master.port))
            with redis_sync.Redis(port=replica, socket_timeout=5) as r:
                r.execute_command("READONLY")
                # Acknowledged means on the replica; 503 means written, not confirmed.
                assert r.exists(keys.conversation(phone)) == 1
        finally:
            await client.close()
            await drop_prefix(client_redis, key_prefix)
            await client_redis.aclose()



async def test_a_batch_of_commits_waits_once_per_node_for_its_replicas(
        local_cluster: LocalCluster, cluster_redis: RedisClient, prefixed: Keys) -> None:
    """Commits of one loop turn share a pipeline per node and one WAIT each: every commit
    is on a replica when its call returns, or the call says it is not."""
    from bot.models import Conversation, Step
    from bot.store import CommitResult, ConversationStore
    from bot.store.scriptcalls import NotReplicated

    convs = [Conversation(phone=f"+1555555{n:04d}") for n in range(160, 190)]
    for replicas, ok in ((1, True), (2, False)):
        store = ConversationStore(cluster_redis, prefixed, ttl=600, wait_replicas=replicas,
                                  wait_timeout_ms=200)
        results = await asyncio.gather(
            *(store.commit(c, Step(conversation=c.model_copy(update={"texts_in": 1})),
                           f"twilio:SM-w{replicas}-{n}") for n, c in enumerate(convs)),
            return_exceptions=True)
        if ok:
            assert results == [CommitResult.OK] * len(convs)
            for conv in convs:  # each one is on its master's replica already
                master = master_port(cluster_redis, prefixed.conversation(conv.phone))
                with redis_sync.Redis(port=local_cluster.replica_of(master)) as r:
                    r.execute_command("READONLY")
                    assert r.exists(prefixed.conversation(conv.phone)) == 1
            convs = [(await store.load(c.phone)).conversation for c in convs]
        else:  # written on the masters, not confirmed: the webhook would answer 503
            assert all(isinstance(r, NotReplicated) for r in results)
            for conv in convs:
                assert (await store.load(conv.phone)).conversation.version == 2


async def test_ready_while_a_replica_is_down(aiohttp_client: Any, local_cluster: LocalCluster,
                                             cluster_redis: RedisClient,
                                             prefixed: Keys) -> None:
    """Readiness asks the cluster (one node, the client's default, replaced when it fails),
    not every node: a dead replica must not take every web process out of the load
    balancer."""
    bot = build_bot(cluster_settings(local_cluster), redis=cluster_redis, keys=prefixed)
    client = await aiohttp_client(bot.app)
    replica = local_cluster.replica_of(local_cluster.masters()[0])
    local_cluster.kill_node(replica)
    try:
        assert (await client.get("/readyz")).status == 200
        assert (await text(client, "JOIN")).status == 200
    finally:
        local_cluster.start_node(replica)
        local_cluster.wait_ready()
