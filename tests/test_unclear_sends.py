"""A send that ended unclearly is looked up at the provider before anything else: found
means sent (never twice), confirmed absent means sent again, still unknown means a dead
letter marked unknown."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dead import DeadLetters
from bot.sandbox import SANDBOX
from tests.apphelpers import start_bot, text
from tests.conftest import make_settings

PHONE = "+15555550100"
TWILIO_SEND = "POST /2010-04-01/Accounts/{account_sid}/Messages.json"
TELESIGN_SEND = "POST /v1/messaging"
QUORUM_SEND = "POST /sendsms/send_individual_sms/"


async def _join(aiohttp_client: Any, aiohttp_server: Any, sender: str, route: str,
                failures: list[int | str], **settings: Any) -> tuple[Any, Any]:
    bot, client, sandbox_app = await start_bot(
        aiohttp_client, aiohttp_server, make_settings(sms_sender=sender, **settings),
        sender=None)
    sandbox = sandbox_app[SANDBOX]
    sandbox.service(sender).fail_next[route] = failures
    sandbox.service(sender).hang_seconds = 1.0
    assert (await text(client, "JOIN")).status == 200
    await bot.runtime.settle(timeout=10)
    return bot, sandbox


async def _dead(bot: Any) -> list[Any]:
    rt = bot.runtime
    return await DeadLetters(rt.redis, rt.keys).list()


async def test_an_unclear_twilio_send_that_went_out_is_not_sent_again(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, sandbox = await _join(aiohttp_client, aiohttp_server, "twilio", TWILIO_SEND,
                               ["lost"])
    assert len(sandbox.twilio.messages) == 1  # sent once, found by the lookup
    assert await _dead(bot) == []


async def test_a_twilio_send_that_timed_out_is_sent_exactly_once(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, sandbox = await _join(aiohttp_client, aiohttp_server, "twilio", TWILIO_SEND,
                               ["timeout"], upstream_timeout=0.3)
    assert len(sandbox.twilio.messages) == 1
    assert await _dead(bot) == []


@pytest.mark.parametrize("failures", [[500], [500, 504], [500, 500]])
async def test_an_unclear_twilio_send_confirmed_absent_is_sent_again_once(
        aiohttp_client: Any, aiohttp_server: Any, failures: list[int | str]) -> None:
    bot, sandbox = await _join(aiohttp_client, aiohttp_server, "twilio", TWILIO_SEND,
                               failures)
    assert len(sandbox.twilio.messages) == 1
    assert await _dead(bot) == []


async def test_an_unclear_send_nobody_can_look_up_is_dead_and_marked_unknown(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, _ = await _join(aiohttp_client, aiohttp_server, "telesign", TELESIGN_SEND, ["lost"])
    [letter] = await _dead(bot)
    assert letter.unknown and letter.effect.type == "send_sms"


async def test_an_unclear_quorum_send_that_went_out_is_not_sent_again(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, sandbox = await _join(aiohttp_client, aiohttp_server, "quorum", QUORUM_SEND,
                               ["lost"])
    assert len(sandbox.quorum.sends) == 1  # sent once, found among its recent sends
    assert _lookups(sandbox) == 1
    assert await _dead(bot) == []


@pytest.mark.parametrize("failures", [[500], [500, 500], ["timeout"]])
async def test_an_unclear_quorum_send_confirmed_absent_is_sent_again_once(
        aiohttp_client: Any, aiohttp_server: Any, failures: list[int | str]) -> None:
    unclear = len(failures)
    bot, sandbox = await _join(aiohttp_client, aiohttp_server, "quorum", QUORUM_SEND,
                               failures, upstream_timeout=0.3)
    assert len(sandbox.quorum.sends) == 1
    assert _lookups(sandbox) == unclear  # each unclear end looked up before the next try
    assert await _dead(bot) == []


def _lookups(sandbox: Any) -> int:
    """Quorum's recent-sends lookups after the first send (the start-up check lists it too)."""
    log = list(sandbox.log)
    first = log.index("POST /quorum/sendsms/send_individual_sms/")
    return log[first:].count("GET /quorum/sendsms/")
