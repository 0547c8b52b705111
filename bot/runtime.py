"""Build every resource from `Settings` once, and close them in reverse order.

The web app, the worker process and the chat simulator all start from `open_runtime`, so
there is one way to wire the bot and tests override the parts they need (clock, ids,
sender, Redis) instead of patching.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bot.actions import build_registry
from bot.actions.base import Registry
from bot.broadcast import BroadcastRunner, BroadcastStore
from bot.clock import Clock, IdFactory, RandomIds, SystemClock
from bot.config import Settings
from bot.core import Core
from bot.engine import Rules
from bot.flow import FlowSet, load_flow_set
from bot.metrics import Metrics
from bot.pace import PaceGate, pace_key, request_trace
from bot.phone import to_e164
from bot.quorum_status import poll_forever
from bot.redis_conn import RedisClient, connect_redis
from bot.retry import RetryPolicy
from bot.senders import build_sender
from bot.sms import GuardedSender, Sender
from bot.store import ConsentStore, ConversationStore, Keys, Outbox, RecentConversations
from bot.store.codes import CodeBudget
from bot.store.delivery import DeliveryLedger
from bot.store.layout import check_shard_count
from bot.timer_poll import TimerPoll
from bot.tracking import TrackedSender
from bot.upstream import Upstreams, build_upstreams
from bot.worker import Worker

log = structlog.get_logger("bot.runtime")


@dataclass
class Runtime:
    """Every long-lived resource of one process."""

    settings: Settings
    redis: RedisClient
    keys: Keys
    store: ConversationStore
    consent: ConsentStore
    outbox: Outbox
    core: Core
    metrics: Metrics
    registry: Registry
    sender: GuardedSender
    upstreams: Upstreams
    session: aiohttp.ClientSession
    deliveries: DeliveryLedger
    timer_poll: TimerPoll | None = None  # None: the worker's own (every second)
    pace: PaceGate | None = None  # None: no SMS_RATE, no shaping
    retry: RetryPolicy | None = None  # None: the worker's own (WORKER_MAX_TRIES, real pauses)
    workers: list[Worker] = field(default_factory=list)

    def new_worker(self, **kwargs: Any) -> Worker:
        """A worker over this runtime (several may run, e.g. in tests)."""
        kwargs.setdefault("timer_poll", self.timer_poll)
        kwargs.setdefault("pace", self.pace)
        kwargs.setdefault("retry", self.retry)
        kwargs.setdefault("codes", CodeBudget(
            self.redis, self.keys, per_hour=self.settings.verify_codes_per_hour,
            per_day=self.settings.verify_codes_per_day,
            per_minute=self.settings.verify_codes_per_minute,
            pause_seconds=self.settings.verify_breaker_seconds))
        worker = Worker(self.core, self.outbox, self.sender, self.registry, self.settings,
                        self.upstreams, **kwargs)
        self.workers.append(worker)
        return worker

    def broadcast_runner(self) -> BroadcastRunner:
        """Runs broadcasts through this runtime's core, at its sender's pace."""
        return BroadcastRunner(self.core, self.consent, self.outbox,
                               BroadcastStore(self.redis, self.keys), self.settings)

    async def run_background(self, worker: Worker | None = None) -> None:
        """What a process runs beside (or instead of) the webhooks: the outbox worker, the
        broadcast runner (due broadcasts, and ones a crashed process left) and, with the
        Quorum sender, its status poll; until the worker stops or this is cancelled."""
        worker = worker or self.new_worker()
        await self.outbox.ensure_groups()  # first, as a lone worker would (tests count on it)
        helpers = [asyncio.create_task(self.broadcast_runner().loop(worker.consumer),
                                       name="broadcasts")]
        if self.settings.sms_sender == "quorum":
            helpers.append(asyncio.create_task(
                poll_forever(self.upstreams.quorum, self.deliveries, self.core.clock),
                name="quorum-status"))
        try:
            await worker.run()  # returns once `worker.stop()` was called
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every outbox is empty and no effect is running (bounded). Looks again
        whenever a worker makes progress, and at least every `SETTLE_POLL`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for worker in self.workers:
                worker.progress.clear()
            if not any(w.busy for w in self.workers):
                if await self.outbox.pending_count() == 0:
                    return
                for worker in self.workers:
                    worker.wake()  # entries wait: read them now, not after the idle pause
            await _first_progress(self.workers, SETTLE_POLL)
        raise TimeoutError("the outbox did not settle")


async def _first_progress(workers: list[Worker], timeout: float) -> None:
    """Until one of `workers` makes progress, or `timeout` passes."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            if len(workers) <= 1:
                await (workers[0].progress.wait() if workers else asyncio.sleep(timeout))
                return
            waits = [asyncio.ensure_future(w.progress.wait()) for w in workers]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()


def build_rules(settings: Settings) -> Rules:
    """The engine's deployment facts from the settings."""
    own = to_e164(settings.sms_from, settings.default_region) if settings.sms_from else None
    return Rules(program=settings.program_name, help_contact=settings.help_contact,
                 provider_handles_keywords=settings.provider_handles_keywords,
                 quiet_start=settings.quiet_hours_start, quiet_end=settings.quiet_hours_end,
                 countries=settings.countries,
                 max_auto_steps=settings.flow_max_auto_steps,
                 max_actions_per_hour=settings.flow_max_actions_per_hour,
                 own_numbers=frozenset({own} if own else ()))


def warn_about_settings(settings: Settings) -> None:
    """Log what a deployment should fix before texting voters."""
    if not settings.help_contact:
        log.warning("HELP_CONTACT is not set: HELP answers name no contact; carriers expect "
                    "a phone, e-mail or URL")


SETTLE_POLL = 0.005

PROJECT_FLOWS = Path(__file__).resolve().parent.parent / "flows"


def flow_path(settings: Settings) -> Path:
    """`FLOW_PATH`; the default `flows` falls back to the project's own folder when the bot
    runs from elsewhere (an installed checkout)."""
    path = settings.flow_path
    if not path.exists() and path == Path("flows") and PROJECT_FLOWS.exists():
        return PROJECT_FLOWS
    return path


def load_flows(settings: Settings, registry: Registry | None = None) -> FlowSet:
    """Load and check the flows at `FLOW_PATH` against the action registry."""
    registry = registry or build_registry(settings)
    return load_flow_set(flow_path(settings), registry.params_models())


def sandbox_root(settings: Settings) -> str:
    """Where this process serves the sandboxes (the embedded default)."""
    return f"http://127.0.0.1:{settings.port}/sandbox"


@asynccontextmanager
async def open_runtime(settings: Settings, *, redis: RedisClient | None = None,
                       sender: Sender | None = None, clock: Clock | None = None,
                       ids: IdFactory | None = None, keys: Keys | None = None,
                       metrics: Metrics | None = None, registry: Registry | None = None,
                       timer_poll: TimerPoll | None = None, retry: RetryPolicy | None = None,
                       flows: FlowSet | None = None) -> AsyncIterator[Runtime]:
    """Open Redis and the HTTP session, build the core, and close both at the end.

    `timer_poll`: when the runtime's workers look for due timers; `retry`: how they retry
    (tests drive both, so no test waits on the wall clock); `flows`: already loaded from
    `FLOW_PATH` (flow tests and the test suite load each folder once, not per runtime)."""
    registry = registry or build_registry(settings)
    flows = flows or load_flows(settings, registry)
    keys = keys or Keys(shards=settings.redis_shards)
    own_redis = redis is None
    redis = redis or await connect_redis(settings)
    metrics = metrics or Metrics()
    timeout = aiohttp.ClientTimeout(total=settings.upstream_timeout, connect=5.0)
    session = aiohttp.ClientSession(timeout=timeout,
                                    connector=aiohttp.TCPConnector(limit=200, limit_per_host=100),
                                    # when texts are written: only the pace asks (SMS_RATE)
                                    trace_configs=[request_trace()] if settings.sms_rate else None)
    try:
        await check_shard_count(redis, keys)
        clock = clock or SystemClock()
        upstreams = build_upstreams(settings, session, sandbox_root(settings),
                                    metrics.breaker_changed, clock.now)
        consent = ConsentStore(redis, keys)
        store = ConversationStore(redis, keys, settings.conversation_ttl, consent=consent,
                                  wait_replicas=settings.redis_wait_replicas,
                                  wait_timeout_ms=settings.redis_wait_timeout_ms)
        outbox = Outbox(redis, keys)
        rules = build_rules(settings)
        core = Core(flows=flows, rules=rules, store=RecentConversations(store),
                    clock=clock,
                    ids=ids or RandomIds(), metrics=metrics)
        deliveries = DeliveryLedger(redis, keys)
        real_sender = TrackedSender(sender or build_sender(settings, upstreams), deliveries,
                                    core.clock)
        guarded = GuardedSender(real_sender, consent, metrics)
        # The carrier counts in real seconds: the bucket runs on the wall clock, always.
        pace = (PaceGate(redis, pace_key(keys.prefix), settings.sms_rate)
                if settings.sms_rate else None)
        yield Runtime(settings=settings, redis=redis, keys=keys, store=store, consent=consent,
                      outbox=outbox,
                      core=core, metrics=metrics, registry=registry, sender=guarded,
                      upstreams=upstreams, session=session, deliveries=deliveries,
                      timer_poll=timer_poll, pace=pace, retry=retry)
    finally:
        await session.close()
        if own_redis:
            await redis.aclose()
