"""Many processes on one Redis Cluster: two web apps and two workers give the same texts, in
the same order per phone within each lane, as one of each. Each "process" is a runtime of
its own here (its own cluster client, core, caches and worker), sharing nothing but the
cluster."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.bench.cluster import LocalCluster
from bot.clock import RandomIds
from bot.compliance_steps import reply
from bot.config import Settings
from bot.models import Conversation, Lane, SendSms
from bot.redis_conn import make_cluster
from bot.runtime import Runtime, open_runtime
from bot.store import Keys
from tests.apphelpers import new_sid, text
from tests.conftest import CLUSTER_MARKS, cluster_settings, drop_prefix
from webhooks.app import create_app

pytestmark = CLUSTER_MARKS

#: Each phone's texts, in the order the phone sends them (each waits for its 200).
SCRIPT = ["JOIN", "HELP", "YES", "HELP", "JOIN", "NO", "JOIN", "HELP", "YES"]
PHONES = [f"+1555555{n:04d}" for n in range(150, 162)]  # 555-01XX: valid, fictional
SHARDS = 8


@dataclass
class JitterySender:
    """Records texts in the order they reach the provider, after a random pause, so two
    workers racing on one phone would show up as texts out of order."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    name: str = "jittery"

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        await asyncio.sleep(random.uniform(0, 0.004))  # noqa: S311
        self.sent.append((phone, body))
        await asyncio.sleep(random.uniform(0, 0.004))  # noqa: S311
        return idempotency_key

    def texts_to(self, phone: str) -> list[str]:
        return [body for to, body in self.sent if to == phone]


@asynccontextmanager
async def web_process(settings: Settings, keys: Keys) -> AsyncIterator[TestClient[Any, Any]]:
    """A web app with no worker, on a cluster client of its own."""
    redis = make_cluster(settings)

    @asynccontextmanager
    async def factory(s: Settings) -> AsyncIterator[Runtime]:
        async with open_runtime(s, redis=redis, keys=keys) as runtime:
            yield runtime

    app = create_app(settings.model_copy(update={"run_worker": False}), runtime_factory=factory)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await redis.aclose()


@asynccontextmanager
async def worker_process(settings: Settings, keys: Keys,
                         sender: JitterySender) -> AsyncIterator[Runtime]:
    """A worker on a cluster client of its own, running until the block ends."""
    redis = make_cluster(settings)
    async with open_runtime(settings, redis=redis, keys=keys, sender=sender) as runtime:
        task = asyncio.create_task(runtime.new_worker().run())
        try:
            yield runtime
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await redis.aclose()


async def run_deployment(cluster: LocalCluster, prefix: str, webs: int,
                         workers: int) -> tuple[JitterySender, dict[str, Any], set[str]]:
    """Every phone runs SCRIPT through `webs` web apps (round robin) and `workers` workers;
    the texts sent and each phone's stored conversation."""
    settings = cluster_settings(cluster, worker_lease_ms=1000, redis_shards=SHARDS)
    keys = Keys(prefix=prefix, shards=SHARDS)
    sender = JitterySender()
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(web_process(settings, keys))
                   for _ in range(webs)]
        runtimes = [await stack.enter_async_context(worker_process(settings, keys, sender))
                    for _ in range(workers)]
        await _until(lambda: _split(runtimes, workers), "the workers to split the shards")

        async def one_phone(index: int, phone: str) -> None:
            for turn, body in enumerate(SCRIPT):
                client = clients[(index + turn) % webs]
                assert (await text(client, body, phone=phone, sid=new_sid())).status == 200

        await asyncio.gather(*(one_phone(i, p) for i, p in enumerate(PHONES)))
        await _until(lambda: _all_sent(sender), "every reply to be sent")
        await runtimes[0].settle(timeout=20)
        store = runtimes[0].store
        stored = {p: (await store.load(p)).conversation.model_dump(
            include={"state", "flow", "texts_in", "opted_in"}) for p in PHONES}
        urgent = urgent_answers(runtimes[0])
        await drop_prefix(runtimes[0].redis, prefix)
    return sender, stored, urgent


def urgent_answers(rt: Runtime) -> set[str]:
    """The urgent lane's texts these phones can get: the HELP answer of every flow."""
    flows, rules = rt.core.flows, rt.core.rules
    bodies: set[str] = set()
    for name in flows.flows:
        step = reply(flows, Conversation(phone=PHONES[0], flow=name), "help", RandomIds(),
                     rules, "help")
        bodies |= {e.body for e in step.effects
                   if isinstance(e, SendSms) and e.lane == Lane.URGENT}
    assert bodies
    return bodies


async def _split(runtimes: list[Runtime], workers: int) -> bool:
    owned = [w.leases.owned for rt in runtimes for w in rt.workers]
    return (all(owned) and sum(len(o) for o in owned) == SHARDS
            and len(set().union(*owned)) == SHARDS)


async def _all_sent(sender: JitterySender) -> bool:
    return len(sender.sent) >= len(PHONES) * len(SCRIPT)


async def _until(check: Any, what: str, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_two_webs_and_two_workers_match_one_of_each(local_cluster: LocalCluster,
                                                          key_prefix: str) -> None:
    local_cluster.wait_ready()
    one, stored_one, urgent = await run_deployment(local_cluster, f"{key_prefix}-one", 1, 1)
    two, stored_two, _ = await run_deployment(local_cluster, f"{key_prefix}-two", 2, 2)
    assert len(one.sent) == len(two.sent) == len(PHONES) * len(SCRIPT)
    for phone in PHONES:
        # Every phone got the same texts, in the same order within each lane, whichever web
        # took each text and whichever worker sent each reply (a HELP answer, in the urgent
        # lane, may overtake the phone's older reply: `bot.store.lanes`).
        got, want = two.texts_to(phone), one.texts_to(phone)
        assert sorted(got) == sorted(want)
        assert [b for b in got if b not in urgent] == [b for b in want if b not in urgent]
    assert stored_two == stored_one
    assert all(conv["texts_in"] == len(SCRIPT) for conv in stored_one.values())
