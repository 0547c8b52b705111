"""The sandbox app itself: mounting under a prefix, the call log, delay, forced failures,
magic inputs and `serve()`."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from bot.config import Settings
from bot.sandbox import SANDBOX, CallLog, Sandbox, create_sandbox_app
from bot.sandbox.common import magic_kinds
from bot.sandbox.serve import serve
from bot.upstream import build_upstreams

from .conftest import ServerFactory, upstream_settings


async def test_mounted_under_the_bots_sandbox_prefix(
    aiohttp_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    log = CallLog()
    outer = web.Application()
    outer.add_subapp("/sandbox", create_sandbox_app(log=log))
    server = await aiohttp_server(outer)
    settings: Settings = upstream_settings()
    ups = build_upstreams(settings, http, str(server.make_url("/sandbox")))
    advocate = await ups.p2a.find_advocate("+12025550100")
    sent = await ups.telesign.send_verify_sms("+12025550100", verify_code="1234")
    assert advocate is None and (await ups.telesign.check_code(sent.reference_id, "1234")).valid
    assert log == [
        "GET /p2a/advocates",
        "POST /telesign/v1/verify/sms",
        f"GET /telesign/v1/verify/{sent.reference_id}",
    ]
    assert [r.route for r in log.requests] == [
        "GET /advocates",
        "POST /v1/verify/sms",
        "GET /v1/verify/{reference_id}",
    ]


async def test_delay_holds_every_answer(
    aiohttp_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await aiohttp_server(create_sandbox_app(delay=0.05))
    ups = build_upstreams(upstream_settings(), http, str(server.make_url("")).rstrip("/"))
    started = time.perf_counter()
    await ups.p2a.list_campaigns()
    assert time.perf_counter() - started >= 0.05


async def test_call_log_clear_and_last(upstreams: object, sandbox: Sandbox) -> None:
    ups = upstreams
    await ups.p2a.list_campaigns()  # type: ignore[attr-defined]
    assert sandbox.log.last("p2a").route == "GET /campaigns"
    sandbox.log.clear()
    assert sandbox.log == [] and sandbox.log.requests == []
    with pytest.raises(LookupError):
        sandbox.log.last()


async def test_missing_auth_is_refused_before_any_magic(
    http: aiohttp.ClientSession, sandbox_root: str
) -> None:
    async with http.get(sandbox_root + "/p2a/advocates?phone=__503__") as resp:
        assert resp.status == 401
        assert await resp.json() == {
            "success": 0,
            "error": "Unauthorized: invalid APP_ID or APP_KEY",
        }
    async with http.post(sandbox_root + "/quorum/sendsms/send_individual_sms/") as resp:
        assert resp.status == 401


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Body=hello __21610__", ["21610"]),
        ("To=+15005550004&From=+15005550006", ["4", "6"]),
        ("/rest/sms/addPhoneToSenderCode/5005550503/2025550199", ["503"]),
        ("phone=2025550100&campaigns[]=1005", []),
        ('{"phone": "+1 500-555-0429"}', ["429"]),
    ],
)
def test_magic_kinds(text: str, kinds: list[str]) -> None:
    assert magic_kinds(text) == kinds


def test_each_app_has_its_own_state() -> None:
    first, second = create_sandbox_app(), create_sandbox_app()
    first[SANDBOX].p2a.fail_next["GET /advocates"] = [503]
    assert second[SANDBOX].p2a.fail_next == {}


async def test_serve_runs_until_cancelled(
    http: aiohttp.ClientSession, unused_tcp_port: int
) -> None:
    task = asyncio.create_task(serve("127.0.0.1", unused_tcp_port))
    url = f"http://127.0.0.1:{unused_tcp_port}/p2a/campaigns"
    for _ in range(100):
        try:
            async with http.get(url) as resp:
                assert resp.status == 401  # served, and auth is checked
                break
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.02)
    else:
        pytest.fail("sandbox did not start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
