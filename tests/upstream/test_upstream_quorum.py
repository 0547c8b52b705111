"""Quorum client against its sandbox: supporter by phone, send_individual_sms, secrets."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import QuorumClient, Upstreams
from bot.upstream.errors import (
    OutcomeUnknown,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamUnavailable,
)

PHONE = "+12025550100"


async def test_send_finds_the_supporter_then_sends(upstreams: Upstreams, sandbox: Sandbox) -> None:
    queued = await upstreams.quorum.send_sms(PHONE, "Hello from civictext", idempotency_key="k1")
    assert queued.success and queued.to == PHONE and queued.num_segments == 1
    assert sandbox.log == ["GET /quorum/newsupporter/", "POST /quorum/sendsms/send_individual_sms/"]
    lookup, send = sandbox.log.requests
    assert lookup.query == {
        "phone_number": PHONE,
        "limit": "20",
        "username": cred.QUORUM_USERNAME,
        "api_key": cred.QUORUM_API_KEY,
    }
    supporter = sandbox.quorum.supporters[PHONE]
    assert send.body == {"supporter_id": supporter, "message": "Hello from civictext"}
    assert send.query == {"username": cred.QUORUM_USERNAME, "api_key": cred.QUORUM_API_KEY}
    sends = await upstreams.quorum.recent_sends()
    assert [(s.id, s.supporter_id) for s in sends] == [
        (queued.id, f"/api/newsupporter/{supporter}/")
    ]


async def test_no_supporter_means_no_send(upstreams: Upstreams, sandbox: Sandbox) -> None:
    with pytest.raises(UpstreamRejected):
        await upstreams.quorum.send_sms("+12025550000", "hi")
    assert sandbox.log == ["GET /quorum/newsupporter/"]


async def test_a_supporter_without_this_phone_is_never_texted(
        upstreams: Upstreams, sandbox: Sandbox) -> None:
    await upstreams.quorum.send_sms("+12025550111", "hello", idempotency_key="k0")
    sandbox.quorum.ignores_phone_filter = True  # answers every supporter, someone else first
    sandbox.log.clear()
    with pytest.raises(UpstreamRejected, match="no supporter with this phone"):
        await upstreams.quorum.send_sms(PHONE, "hello", idempotency_key="k1")
    assert sandbox.log == ["GET /quorum/newsupporter/"]  # nothing sent to anyone


async def test_bad_request_and_bad_credentials(
    http: aiohttp.ClientSession, sandbox_root: str, upstreams: Upstreams
) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.quorum.send_individual_sms(424242, "hi")
    assert info.value.status == 400 and "improperly configured" in info.value.detail
    wrong = QuorumClient(http, sandbox_root + "/quorum", cred.QUORUM_USERNAME, "wrong-key")
    with pytest.raises(UpstreamAuthFailed):
        await wrong.find_supporter(PHONE)


@pytest.mark.parametrize(
    ("kind", "error"),
    [(500, OutcomeUnknown), ("timeout", OutcomeUnknown), (503, UpstreamUnavailable)],
)
async def test_send_failures_keep_the_api_key_out(
    upstreams: Upstreams, hasty: Upstreams, sandbox: Sandbox, kind: int | str,
    error: type[Exception]
) -> None:
    supporter = await upstreams.quorum.find_supporter(PHONE)
    assert supporter is not None
    sandbox.quorum.fail_next["POST /sendsms/send_individual_sms/"] = [kind]
    failing = hasty if kind == "timeout" else upstreams
    with capture_logs() as logs, pytest.raises(error) as info:
        await failing.quorum.send_individual_sms(supporter, "hi")
    assert info.value.__cause__ is None  # aiohttp's text can hold the URL with the key
    assert cred.QUORUM_API_KEY not in repr(info.value) + repr(logs)
    assert [entry["path"] for entry in logs] == ["/sendsms/send_individual_sms/"]
