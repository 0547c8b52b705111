"""Dead letters as a staff tool: list, show, drop, replay; an unknown-outcome send is looked
up at the provider before it is sent again (never texted twice)."""

from __future__ import annotations

import io
from typing import Any

from redis.asyncio import Redis

from bot.dead import DeadLetters, Replay, run_dead_command
from bot.sandbox import SANDBOX
from bot.sms import SendError
from tests.apphelpers import start_bot, text
from tests.conftest import make_settings
from tests.test_worker import FlakySender, inbound, outbox_empty, run_until, runtime_on

PHONE = "+15555550100"
TWILIO_SEND = "POST /2010-04-01/Accounts/{account_sid}/Messages.json"


async def test_list_show_drop_and_replay(fake_redis: Redis) -> None:
    sender = FlakySender([SendError("invalid number", retryable=False)])
    async with runtime_on(fake_redis, sender=sender) as rt:
        await inbound(rt, "JOIN", "SM1")
        await run_until(rt.new_worker(), outbox_empty(rt))
        letters = DeadLetters(rt.redis, rt.keys)
        [letter] = await letters.list()
        assert not letter.unknown and "invalid number" in letter.reason
        assert "+1******0100" in letter.row() and PHONE not in letter.row()
        shown = await letters.get(letter.id)
        assert shown is not None and shown.detail()["effect"]["phone"] == "+1******0100"
        assert await letters.replay(letter.id) is Replay.QUEUED
        assert await letters.list() == []
        await run_until(rt.new_worker(), outbox_empty(rt))
        assert [phone for phone, _ in sender.sent] == [PHONE]  # sent on replay, once
        assert await letters.replay(letter.id) is Replay.NOT_FOUND
        assert await letters.drop("not-an-id") is False


async def _dead_twilio_send(aiohttp_client: Any, aiohttp_server: Any, failure: str
                            ) -> tuple[DeadLetters, Any, Any]:
    bot, client, sandbox_app = await start_bot(
        aiohttp_client, aiohttp_server, make_settings(sms_sender="twilio"), sender=None)
    sandbox = sandbox_app[SANDBOX]
    sandbox.twilio.fail_next[TWILIO_SEND] = [failure]
    assert (await text(client, "JOIN")).status == 200
    await bot.runtime.settle(timeout=10)
    rt = bot.runtime
    return DeadLetters(rt.redis, rt.keys, rt.upstreams, sender="twilio"), bot, sandbox


async def test_replaying_a_send_that_did_go_out_drops_it_unsent(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    letters, _, sandbox = await _dead_twilio_send(aiohttp_client, aiohttp_server, "lost")
    [letter] = await letters.list()
    assert letter.unknown  # the answer was lost: it may have been sent
    assert len(sandbox.twilio.messages) == 1  # and it was
    assert await letters.replay(letter.id) is Replay.ALREADY_SENT
    assert await letters.list() == [] and len(sandbox.twilio.messages) == 1


async def test_replaying_a_send_confirmed_absent_sends_it_once(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    letters, bot, sandbox = await _dead_twilio_send(aiohttp_client, aiohttp_server, "500")
    [letter] = await letters.list()
    assert letter.unknown and sandbox.twilio.messages == []
    out = io.StringIO()
    status = await run_dead_command(bot.runtime.settings, "list", "", out=out,
                                    runtime=bot.runtime)
    assert status == 0 and letter.id in out.getvalue() and "UNKNOWN" in out.getvalue()
    assert await letters.replay(letter.id) is Replay.QUEUED
    await bot.runtime.settle(timeout=10)
    assert len(sandbox.twilio.messages) == 1
