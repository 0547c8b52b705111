"""Building the real app for tests, with a memory sender, a frozen clock and fakeredis."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fakeredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.clock import FrozenClock, SequentialIds
from bot.config import SERVICES, Settings
from bot.flow import FlowError, FlowSet
from bot.flow.loader import flow_files
from bot.redis_conn import RedisClient
from bot.retry import RetryPolicy
from bot.runtime import Runtime, flow_path, load_flows, open_runtime
from bot.sandbox import create_sandbox_app
from bot.sms import MemorySender
from bot.store import Keys
from bot.timer_poll import OnDemand
from webhooks.app import create_app
from webhooks.keys import RUNTIME

_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{next(_sids):032d}"


class Bot:
    """The app under test, plus handles on what it did."""

    def __init__(self, app: web.Application, sender: MemorySender, clock: FrozenClock,
                 timers: OnDemand) -> None:
        self.app = app
        self.sender = sender
        self.clock = clock
        self.timers = timers  # `await bot.timers.tick()`: the worker moves due timers once

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    def texts_to(self, phone: str) -> list[str]:
        return [body for to, body in self.sender.sent if to == phone]


def with_sandbox(settings: Settings, sandbox_url: str) -> Settings:
    """Point every upstream service at a sandbox served on `sandbox_url`."""
    return settings.model_copy(update={f"{s}_api_base": f"{sandbox_url}/{s}" for s in SERVICES})


async def start_bot(aiohttp_client: Any, aiohttp_server: Any, settings: Settings,
                    **kwargs: Any) -> tuple[Bot, TestClient[Any, Any], web.Application]:
    """Serve the sandboxes on their own port, then the bot pointed at them."""
    sandbox_app = create_sandbox_app()
    server = await aiohttp_server(sandbox_app)
    bot = build_bot(with_sandbox(settings, str(server.make_url("")).rstrip("/")), **kwargs)
    return bot, await aiohttp_client(bot.app), sandbox_app


_MEMORY = MemorySender()
_FLOWS: dict[tuple[Path, tuple[tuple[Path, str], ...]], FlowSet] = {}


def shared_flows(settings: Settings) -> FlowSet:
    """The flows at `FLOW_PATH`, compiled once per test process for the same files with the
    same bytes (a test that writes or rewrites a flow file gets it compiled afresh). A
    `FlowSet` is never changed once built (a reload swaps in a new one), so apps share it.
    Loading the shipped flows took ~10 ms of CPU per app; about 200 apps are built."""
    path = flow_path(settings)
    try:
        files = flow_files(path)
    except FlowError:
        return load_flows(settings)  # raises the same error the app would
    key = (path, tuple((f, hashlib.sha1(f.read_bytes()).hexdigest()) for f in files))
    if key not in _FLOWS:
        _FLOWS[key] = load_flows(settings)
    return _FLOWS[key]


async def no_pause(seconds: float) -> None:
    """The worker's pause between two tries, in tests: its turn on the loop, no wall clock
    (the tries and their bound are the same)."""
    await asyncio.sleep(0)


def build_bot(settings: Settings, *, redis: RedisClient | None = None, keys: Keys | None = None,
              sender: MemorySender | None = _MEMORY, **app_kwargs: Any) -> Bot:
    """The real app; `redis` defaults to a fresh fakeredis server. `sender=None` keeps the
    sender `SMS_SENDER` names (e.g. Twilio's REST client against its sandbox)."""
    real_sender = sender is None
    sender = MemorySender() if sender is None or sender is _MEMORY else sender
    clock = FrozenClock()
    timers = OnDemand()
    redis = redis or fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())

    @asynccontextmanager
    async def factory(s: Settings) -> AsyncIterator[Runtime]:
        async with open_runtime(s, redis=redis, sender=None if real_sender else sender,
                                clock=clock, ids=SequentialIds(), keys=keys,
                                timer_poll=timers, flows=shared_flows(s),
                                retry=RetryPolicy(max_tries=s.worker_max_tries,
                                                  sleep=no_pause)) as runtime:
            yield runtime

    app = create_app(settings, runtime_factory=factory, **app_kwargs)
    return Bot(app, sender, clock, timers)


async def text(client: TestClient[Any, Any], body: str, phone: str = "+15555550100", *,
               sid: str | None = None, signature: str | None = None,
               extra: dict[str, str] | None = None) -> Any:
    """POST one Twilio inbound form; returns the response."""
    form = {"MessageSid": sid or new_sid(), "AccountSid": "AC" + "0" * 32, "From": phone,
            "To": "+15555550199", "Body": body, "NumMedia": "0", **(extra or {})}
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return await client.post("/webhooks/twilio/sms", data=form, headers=headers)
