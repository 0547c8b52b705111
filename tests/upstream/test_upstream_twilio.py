"""Twilio REST sender against its sandbox: the Messages contract, 21610 and every error."""

from __future__ import annotations

import aiohttp
import pytest

from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams
from bot.upstream.errors import (
    OutcomeUnknown,
    RecipientOptedOut,
    UpstreamAuthFailed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.twilio import TwilioClient

PHONE = "+12025550100"
PATH = f"/twilio/2010-04-01/Accounts/{cred.TWILIO_ACCOUNT_SID}/Messages.json"


async def test_send_with_a_from_number(upstreams: Upstreams, sandbox: Sandbox) -> None:
    message = await upstreams.twilio.send_sms(
        PHONE, "Welcome! Reply STOP to end.", idempotency_key="eff-9"
    )
    assert message.sid.startswith("SM") and message.status == "queued"
    assert sandbox.log == [f"POST {PATH}"]
    request = sandbox.log.last()
    assert request.body == {
        "To": PHONE,
        "Body": "Welcome! Reply STOP to end.",
        "From": cred.TWILIO_FROM,
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not any("dempotency" in h for h in request.headers)  # none documented: only logged
    assert sandbox.twilio.messages[0]["sid"] == message.sid


async def test_messaging_service_sid(
    http: aiohttp.ClientSession, sandbox_root: str, sandbox: Sandbox
) -> None:
    sid = "MG" + "0" * 32
    client = TwilioClient(
        http, sandbox_root + "/twilio", cred.TWILIO_ACCOUNT_SID, cred.TWILIO_AUTH_TOKEN, sid
    )
    message = await client.send_sms(PHONE, "hi")
    assert message.messaging_service_sid == sid and message.status == "accepted"
    assert sandbox.log.last().body == {"To": PHONE, "Body": "hi", "MessagingServiceSid": sid}


@pytest.mark.parametrize("how", ["magic-number", "carrier-block", "token"])
async def test_opted_out_recipient(upstreams: Upstreams, sandbox: Sandbox, how: str) -> None:
    phone, body = PHONE, "hello"
    if how == "magic-number":
        phone = "+15005550004"
    elif how == "carrier-block":
        sandbox.twilio.opted_out.add(PHONE)
    else:
        body = "hello __21610__"
    with pytest.raises(RecipientOptedOut) as info:
        await upstreams.twilio.send_sms(phone, body)
    assert isinstance(info.value, UpstreamRejected)
    assert (info.value.status, info.value.code) == (400, 21610)
    assert sandbox.twilio.messages == []


@pytest.mark.parametrize(
    ("phone", "code"),
    [("+15005550001", 21211), ("+15005550009", 21614), ("+15005550002", 21612)],
)
async def test_magic_numbers_are_permanent(upstreams: Upstreams, phone: str, code: int) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.twilio.send_sms(phone, "hello")
    assert info.value.code == code
    assert not isinstance(info.value, RecipientOptedOut)


async def test_missing_from(http: aiohttp.ClientSession, sandbox_root: str) -> None:
    client = TwilioClient(
        http, sandbox_root + "/twilio", cred.TWILIO_ACCOUNT_SID, cred.TWILIO_AUTH_TOKEN, None
    )
    with pytest.raises(UpstreamRejected) as info:
        await client.send_sms(PHONE, "hi")
    assert info.value.code == 21603


@pytest.mark.parametrize(("sid", "token"), [("ACsandbox", "wrong"), ("ACother", "sandbox-token")])
async def test_bad_credentials(
    http: aiohttp.ClientSession, sandbox_root: str, sid: str, token: str
) -> None:
    client = TwilioClient(http, sandbox_root + "/twilio", sid, token, cred.TWILIO_FROM)
    with pytest.raises(UpstreamAuthFailed) as info:
        await client.send_sms(PHONE, "hi")
    assert (info.value.status, info.value.code) == (401, 20003)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (429, UpstreamRateLimited),
        (503, UpstreamUnavailable),
        (502, UpstreamUnavailable),
        (500, OutcomeUnknown),  # a send may have been queued: never retried blindly
        (504, OutcomeUnknown),
        ("timeout", OutcomeUnknown),
    ],
)
async def test_server_side_failures(
    upstreams: Upstreams, hasty: Upstreams, sandbox: Sandbox, kind: int | str,
    error: type[Exception]
) -> None:
    route = "POST /2010-04-01/Accounts/{account_sid}/Messages.json"
    sandbox.twilio.fail_next[route] = [kind]
    failing = hasty if kind == "timeout" else upstreams
    with pytest.raises(error) as info:
        await failing.twilio.send_sms(PHONE, "hi")
    if error is OutcomeUnknown:
        assert not isinstance(info.value, UpstreamUnavailable)
    assert sandbox.twilio.messages == []


async def test_list_messages_finds_a_send(upstreams: Upstreams, sandbox: Sandbox) -> None:
    await upstreams.twilio.send_sms("+12025550111", "other")
    sent = await upstreams.twilio.send_sms(PHONE, "hi")
    found = await upstreams.twilio.list_messages(to=PHONE)
    assert [m.sid for m in found] == [sent.sid]
    assert sandbox.log.last().query == {"To": PHONE, "PageSize": "20"}


async def test_unreachable_twilio_is_unavailable_even_for_a_send(
    http: aiohttp.ClientSession, unused_tcp_port: int
) -> None:
    client = TwilioClient(http, f"http://127.0.0.1:{unused_tcp_port}", "ACx", "t", "+15005550006")
    with pytest.raises(UpstreamUnavailable) as info:
        await client.send_sms(PHONE, "hi")
    assert "cannot connect" in info.value.detail
