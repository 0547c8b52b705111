"""WhatCounts client against its sandbox: subscribe, stop, and the 500-is-business rule."""

from __future__ import annotations

import aiohttp
import pytest

from bot.sandbox import Sandbox
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams, WhatCountsClient
from bot.upstream.errors import UpstreamAuthFailed, UpstreamRejected, UpstreamUnavailable

PHONE = "+12025550100"
ROUTE = "POST /rest/sms/addPhoneToSenderCode/{phone}/{sender_code}"


def client(http: aiohttp.ClientSession, root: str, **kw: str) -> WhatCountsClient:
    return WhatCountsClient(
        http, root + "/whatcounts",
        realm=kw.get("realm", cred.WHATCOUNTS_REALM),
        password=kw.get("password", cred.WHATCOUNTS_PASSWORD),
        sender_code=kw.get("sender_code", cred.WHATCOUNTS_SENDER_CODE),
    )


async def test_subscribe_then_already_exists(upstreams: Upstreams, sandbox: Sandbox) -> None:
    assert upstreams.whatcounts is not None
    first = await upstreams.whatcounts.subscribe(PHONE, idempotency_key="eff-1")
    assert not first.already and first.subscription is not None
    assert first.subscription.smsGroupId == 42
    again = await upstreams.whatcounts.subscribe(PHONE)
    assert again.already
    path = f"/whatcounts/rest/sms/addPhoneToSenderCode/2025550100/{cred.WHATCOUNTS_SENDER_CODE}"
    assert sandbox.log == [f"POST {path}"] * 2
    request = sandbox.log.last()
    assert request.query == {"groupName": cred.WHATCOUNTS_GROUP}
    assert request.headers["Accept"] == "application/vnd.whatcounts-v1+json"
    assert request.body is None


async def test_stop_then_nothing_to_stop(upstreams: Upstreams, sandbox: Sandbox) -> None:
    assert upstreams.whatcounts is not None
    await upstreams.whatcounts.subscribe(PHONE)
    assert (await upstreams.whatcounts.stop(PHONE)).stopped
    assert not (await upstreams.whatcounts.stop(PHONE)).stopped
    assert sandbox.log[-1].startswith("POST /whatcounts/rest/sms/stopSubscriberSend/2025550100/")
    assert not (await upstreams.whatcounts.subscribe(PHONE)).already  # START resumes


async def test_unknown_sender_code_is_a_business_500(
    http: aiohttp.ClientSession, sandbox_root: str
) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await client(http, sandbox_root, sender_code="1").subscribe(PHONE)
    assert info.value.status == 500 and "Error getting sender" in info.value.detail
    assert not isinstance(info.value, UpstreamUnavailable)


async def test_wrong_password(http: aiohttp.ClientSession, sandbox_root: str) -> None:
    with pytest.raises(UpstreamAuthFailed) as info:
        await client(http, sandbox_root, password="nope").subscribe(PHONE)
    assert info.value.status == 401


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (503, UpstreamUnavailable),
        (502, UpstreamUnavailable),
        ("timeout", UpstreamUnavailable),  # a repeat is harmless ("already exists")
        (500, UpstreamRejected),  # a business error body: not retried
        ("server-error", UpstreamUnavailable),  # a 500 saying only "Internal Server Error"
        (429, UpstreamUnavailable),
    ],
)
async def test_errors(
    upstreams: Upstreams, hasty: Upstreams, sandbox: Sandbox, kind: int | str,
    error: type[Exception]
) -> None:
    failing = (hasty if kind == "timeout" else upstreams).whatcounts
    assert failing is not None
    sandbox.whatcounts.fail_next[ROUTE] = [kind]
    with pytest.raises(error) as info:
        await failing.subscribe(PHONE)
    if error is UpstreamUnavailable:
        assert not isinstance(info.value, UpstreamRejected)


async def test_business_500s_do_not_open_the_breaker(upstreams: Upstreams,
                                                     sandbox: Sandbox) -> None:
    """WhatCounts answers "nothing to stop" and "already exists" with HTTP 500: it is up
    and said no, so a run of them (a STOP wave of phones never subscribed) leaves the
    breaker closed, while a run of gateway 503s opens it."""
    whatcounts = upstreams.whatcounts
    assert whatcounts is not None and whatcounts.breaker is not None
    threshold = whatcounts.breaker.threshold
    for n in range(threshold + 2):
        assert not (await whatcounts.stop(f"+1202555{n:04d}")).stopped
    assert whatcounts.breaker.state.name == "CLOSED"
    sandbox.whatcounts.fail_next["POST /rest/sms/stopSubscriberSend/{phone}/{sender_code}"] = (
        [503] * threshold)
    for _ in range(threshold):
        with pytest.raises(UpstreamUnavailable):
            await whatcounts.stop(PHONE)
    assert whatcounts.breaker.state.name == "OPEN"
