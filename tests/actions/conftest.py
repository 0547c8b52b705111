"""Fixtures for the action tests: every sandbox served on 127.0.0.1, real clients over one
real `ClientSession`, settings like the app's, a frozen `now`, and a fake `send_sms` that
records the texts an action sends itself (the `local` verification codes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.actions import build_registry
from bot.actions.base import ActionContext, ActionOutcome, Registry
from bot.config import SERVICES, Settings
from bot.sandbox import SANDBOX, Sandbox, create_sandbox_app
from bot.sms import Refused
from bot.upstream import Upstreams, build_upstreams
from tests.apphelpers import with_sandbox
from tests.conftest import make_settings

#: A frozen `now` in the past: the P2A sandbox stamps connections with the wall clock, so a
#: lookup "since now - 300" sees them.
NOW = 1_700_000_000.0
#: A valid US number (WeVote checks validity; 555-01XX numbers are not valid for it).
PHONE = "+12025550143"
PHONE10 = "2025550143"

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class Env:
    """One test's world: the sandboxes, settings, clients, and what the action texted."""

    sandbox: Sandbox
    root: str
    http: aiohttp.ClientSession
    settings: Settings
    upstreams: Upstreams
    texts: list[str] = field(default_factory=list)
    send_result: Refused | str = "mem-1"
    send_error: Exception | None = None
    now: float = NOW
    lang: str = "en"
    phone: str = PHONE
    runs: int = 0

    def configure(self, **overrides: Any) -> None:
        """New settings (and clients built from them)."""
        self.settings = _settings(self.root, **overrides)
        self.upstreams = build_upstreams(self.settings, self.http, self.root)

    @property
    def registry(self) -> Registry:
        """The actions as the runtime builds them from these settings."""
        return build_registry(self.settings)

    async def send_sms(self, body: str) -> Refused | str:
        if self.send_error is not None:
            raise self.send_error
        self.texts.append(body)
        return self.send_result

    def ctx(self, **overrides: Any) -> ActionContext:
        self.runs += 1
        values: dict[str, Any] = {
            "phone": self.phone, "idempotency_key": f"fx{self.runs}",
            "upstreams": self.upstreams, "now": self.now,
            "lang": self.lang, "send_sms": self.send_sms,
        }
        values.update(overrides)
        return ActionContext(**values)

    async def run(self, name: str, **params: Any) -> ActionOutcome:
        """Bind `params` like the worker does, then run the action `name` once."""
        action = self.registry.get(name)
        assert action is not None, name
        return await action.bind(params)(self.ctx())

    def calls(self, service: str | None = None) -> list[str]:
        """The sandbox call log (of one service)."""
        return [c for c in self.sandbox.log if service is None or c.split(" ", 1)[1]
                .startswith(f"/{service}/")]


#: For a test whose one call times out and whose next call (a lookup) must answer: a
#: timeout costs this much, not 0.5 s, and a local lookup on a loaded machine still beats it.
LOOKUP_TIMEOUT = 0.2


def _settings(root: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"upstream_timeout": 0.5, "verify_provider": "local"}
    values.update(overrides)
    return with_sandbox(make_settings(**values), root)


@pytest.fixture
async def sandbox_server(aiohttp_server: ServerFactory) -> TestServer:
    return await aiohttp_server(create_sandbox_app())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def env(sandbox_server: TestServer, http: aiohttp.ClientSession) -> Env:
    sandbox = sandbox_server.app[SANDBOX]
    for name in SERVICES:
        sandbox.service(name).hang_seconds = 1.0  # longer than the 0.5 s client timeout
    root = str(sandbox_server.make_url("")).rstrip("/")
    settings = _settings(root)
    return Env(sandbox=sandbox, root=root, http=http, settings=settings,
               upstreams=build_upstreams(settings, http, root))
