"""The senders `SMS_SENDER` may name: each delivers through its client (here against its
sandbox) and answers the provider's message id; failures reach the worker typed."""

from __future__ import annotations

from typing import get_args

import pytest

from bot.config import Settings
from bot.sandbox import Sandbox
from bot.senders import SENDERS, UpstreamSender
from bot.sms import SendError
from bot.upstream import Upstreams
from bot.upstream.errors import RecipientOptedOut

PHONE = "+12025550143"
#: The route of each provider's send in its sandbox (the key of `fail_next`).
SEND_ROUTES = {
    "twilio": "POST /2010-04-01/Accounts/{account_sid}/Messages.json",
    "telesign": "POST /v1/messaging",
    "quorum": "POST /sendsms/send_individual_sms/",
}


def test_every_provider_sender_is_in_the_table() -> None:
    names = set(get_args(Settings.model_fields["sms_sender"].annotation)) - {"console"}
    assert set(SENDERS) == names == set(SEND_ROUTES)


@pytest.mark.parametrize("name", sorted(SENDERS))
async def test_each_sender_delivers_and_answers_the_provider_id(
        name: str, upstreams: Upstreams, sandbox: Sandbox) -> None:
    sender = UpstreamSender(name, upstreams, SENDERS[name])
    message_id = await sender.send(PHONE, "hello", idempotency_key="fx1")
    sent = [r for r in sandbox.log.requests if r.route == SEND_ROUTES[name]]
    assert len(sent) == 1
    assert message_id and message_id != "fx1"  # the provider's own id, not our key


@pytest.mark.parametrize("name", sorted(SENDERS))
async def test_try_later_is_retryable_and_unclear_is_not(
        name: str, upstreams: Upstreams, sandbox: Sandbox) -> None:
    sender = UpstreamSender(name, upstreams, SENDERS[name])
    sandbox.service(name).fail_next[SEND_ROUTES[name]] = [503]
    with pytest.raises(SendError) as down:
        await sender.send(PHONE, "hello", idempotency_key="fx1")
    assert down.value.retryable
    sandbox.service(name).fail_next[SEND_ROUTES[name]] = ["lost"]  # sent, answer lost
    with pytest.raises(SendError) as unclear:
        await sender.send(PHONE, "hello", idempotency_key="fx2")
    assert not unclear.value.retryable  # a text is never sent twice blindly


async def test_a_carrier_opt_out_passes_through_as_the_one_class(upstreams: Upstreams) -> None:
    sender = UpstreamSender("twilio", upstreams, SENDERS["twilio"])
    with pytest.raises(RecipientOptedOut):
        await sender.send("+15005550004", "hello", idempotency_key="fx1")
