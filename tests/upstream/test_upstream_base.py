"""What every client shares: one log line per call without secrets or whole phones, and
transport failures classified by whether the request may have happened."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams
from bot.upstream.base import ApiClient
from bot.upstream.errors import OutcomeUnknown, UpstreamError, UpstreamUnavailable

PHONE = "+12025550100"
SECRETS = [
    cred.TWILIO_AUTH_TOKEN,
    cred.P2A_APP_KEY,
    cred.TELESIGN_API_KEY,
    cred.WHATCOUNTS_PASSWORD,
    cred.QUORUM_API_KEY,
    cred.WEVOTE_API_KEY,
]


async def test_one_log_line_per_call_without_phone_or_secret(upstreams: Upstreams) -> None:
    assert upstreams.whatcounts is not None
    with capture_logs() as logs:
        await upstreams.twilio.send_sms(PHONE, "hi", idempotency_key="eff-42")
        await upstreams.p2a.find_advocate(PHONE)
        await upstreams.whatcounts.subscribe(PHONE)
        await upstreams.telesign.send_sms(PHONE, "hi")
        await upstreams.quorum.send_sms(PHONE, "hi")
        await upstreams.wevote.generate_device_id()
    assert [(e["service"], e["method"], e["path"]) for e in logs] == [
        ("twilio", "POST", "/2010-04-01/Accounts/{account_sid}/Messages.json"),
        ("p2a", "GET", "/advocates"),
        ("whatcounts", "POST", "/rest/sms/addPhoneToSenderCode/{phone}/{sender_code}"),
        ("telesign", "POST", "/v1/messaging"),
        ("quorum", "GET", "/newsupporter/"),
        ("quorum", "POST", "/sendsms/send_individual_sms/"),
        ("wevote", "GET", "/deviceIdGenerate/"),
    ]
    assert all(e["event"] == "upstream.call" and isinstance(e["ms"], float) for e in logs)
    assert logs[0]["status"] == 201 and logs[0]["idempotency_key"] == "eff-42"
    assert logs[0]["phone"] == "+1******0100"
    text = repr(logs)
    assert "2025550100" not in text
    assert not [s for s in SECRETS if s in text]


async def test_failed_call_logs_its_error_class(hasty: Upstreams, sandbox: Sandbox) -> None:
    sandbox.p2a.fail_next["GET /advocates"] = ["timeout"]
    with capture_logs() as logs, pytest.raises(UpstreamUnavailable):
        await hasty.p2a.find_advocate(PHONE)
    assert len(logs) == 1 and logs[0]["status"] is None and logs[0]["log_level"] == "warning"
    assert logs[0]["error"] == "TimeoutError"


class _Probe(ApiClient):
    service = "probe"


@pytest.mark.parametrize("idempotent", [True, False])
async def test_refused_connection_is_always_retryable(
    http: aiohttp.ClientSession, unused_tcp_port: int, idempotent: bool
) -> None:
    probe = _Probe(http, f"http://127.0.0.1:{unused_tcp_port}", timeout=1)
    with pytest.raises(UpstreamUnavailable) as info:
        await probe.call("POST", "/x", idempotent=idempotent)
    assert info.value.service == "probe"
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


async def test_dropped_connection_after_sending(
    aiohttp_raw_server: object, http: aiohttp.ClientSession
) -> None:
    from aiohttp import web

    async def drop(request: web.BaseRequest) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    server = await aiohttp_raw_server(drop)  # type: ignore[operator]
    probe = _Probe(http, str(server.make_url("")).rstrip("/"), timeout=2)
    with pytest.raises(OutcomeUnknown):
        await probe.call("POST", "/send", idempotent=False)
    with pytest.raises(UpstreamUnavailable):
        await probe.call("GET", "/read", idempotent=True)


def test_error_hierarchy() -> None:
    assert issubclass(OutcomeUnknown, UpstreamError)
    assert not issubclass(OutcomeUnknown, UpstreamUnavailable)


async def test_a_redirect_is_a_configuration_error(
    aiohttp_raw_server: object, http: aiohttp.ClientSession
) -> None:
    """Redirects are not followed: WeVote answers 301 to a path without its trailing slash."""
    from aiohttp import web

    from bot.upstream.errors import UpstreamRejected

    async def moved(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": request.path + "/"})

    server = await aiohttp_raw_server(moved)  # type: ignore[operator]
    probe = _Probe(http, str(server.make_url("")).rstrip("/"), timeout=2)
    reply = await probe.call("POST", "/voterCreate", idempotent=False)
    assert reply.status == 301
    error = probe.http_error(reply, idempotent=False, detail="moved")
    assert isinstance(error, UpstreamRejected)


async def test_a_no_is_info_and_a_failure_or_refused_credentials_a_warning(
        upstreams: Upstreams, sandbox: Sandbox) -> None:
    """A "no" the caller handles (WhatCounts' 500 "nothing to stop" for a phone never
    subscribed) is logged at INFO; a 500 that is not a business answer, and a rate limit,
    at WARNING."""
    whatcounts = upstreams.whatcounts
    assert whatcounts is not None
    route = "POST /rest/sms/stopSubscriberSend/{phone}/{sender_code}"
    with capture_logs() as logs:
        assert not (await whatcounts.stop("+12025550177")).stopped
    assert [(e["status"], e["log_level"]) for e in logs] == [(500, "info")]
    for kind, status in (("server-error", 500), ("429", 429)):
        sandbox.whatcounts.fail_next[route] = [kind]
        with capture_logs() as logs, pytest.raises(UpstreamError):
            await whatcounts.stop(PHONE)
        assert [(e["status"], e["log_level"]) for e in logs] == [(status, "warning")]
