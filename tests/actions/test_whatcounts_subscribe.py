"""`whatcounts_subscribe`: subscribe, already subscribed, not configured, failures."""

from __future__ import annotations

import dataclasses

import pytest

from bot.sandbox import credentials
from bot.upstream.errors import UpstreamUnavailable
from tests.actions.conftest import PHONE10, Env

SUBSCRIBE = "whatcounts_subscribe"
ROUTE = "POST /rest/sms/addPhoneToSenderCode/{phone}/{sender_code}"
CALL = f"POST /whatcounts/rest/sms/addPhoneToSenderCode/{PHONE10}/2025550199"


async def test_subscribes_the_phone_to_the_sender_code(env: Env) -> None:
    outcome = await env.run(SUBSCRIBE)
    assert (outcome.ok, outcome.reason) == (True, None)
    assert outcome.data == {"whatcounts_subscribed": True, "whatcounts_already": False}
    assert env.calls() == [CALL]
    assert env.sandbox.log.last().query == {"groupName": credentials.WHATCOUNTS_GROUP}
    sub = env.sandbox.whatcounts.subscriptions[(PHONE10, credentials.WHATCOUNTS_SENDER_CODE)]
    assert sub["stopped"] is False


async def test_already_subscribed_counts_as_success(env: Env) -> None:
    await env.run(SUBSCRIBE)
    outcome = await env.run(SUBSCRIBE)
    assert outcome.ok
    assert outcome.data["whatcounts_already"] is True
    assert env.calls() == [CALL, CALL]


async def test_not_configured_is_skipped_without_a_call(env: Env) -> None:
    env.upstreams = dataclasses.replace(env.upstreams, whatcounts=None)
    outcome = await env.run(SUBSCRIBE)
    assert (outcome.ok, outcome.reason) == (True, "skipped")
    assert env.sandbox.log == []


async def test_business_error_is_rejected(env: Env) -> None:
    env.sandbox.whatcounts.fail_next[ROUTE] = [500]
    outcome = await env.run(SUBSCRIBE)
    assert (outcome.ok, outcome.reason) == (False, "rejected")


async def test_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.sandbox.whatcounts.fail_next[ROUTE] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(SUBSCRIBE)
