"""Consent records, the funnel and the subscriber index, all written by the step's own
commit; delivery records from status callbacks; `stats`, `consent` and `/metrics`."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from bot.funnel import day_of
from bot.stats import StatsReader, format_report
from bot.store.ledger import ConsentLedger, to_csv
from bot.store.subscribers import SubscriberIndex
from tests.apphelpers import Bot, start_bot, text
from tests.conftest import make_settings

AnyClient = Any
PHONE = "+15555550100"
OTHER = "+15555550111"


@pytest.fixture
async def bot_client(aiohttp_client: Any, aiohttp_server: Any) -> tuple[Bot, AnyClient]:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    return bot, client


async def join(bot: Bot, client: AnyClient, phone: str) -> None:
    for body in ("JOIN", "YES"):
        assert (await text(client, body, phone)).status == 200
        await bot.runtime.settle()


async def test_opt_in_and_out_are_in_the_ledger_with_the_text_agreed_to(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await join(bot, client, PHONE)
    bot.clock.advance(3600)
    await text(client, "stop", PHONE, sid="SMstop1")
    await bot.runtime.settle()
    ledger = ConsentLedger(bot.runtime.redis, bot.runtime.keys)
    history = await ledger.history(PHONE)
    assert [(c.opted_out, c.keyword) for c in history] == [(False, "OPT-IN:join"),
                                                          (True, "STOP")]
    assert history[0].text == "YES"
    assert history[0].prompt.startswith("civictext: Reply YES")  # the disclosure, as sent
    assert "Msg frequency varies" in history[0].prompt
    stored: Any = await bot.runtime.redis.xrange(
        bot.runtime.keys.consent(bot.runtime.keys.shard(PHONE)))
    assert b"frequency" not in stored[0][1][b"c"]  # each line refers to it: kept once
    assert history[1].message_id == "SMstop1" and history[1].text == "stop"


async def test_ledger_outlives_the_conversation(bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await join(bot, client, PHONE)
    runtime = bot.runtime
    await runtime.redis.delete(runtime.keys.conversation(PHONE))  # as its TTL would
    history = await ConsentLedger(runtime.redis, runtime.keys).history(PHONE)
    assert len(history) == 1 and not history[0].opted_out


async def test_export_since_a_date_is_csv_of_only_later_changes(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await join(bot, client, PHONE)
    bot.clock.advance(2 * 86400)
    cutoff = bot.clock.now()
    await join(bot, client, OTHER)
    changes = await ConsentLedger(bot.runtime.redis, bot.runtime.keys).since(cutoff)
    rows = list(csv.DictReader(io.StringIO(to_csv(changes))))
    assert [(r["phone"], r["change"], r["keyword"]) for r in rows] == [
        (OTHER, "opt-in", "OPT-IN:join")]
    assert rows[0]["time_utc"].endswith("Z") and rows[0]["message_id"].startswith("SM")


async def test_funnel_is_counted_by_the_commit_per_day(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await join(bot, client, PHONE)
    await text(client, "JOIN", OTHER)
    await text(client, "no", OTHER)
    await bot.runtime.settle()
    await text(client, "STOP", PHONE)
    await bot.runtime.settle()
    reader = StatsReader(bot.runtime.redis, bot.runtime.keys)
    today = await reader.day(day_of(bot.clock.now()))
    funnel = today.flows["join"]
    assert funnel.states == {"optin": 2, "confirmed": 1, "declined": 1}
    assert funnel.milestones == {"opted_in": 1, "opted_out": 1}
    total = await reader.day("total")
    assert total.flows["join"].states == funnel.states
    bot.clock.advance(86400)
    tomorrow = await reader.day(day_of(bot.clock.now()))
    assert tomorrow.flows == {}


async def test_duplicate_text_counts_once(bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await text(client, "JOIN", PHONE, sid="SMdup")
    await text(client, "JOIN", PHONE, sid="SMdup")
    await bot.runtime.settle()
    day = await StatsReader(bot.runtime.redis, bot.runtime.keys).day("total")
    assert day.flows["join"].states == {"optin": 1}


async def test_subscribers_are_who_opted_in_and_not_out(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    runtime = bot.runtime
    await join(bot, client, PHONE)
    await join(bot, client, OTHER)
    await text(client, "STOP", OTHER)
    await bot.runtime.settle()
    index = SubscriberIndex(runtime.redis, runtime.keys)
    assert [phone async for phone, _ in index.scan()] == [PHONE]
    assert await index.get(PHONE) == {"flow": "join", "lang": "en"}
    assert await index.get(OTHER) is None
    assert await StatsReader(runtime.redis, runtime.keys).subscribers() == 1


async def test_twilio_status_callbacks_settle_each_text_once(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    deliveries = bot.runtime.deliveries
    await text(client, "JOIN", PHONE)
    await bot.runtime.settle()
    now = bot.clock.now()
    for sid in ("SMa", "SMb", "SMc"):  # texts this bot sent (SMd's callback comes first)
        await deliveries.sent("twilio", sid, PHONE, f"e-{sid}", now)
    for sid, status, code in [("SMa", "sent", ""), ("SMa", "delivered", ""),
                              ("SMa", "delivered", ""), ("SMb", "undelivered", "30003"),
                              ("SMc", "failed", "30003"), ("SMd", "failed", "30006"),
                              ("SMd", "delivered", "")]:
        form = {"MessageSid": sid, "MessageStatus": status, "To": PHONE, "ErrorCode": code}
        assert (await client.post("/webhooks/twilio/status", data=form)).status == 200
    counts = await deliveries.counts(day_of(bot.clock.now()))
    assert counts["delivered"] == 1 and counts["failed"] == 2  # SMd: not known to be ours
    assert counts["failed:30003"] == 2
    await deliveries.sent("twilio", "SMd", PHONE, "e-SMd", now)  # its record comes late
    counts = await deliveries.counts(day_of(bot.clock.now()))
    assert counts["failed"] == 3 and counts["failed:30006"] == 1
    await deliveries.sent("twilio", "SMd", PHONE, "e-SMd", now)  # and is counted once
    assert (await deliveries.counts("total"))["failed"] == 3
    record = await deliveries.get("twilio", "SMd")
    assert record is not None and record.status == "failed" and record.error == "30006"


async def test_every_sent_text_is_recorded_under_the_provider_id(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await text(client, "JOIN", PHONE)
    await bot.runtime.settle()
    counts = await bot.runtime.deliveries.counts("total")
    assert counts["sent"] == 1
    record = await bot.runtime.deliveries.get("memory", "mem-e1")
    assert record is not None and record.phone == PHONE and record.status == "sent"


async def test_stats_report_and_metrics_show_the_totals(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    await join(bot, client, PHONE)
    await bot.runtime.deliveries.sent("twilio", "SMx", PHONE, "e-x", bot.clock.now())
    form = {"MessageSid": "SMx", "MessageStatus": "delivered", "To": PHONE}
    await client.post("/webhooks/twilio/status", data=form)
    reader = StatsReader(bot.runtime.redis, bot.runtime.keys)
    report = format_report(await reader.report(days=2, now=bot.clock.now()))
    assert "subscribers now: 1" in report
    assert "flow join: opted_in=1" in report
    assert "delivered=1 (100.0%)" in report
    body = await (await client.get("/metrics")).text()
    assert 'civictext_funnel_total{flow="join",step="@opted_in"} 1.0' in body
    assert 'civictext_texts_total{status="delivered"} 1.0' in body
    assert "civictext_subscribers 1.0" in body


async def test_quorum_status_is_read_back_and_stored_as_it_comes(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    from bot.quorum_status import poll_once

    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server,
                                     make_settings(sms_sender="quorum"), sender=None)
    await text(client, "JOIN", PHONE)
    await bot.runtime.settle()
    rt = bot.runtime
    assert await poll_once(rt.upstreams.quorum, rt.deliveries, bot.clock) == 1
    record = await rt.deliveries.get("quorum", "1")  # the sandbox's first SendSMS row
    assert record is not None and record.phone == PHONE and record.status == "quorum-1"
    assert await poll_once(rt.upstreams.quorum, rt.deliveries, bot.clock) == 1  # again
    counts = await rt.deliveries.counts("total")
    assert "delivered" not in counts and "failed" not in counts  # labels unpublished
    assert counts["quorum:1"] == 1  # one text seen in status 1, however often it is read
    await rt.deliveries.status("quorum", "1", "quorum-4", "", bot.clock.now())
    assert (await rt.deliveries.counts("total"))["quorum:4"] == 1
    reader = StatsReader(rt.redis, rt.keys)
    report = format_report(await reader.report(days=1, now=bot.clock.now()))
    assert "unknown status 1=1, unknown status 4=1" in report
    assert "delivered=0 (-)" in report  # no rate made up from them
    body = await (await client.get("/metrics")).text()
    assert 'civictext_texts_quorum_status_total{status="1"} 1.0' in body


async def test_the_profile_learns_a_campaign_and_a_zip_and_keeps_what_it_knew(
        any_redis: Any, key_prefix: str) -> None:
    from bot.models import ConsentChange, Conversation, Step
    from bot.store import ConversationStore, Keys
    from tests.conftest import drop_prefix

    keys = Keys(prefix=key_prefix, shards=4)
    store, index = ConversationStore(any_redis, keys, ttl=3600), SubscriberIndex(any_redis, keys)
    try:
        conv = Conversation(phone=PHONE, flow="advocacy", state="optin", lang="es")
        opt_in = ConsentChange(at=1.0, phone=PHONE, keyword="OPT-IN:advocacy", text="SI",
                               message_id="SM1", provider="twilio", opted_out=False)
        moved = conv.model_copy(update={"state": "send_code"})
        await store.commit(conv, Step(conversation=moved, consent=[opt_in]))
        assert await index.get(PHONE) == {"flow": "advocacy", "lang": "es"}
        before = moved.model_copy(update={"version": 1})
        learnt = before.model_copy(update={"vars": {"campaign_id": 101, "zip5": "20001"},
                                           "flow": None, "state": None})
        await store.commit(before, Step(conversation=learnt))
        assert await index.get(PHONE) == {"flow": "advocacy", "lang": "es", "campaign": "101",
                                          "zip": "20001"}
        stranger = Conversation(phone=OTHER, vars={"zip5": "10001"})
        await store.commit(Conversation(phone=OTHER), Step(conversation=stranger))
        assert await index.get(OTHER) is None  # never opted in: learning adds nobody
    finally:
        await drop_prefix(any_redis, key_prefix)
