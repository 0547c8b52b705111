"""Dead letters as a staff tool: list, show, drop, replay; an unknown-outcome send is looked
up at the provider before it is sent again (never texted twice)."""

from __future__ import annotations

import io
import json
from typing import Any

from redis.asyncio import Redis

from bot.dead import DeadLetters, Replay, run_dead_command
from bot.models import SendSms
from bot.sandbox import SANDBOX
from bot.sandbox import credentials as cred
from bot.sms import SendError
from bot.store import Entry
from bot.store.delivery import ExternalIds
from tests.apphelpers import start_bot, text
from tests.conftest import make_settings
from tests.test_worker import FlakySender, inbound, outbox_empty, run_until, runtime_on
from webhooks.telesign_callbacks import callback_authorization

PHONE = "+15555550100"
TS_CUSTOMER, TS_KEY = cred.TELESIGN_CUSTOMER_ID, cred.TELESIGN_API_KEY


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


async def _twilio_bot(aiohttp_client: Any, aiohttp_server: Any, sender: str = "twilio"
                      ) -> tuple[Any, Any, Any]:
    bot, client, sandbox_app = await start_bot(
        aiohttp_client, aiohttp_server, make_settings(sms_sender=sender), sender=None)
    return bot, client, sandbox_app[SANDBOX]


async def _unknown_letter(bot: Any, body: str) -> DeadLetters:
    """A send the worker gave up on with its outcome unknown, as it records one."""
    rt = bot.runtime
    effect = SendSms(id="fx-unclear-1", phone=PHONE, body=body)
    entry = Entry(shard=rt.keys.shard(PHONE), entry_id="0-1", effects=[effect])
    await rt.outbox.dead_letter(entry, effect, "outcome unknown", unknown=True)
    return DeadLetters(rt.redis, rt.keys, rt.upstreams, sender=rt.settings.sms_sender)


async def test_replaying_a_send_that_did_go_out_drops_it_unsent(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, _, sandbox = await _twilio_bot(aiohttp_client, aiohttp_server)
    await bot.runtime.upstreams.twilio.send_sms(PHONE, "went out", idempotency_key="k")
    letters = await _unknown_letter(bot, "went out")
    [letter] = await letters.list()
    assert letter.unknown
    assert await letters.replay(letter.id) is Replay.ALREADY_SENT
    assert await letters.list() == [] and len(sandbox.twilio.messages) == 1


async def test_replaying_a_send_confirmed_absent_sends_it_once(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, _, sandbox = await _twilio_bot(aiohttp_client, aiohttp_server)
    letters = await _unknown_letter(bot, "never went out")
    [letter] = await letters.list()
    out = io.StringIO()
    status = await run_dead_command(bot.runtime.settings, "list", "", out=out,
                                    runtime=bot.runtime)
    assert status == 0 and letter.id in out.getvalue() and "UNKNOWN" in out.getvalue()
    assert await letters.replay(letter.id) is Replay.QUEUED
    await bot.runtime.settle(timeout=10)
    assert [m["body"] for m in sandbox.twilio.messages] == ["never went out"]


async def test_a_send_nobody_can_look_up_stays_until_forced(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    bot, _, sandbox = await _twilio_bot(aiohttp_client, aiohttp_server, sender="telesign")
    letters = await _unknown_letter(bot, "unclear")
    [letter] = await letters.list()
    assert await letters.replay(letter.id) is Replay.STILL_UNKNOWN
    assert [x.id for x in await letters.list()] == [letter.id]
    assert await letters.replay(letter.id, force=True) is Replay.QUEUED


async def test_a_telesign_send_is_found_once_its_delivery_report_names_it(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    settings = make_settings(sms_sender="telesign", telesign_customer_id=TS_CUSTOMER,
                             telesign_api_key=TS_KEY, allow_unsigned_webhooks=True)
    bot, client, sandbox_app = await start_bot(aiohttp_client, aiohttp_server, settings,
                                               sender=None)
    sandbox = sandbox_app[SANDBOX]
    sandbox.telesign.fail_next["POST /v1/messaging"] = ["lost"]  # sent, answer lost
    assert (await text(client, "JOIN")).status == 200
    await bot.runtime.settle(timeout=10)
    rt = bot.runtime
    letters = DeadLetters(rt.redis, rt.keys, rt.upstreams, sender="telesign")
    [letter] = await letters.list()  # no report yet: TeleSign cannot be asked
    assert letter.unknown and await letters.replay(letter.id) is Replay.STILL_UNKNOWN
    [message] = sandbox.telesign.messages
    assert message["external_id"] == letter.effect.id
    report = json.dumps({
        "reference_id": message["reference_id"], "sub_resource": "sms", "errors": [],
        "status": {"code": 200, "description": "Delivered to handset"},
        "external_id": letter.effect.id}).encode()
    answer = await client.post("/webhooks/telesign/status", data=report, headers={
        "Authorization": callback_authorization(TS_CUSTOMER, TS_KEY, report),
        "Content-Type": "application/json"})
    assert answer.status == 200
    assert await letters.replay(letter.id) is Replay.ALREADY_SENT
    await rt.settle(timeout=10)
    assert await letters.list() == [] and len(sandbox.telesign.messages) == 1


async def test_the_sandbox_reports_each_message_and_the_webhook_remembers_our_id(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    settings = make_settings(sms_sender="telesign", telesign_customer_id=TS_CUSTOMER,
                             telesign_api_key=TS_KEY, allow_unsigned_webhooks=True)
    bot, client, sandbox_app = await start_bot(aiohttp_client, aiohttp_server, settings,
                                               sender=None)
    reports = sandbox_app[SANDBOX].telesign.reports
    reports.url = str(client.make_url("/webhooks/telesign/status"))
    sent = await bot.runtime.upstreams.telesign.send_sms(PHONE, "hi", external_id="fx-9")
    await reports.drain()
    assert reports.posted == 1  # signed as TeleSign signs: our webhook answered 200
    ids = ExternalIds(bot.runtime.redis, bot.runtime.keys)
    assert await ids.reference_of("telesign", "fx-9") == sent.reference_id
