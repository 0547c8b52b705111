"""The outbox worker: at-least-once effects, claims from dead workers, retries, dead letters,
action results fed back, and timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import fakeredis
import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from bot.actions import build_registry
from bot.actions.base import Action, ActionContext, ActionOutcome, ActionRetry, Registry
from bot.clock import FrozenClock, SequentialIds
from bot.models import Inbound
from bot.redis_conn import RedisClient
from bot.retry import RetryPolicy
from bot.runtime import SETTLE_POLL, Runtime, open_runtime
from bot.sms import MemorySender, SendError
from bot.store import Keys
from bot.timer_poll import OnDemand, every
from bot.worker import Worker
from tests.apphelpers import no_pause
from tests.conftest import ROOT, drop_prefix, make_settings

PHONE = "+15555550100"


class LookupParams(BaseModel):
    zip: str


class Lookup(Action[LookupParams]):
    """A test action: fails `fail_first` times with ActionRetry, then finds `count`."""

    name: ClassVar[str] = "lookup"
    Params = LookupParams

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls: list[str] = []

    async def run(self, params: LookupParams, ctx: ActionContext) -> ActionOutcome:
        self.calls.append(ctx.idempotency_key)
        if len(self.calls) <= self.fail_first:
            raise ActionRetry("upstream busy")
        return ActionOutcome(ok=True, data={"count": 2})


@dataclass
class FlakySender:
    """Fails with the given errors first, then records texts."""

    errors: list[Exception]
    sent: list[tuple[str, str]] = field(default_factory=list)
    name: str = "flaky"

    async def send(self, phone: str, body: str, *, idempotency_key: str) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((phone, body))
        return idempotency_key


@asynccontextmanager
async def runtime_on(redis: RedisClient, *, sender: Any, registry: Registry | None = None,
                     clock: FrozenClock | None = None, keys: Keys | None = None,
                     **overrides: Any) -> AsyncIterator[Runtime]:
    if registry is not None:  # the demo flow needs the test's `lookup` action
        overrides.setdefault("flow_path", ROOT / "tests" / "flows")
    settings = make_settings(**overrides)
    async with open_runtime(settings, redis=redis, sender=sender, clock=clock or FrozenClock(),
                            ids=SequentialIds(), keys=keys or Keys(shards=4),
                            registry=registry) as runtime:
        await runtime.outbox.ensure_groups()
        yield runtime


async def inbound(runtime: Runtime, body: str, sid: str) -> None:
    event = Inbound(provider="twilio", message_id=sid, phone=PHONE, body=body,
                    received_at=runtime.core.clock.now())
    await runtime.core.apply(PHONE, event, dedup=f"twilio:{sid}")


async def run_until(worker: Worker, done: Callable[[], Awaitable[bool]],
                    timeout: float = 5.0) -> None:
    """Run `worker` until `done()` (bounded), asking it to read at once, as `settle` does."""
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not await done():
                worker.wake()
                await asyncio.sleep(SETTLE_POLL)
    finally:
        worker.stop()
        await task


def outbox_empty(rt: Runtime) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return await rt.outbox.pending_count() == 0

    return done


async def killed_worker_leaves_effect_to_another(redis: Redis, keys: Keys) -> None:
    sender = MemorySender()
    async with runtime_on(redis, sender=sender, keys=keys, worker_claim_idle_ms=100) as rt:
        await inbound(rt, "JOIN", "SM1")
        shard = rt.keys.shard(PHONE)
        taken = await rt.outbox.read(shard, "worker-that-dies", count=10, block_ms=0)
        assert len(taken) == 1  # taken, never acknowledged: its worker died here
        assert await rt.outbox.read(shard, "survivor", count=10, block_ms=0) == []
        survivor = rt.new_worker(consumer="survivor")

        async def done() -> bool:
            return bool(sender.sent) and await rt.outbox.pending_count() == 0

        await run_until(survivor, done)
        assert len(sender.sent) == 1 and "Reply YES" in sender.sent[0][1]


async def test_killed_worker_effect_is_claimed_by_another_fakeredis() -> None:
    await killed_worker_leaves_effect_to_another(
        fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), Keys(shards=4))


@pytest.mark.integration
async def test_killed_worker_effect_is_claimed_by_another_real_redis(
        real_redis: Redis, key_prefix: str) -> None:
    try:
        await killed_worker_leaves_effect_to_another(real_redis, Keys(prefix=key_prefix,
                                                                      shards=4))
    finally:
        await drop_prefix(real_redis, key_prefix)


async def test_retryable_send_failures_are_retried_then_sent_once(fake_redis: Redis) -> None:
    sender = FlakySender([SendError("503", retryable=True), TimeoutError()])
    async with runtime_on(fake_redis, sender=sender) as rt:
        await inbound(rt, "JOIN", "SM1")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=4, sleep=no_pause))
        await run_until(worker, outbox_empty(rt))
        assert len(sender.sent) == 1
        assert await rt.outbox.dead_letters() == []


async def test_permanent_failure_goes_to_the_dead_letter_stream(fake_redis: Redis) -> None:
    sender = FlakySender([SendError("invalid number", retryable=False)])
    async with runtime_on(fake_redis, sender=sender) as rt:
        await inbound(rt, "JOIN", "SM1")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=4, sleep=no_pause))
        await run_until(worker, outbox_empty(rt))
        assert sender.sent == []
        [dead] = await rt.outbox.dead_letters()
        assert dead["effect"]["type"] == "send_sms" and "invalid number" in dead["reason"]


async def test_retries_are_bounded(fake_redis: Redis) -> None:
    sender = FlakySender([SendError("503", retryable=True)] * 10)
    async with runtime_on(fake_redis, sender=sender) as rt:
        await inbound(rt, "JOIN", "SM1")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=3, sleep=no_pause))
        await run_until(worker, outbox_empty(rt))
        assert sender.sent == [] and len(sender.errors) == 7  # exactly three tries
        assert "out of tries" in (await rt.outbox.dead_letters())[0]["reason"]


async def test_action_result_is_fed_back_and_idempotency_key_is_stable(fake_redis: Redis
                                                                       ) -> None:
    sender = MemorySender()
    lookup = Lookup(fail_first=2)
    registry = build_registry(make_settings())
    registry.register(lookup)
    async with runtime_on(fake_redis, sender=sender, registry=registry) as rt:
        await inbound(rt, "DEMO", "SM1")
        await inbound(rt, "20001", "SM2")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=4, sleep=no_pause))

        async def done() -> bool:
            return len(sender.sent) >= 2 and await rt.outbox.pending_count() == 0

        await run_until(worker, done)
        assert [b for _, b in sender.sent] == ["Your ZIP?",
                                               "Found 2 for 20001. Reply 1 or 2, or MENU."]
        assert len(lookup.calls) == 3 and len(set(lookup.calls)) == 1
        conv = (await rt.store.load(PHONE)).conversation
        assert conv.state == "pick" and conv.pending is None


async def test_action_that_stays_down_fails_into_the_flow(fake_redis: Redis) -> None:
    sender = MemorySender()
    registry = build_registry(make_settings())
    registry.register(Lookup(fail_first=99))
    async with runtime_on(fake_redis, sender=sender, registry=registry) as rt:
        await inbound(rt, "DEMO", "SM1")
        await inbound(rt, "20001", "SM2")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=2, sleep=no_pause))

        async def done() -> bool:
            return len(sender.sent) >= 2 and await rt.outbox.pending_count() == 0

        await run_until(worker, done)
        assert sender.sent[-1][1] == "Sorry, try later."


async def test_timer_fires_through_the_worker(fake_redis: Redis) -> None:
    sender = MemorySender()
    clock = FrozenClock()
    registry = build_registry(make_settings())
    registry.register(Lookup())
    async with runtime_on(fake_redis, sender=sender, registry=registry, clock=clock) as rt:
        await inbound(rt, "DEMO", "SM1")
        clock.advance(601)
        worker = rt.new_worker()

        async def done() -> bool:
            return len(sender.sent) >= 2

        await run_until(worker, done)
        assert [b for _, b in sender.sent] == ["Your ZIP?", "Timed out."]
        assert (await rt.store.load(PHONE)).conversation.flow is None


async def test_due_timers_move_when_the_poll_says_not_before(fake_redis: Redis) -> None:
    sender, clock, ticks = MemorySender(), FrozenClock(), OnDemand()
    registry = build_registry(make_settings())
    registry.register(Lookup())
    async with runtime_on(fake_redis, sender=sender, registry=registry, clock=clock) as rt:
        worker = rt.new_worker(timer_poll=ticks)
        task = asyncio.create_task(worker.run())
        try:
            await inbound(rt, "DEMO", "SM1")
            await rt.settle()
            clock.advance(601)
            await rt.settle()
            assert [b for _, b in sender.sent] == ["Your ZIP?"]  # due, but not looked for
            await ticks.tick()
            await rt.settle()
            assert [b for _, b in sender.sent] == ["Your ZIP?", "Timed out."]
        finally:
            worker.stop()
            await task


async def test_stop_ends_every_loop_without_cancelling(fake_redis: Redis) -> None:
    async with runtime_on(fake_redis, sender=MemorySender(),
                          worker_claim_idle_ms=3_600_000) as rt:
        worker = rt.new_worker(timer_poll=every(3600))  # every loop is in a long pause
        task = asyncio.create_task(worker.run())
        await inbound(rt, "JOIN", "SM1")
        await rt.settle()
        worker.stop()
        async with asyncio.timeout(2):  # a bound, not a wait: ends at once or fails
            await task
        assert not task.cancelled() and task.exception() is None
        assert worker.processed == 1
