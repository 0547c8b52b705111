"""The embedded default's staff receiver: with nothing configured, a flow's `webhook`
target goes to the sandbox (`/sandbox/staff/<target>`), signed and deduped; a configured
deployment never falls back to it."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bot.sandbox import Sandbox
from bot.upstream import build_upstreams
from bot.upstream.errors import UpstreamRejected

from .conftest import upstream_settings


async def test_unconfigured_targets_reach_the_sandbox_receiver(
    http: aiohttp.ClientSession, sandbox_server: TestServer, sandbox: Sandbox,
) -> None:
    ups = build_upstreams(upstream_settings(), http, str(sandbox_server.make_url("")))
    first = await ups.webhook.post("petition_sheet", {"name": "Ana"}, idempotency_key="k1")
    again = await ups.webhook.post("petition_sheet", {"name": "Ana"}, idempotency_key="k1")
    second = await ups.webhook.post("petition_sheet", {"name": "Bo"}, idempotency_key="k2")
    assert (first, again, second) == ({"count": 1}, {"count": 1}, {"count": 2})
    assert [body["name"] for body in sandbox.staff.taken["petition_sheet"]] == ["Ana", "Bo"]


async def test_the_receiver_refuses_a_body_signed_with_another_key(
    http: aiohttp.ClientSession, sandbox_server: TestServer,
) -> None:
    url = str(sandbox_server.make_url("/staff/petition_sheet"))
    async with http.post(url, data=b'{"name": "Ana"}',
                         headers={"X-Civictext-Signature": "sha256=00"}) as resp:
        assert resp.status == 401


async def test_a_configured_deployment_does_not_fall_back(
    http: aiohttp.ClientSession, sandbox_server: TestServer,
) -> None:
    root = str(sandbox_server.make_url(""))
    for settings in (upstream_settings(webhook_targets={"crm": "http://127.0.0.1:9/x"}),
                     upstream_settings(webhook_secret=SecretStr("s")),
                     upstream_settings(p2a_app_id="id", p2a_app_key=SecretStr("k"))):
        ups = build_upstreams(settings, http, root)
        try:
            await ups.webhook.post("petition_sheet", {"name": "Ana"}, idempotency_key="k")
        except UpstreamRejected as exc:
            assert "WEBHOOK_TARGETS" in str(exc)
        else:
            raise AssertionError(f"fell back to the sandbox with {settings!r}")
