"""Fixtures for the upstream contract tests: every sandbox served on 127.0.0.1 by
`aiohttp_server`, one real `ClientSession`, and clients built by `build_upstreams`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.config import SERVICES, Settings
from bot.sandbox import SANDBOX, Sandbox, create_sandbox_app
from bot.upstream import Upstreams, build_upstreams
from tests.conftest import IsolatedSettings

CREDENTIAL_FIELDS = (
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_api_base",
    "telesign_customer_id",
    "telesign_api_key",
    "telesign_api_base",
    "p2a_app_id",
    "p2a_app_key",
    "p2a_api_base",
    "wevote_api_key",
    "wevote_api_base",
    "whatcounts_user",
    "whatcounts_password",
    "whatcounts_api_base",
    "whatcounts_sender_code",
    "whatcounts_group",
    "quorum_username",
    "quorum_api_key",
    "quorum_api_base",
    "sms_from",
)

ServerFactory = Callable[..., Awaitable[TestServer]]


def upstream_settings(**overrides: Any) -> Settings:
    """Settings with no credentials at all (this machine's environment ignored: reading it
    cost ~3 ms of the ~140 builds)."""
    values: dict[str, Any] = dict.fromkeys(CREDENTIAL_FIELDS)
    values.update(overrides)
    return IsolatedSettings(**values)


@pytest.fixture
async def sandbox_server(aiohttp_server: ServerFactory) -> TestServer:
    """All sandboxes on one 127.0.0.1 port, no delay."""
    return await aiohttp_server(create_sandbox_app())


@pytest.fixture
def sandbox(sandbox_server: TestServer) -> Sandbox:
    """The call log and the state of every sandbox."""
    sb = sandbox_server.app[SANDBOX]
    for name in SERVICES:
        sb.service(name).hang_seconds = 0.8
    return sb


@pytest.fixture
def sandbox_root(sandbox_server: TestServer) -> str:
    """`http://127.0.0.1:PORT` (each service lives at `/<service>`)."""
    return str(sandbox_server.make_url("")).rstrip("/")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The one shared session, closed at the end."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def upstreams(http: aiohttp.ClientSession, sandbox_root: str, sandbox: Sandbox) -> Upstreams:
    """Every client pointed at the sandboxes with the fixed sandbox credentials."""
    return build_upstreams(upstream_settings(upstream_timeout=0.3), http, sandbox_root)


HASTY_TIMEOUT = 0.05


@pytest.fixture
def hasty(http: aiohttp.ClientSession, sandbox_root: str, sandbox: Sandbox) -> Upstreams:
    """The same clients with a short timeout, for the call a test expects to time out (the
    sandbox's `timeout` kind hangs far longer, so it cannot answer in time): the test waits
    0.05 s for it, not 0.3. Calls that must answer keep `upstreams` (a loaded machine can be
    slow to answer even locally)."""
    return build_upstreams(upstream_settings(upstream_timeout=HASTY_TIMEOUT), http,
                           sandbox_root)
