"""POST /webhooks/twilio/sms and /status through the real app (fakeredis, memory sender)."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.store import Keys
from tests.apphelpers import Bot, build_bot, new_sid, start_bot, text
from tests.conftest import drop_prefix, make_settings, twilio_signer

PHONE = "+15555550100"
AnyClient = TestClient[Any, Any]


@pytest.fixture
async def bot_client(aiohttp_client: Any, aiohttp_server: Any) -> tuple[Bot, AnyClient]:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings())
    return bot, client


async def test_keyword_flow_end_to_end(bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    resp = await text(client, "join")
    assert resp.status == 200
    assert resp.content_type == "text/xml"
    assert (await resp.text()).endswith("<Response/>")
    await bot.runtime.settle()
    [optin] = bot.texts_to(PHONE)
    for needed in ("civictext", "Msg frequency varies", "Msg & data rates may apply", "HELP",
                   "STOP"):
        assert needed in optin
    await text(client, "Yes!")
    await bot.runtime.settle()
    assert bot.texts_to(PHONE)[1].startswith("Thanks, you're in!")
    conv = (await bot.runtime.store.load(PHONE)).conversation
    assert conv.flow is None and conv.texts_in == 2
    log = await bot.runtime.consent.history(PHONE)
    assert [(c.keyword, c.text, c.provider) for c in log] == [("OPT-IN:join", "Yes!", "twilio")]


async def test_same_message_posted_twice_is_applied_and_sent_once(
        bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    sid = new_sid()
    first, second = await text(client, "JOIN", sid=sid), await text(client, "JOIN", sid=sid)
    assert (first.status, second.status) == (200, 200)
    await bot.runtime.settle()
    conv = (await bot.runtime.store.load(PHONE)).conversation
    assert conv.texts_in == 1 and conv.version == 1
    assert len(bot.texts_to(PHONE)) == 1


async def fifty_at_once(redis: Redis, keys: Keys, aiohttp_client: Any,
                        aiohttp_server: Any) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings(),
                                     redis=redis, keys=keys)
    replies = await asyncio.gather(*(text(client, f"hello {n}") for n in range(50)))
    assert sorted(r.status for r in replies) == [200] * 50
    await bot.runtime.settle(timeout=20)
    conv = (await bot.runtime.store.load(PHONE)).conversation
    assert conv.texts_in == 50 and conv.version == 50
    # Fifty identical hints to one phone: the loop guard lets 20 through and holds the rest.
    assert len(bot.texts_to(PHONE)) == 20


async def test_fifty_texts_from_one_phone_at_once_fakeredis(aiohttp_client: Any,
                                                            aiohttp_server: Any) -> None:
    await fifty_at_once(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), Keys(shards=4),
                        aiohttp_client, aiohttp_server)


@pytest.mark.integration
async def test_fifty_texts_from_one_phone_at_once_real_redis(
        aiohttp_client: Any, aiohttp_server: Any, real_redis: Redis, key_prefix: str) -> None:
    try:
        await fifty_at_once(real_redis, Keys(prefix=key_prefix, shards=4), aiohttp_client,
                            aiohttp_server)
    finally:
        await drop_prefix(real_redis, key_prefix)


@pytest.mark.parametrize("where", ["idle", "optin", "after-reprompt", "after-help", "done"])
async def test_stop_from_every_state_stops_every_later_send(
        bot_client: tuple[Bot, AnyClient], where: str) -> None:
    bot, client = bot_client
    setup = {"idle": [], "optin": ["JOIN"], "after-reprompt": ["JOIN", "maybe"],
             "after-help": ["JOIN", "HELP"], "done": ["JOIN", "YES"]}[where]
    for body in setup:
        await text(client, body)
    await bot.runtime.settle()
    sent_before = len(bot.sender.sent)
    await text(client, "STOP")
    await bot.runtime.settle()
    assert len(bot.sender.sent) == sent_before + 1
    assert "unsubscribed" in bot.sender.sent[-1][1]
    # Issue 9: only what the voter asks for: JOIN/UNETE get the opt-in question (once each),
    # HELP its answer; nothing else, no timer, no flow text (not START/YES: they opt in).
    for body in ("JOIN", "HELP", "hello", "STOP", "UNETE", "no"):
        assert (await text(client, body)).status == 200
    bot.clock.advance(2 * 86400)  # any timer the flow had set is long due
    await bot.timers.tick()
    await bot.runtime.settle()
    after = [body.split(":")[1].split(".")[0].strip()
             for _, body in bot.sender.sent[sent_before + 1:]]
    # The HELP answer goes in the urgent lane: it may overtake the opt-in question before it.
    assert sorted(after) == sorted(["Reply YES to get advocacy alerts", "advocacy alerts",
                                    "Responda SI para recibir alertas de accion"])
    assert [b for b in after if b != "advocacy alerts"] == [
        "Reply YES to get advocacy alerts", "Responda SI para recibir alertas de accion"]
    assert await bot.runtime.consent.is_opted_out(PHONE)


async def test_texts_queued_before_stop_are_never_sent(aiohttp_client: Any,
                                                       aiohttp_server: Any) -> None:
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server,
                                     make_settings(run_worker=False))
    await text(client, "JOIN")  # its opt-in text waits in the outbox
    await text(client, "STOP")
    worker = bot.runtime.new_worker()
    task = asyncio.create_task(worker.run())
    try:
        await bot.runtime.settle()
    finally:
        worker.stop()
        await task
    assert [body for _, body in bot.sender.sent] == [
        "civictext: You are unsubscribed and will get no more messages. "
        "Reply START to resubscribe."]


async def test_bad_signature_is_refused_and_changes_nothing(aiohttp_client: Any) -> None:
    token = "test-auth-token-123"
    bot = build_bot(make_settings(twilio_auth_token=token))
    client = await aiohttp_client(bot.app)
    sid = new_sid()
    resp = await text(client, "JOIN", sid=sid, signature="bm90IHRoZSBzaWduYXR1cmU=")
    assert resp.status == 403
    unsigned = await text(client, "JOIN", sid=new_sid())
    assert unsigned.status == 403
    redis = bot.runtime.redis
    assert await _phone_keys(redis) == []
    assert await bot.runtime.outbox.pending_count() == 0
    assert bot.sender.sent == []
    # The same request signed by Twilio's own RequestValidator goes through.
    form = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": PHONE,
            "To": "+15555550199", "Body": "JOIN", "NumMedia": "0"}
    url = str(client.make_url("/webhooks/twilio/sms"))
    signature = twilio_signer(token)(url, form)
    ok = await client.post("/webhooks/twilio/sms", data=form,
                           headers={"X-Twilio-Signature": signature})
    assert ok.status == 200


async def _phone_keys(redis: Any) -> list[bytes]:
    """Every key but those that exist before any text: the outbox streams (with their
    group), the workers' shard leases and roll, and the record of the shard count."""
    before_any_text = (b"ct:outbox:", b"ct:lease:", b"ct:workers", b"ct:meta:")
    return [k for k in await redis.keys("*") if not k.startswith(before_any_text)]


async def test_signature_checked_against_public_base_url(aiohttp_client: Any) -> None:
    token = "another-token"
    public = "https://sms.example.org"
    bot = build_bot(make_settings(twilio_auth_token=token, public_base_url=public))
    client = await aiohttp_client(bot.app)
    form = {"MessageSid": new_sid(), "From": PHONE, "To": "+15555550199", "Body": "JOIN"}
    sign = twilio_signer(token)
    good = sign(f"{public}/webhooks/twilio/sms?src=ad", form)
    local = sign(str(client.make_url("/webhooks/twilio/sms?src=ad")), form)
    bad = await client.post("/webhooks/twilio/sms?src=ad", data=form,
                            headers={"X-Twilio-Signature": local})
    assert bad.status == 403
    resp = await client.post("/webhooks/twilio/sms?src=ad", data=form,
                             headers={"X-Twilio-Signature": good})
    assert resp.status == 200


async def test_redis_down_gives_503_and_nothing_half_written(aiohttp_client: Any,
                                                             aiohttp_server: Any) -> None:
    server = fakeredis.FakeServer()
    bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, make_settings(),
                                     redis=fakeredis.FakeAsyncRedis(server=server))
    await text(client, "JOIN")
    await bot.runtime.settle()
    before = await bot.runtime.store.load(PHONE)
    server.connected = False
    sid = new_sid()
    down = await text(client, "YES", sid=sid)
    assert down.status == 503 and down.headers["Retry-After"]
    ready = await client.get("/readyz")
    assert ready.status == 503
    server.connected = True
    after = await bot.runtime.store.load(PHONE, f"twilio:{sid}")
    assert after.conversation == before.conversation and not after.seen
    retried = await text(client, "YES", sid=sid)  # the provider's retry
    assert retried.status == 200
    await bot.runtime.settle()
    assert bot.texts_to(PHONE)[-1].startswith("Thanks, you're in!")


@pytest.mark.integration
async def test_unreachable_redis_server_gives_503(aiohttp_client: Any) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0", redis_pool_timeout=0.5,
                             run_worker=False)
    from bot.redis_conn import make_redis

    bot = build_bot(settings, redis=make_redis(settings))
    client = await aiohttp_client(bot.app)
    resp = await text(client, "JOIN")
    assert resp.status == 503
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize(
    ("form", "content_type"),
    [({"Body": "JOIN", "MessageSid": "SM1"}, None),
     ({"From": PHONE, "Body": "JOIN"}, None),
     ({"From": PHONE, "Body": "x" * 1601, "MessageSid": "SM1"}, None),
     ({"From": PHONE, "Body": "JOIN", "MessageSid": "SM1"}, "application/json")],
    ids=["no-from", "no-sid", "body-too-long", "json-body"],
)
async def test_malformed_webhook_gets_400(bot_client: tuple[Bot, AnyClient],
                                          form: dict[str, str], content_type: str | None) -> None:
    bot, client = bot_client
    if content_type == "application/json":
        resp = await client.post("/webhooks/twilio/sms", json=form)
    else:
        resp = await client.post("/webhooks/twilio/sms", data=form)
    assert resp.status == 400
    assert (await resp.json())["error"] == "bad request"


async def test_invalid_sender_number_gets_no_conversation(bot_client: tuple[Bot, AnyClient]
                                                          ) -> None:
    bot, client = bot_client
    resp = await text(client, "JOIN", phone="12345")
    assert resp.status == 200
    await bot.runtime.settle()
    assert bot.sender.sent == []


async def test_health_ready_and_metrics(bot_client: tuple[Bot, AnyClient]) -> None:
    bot, client = bot_client
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    await text(client, "JOIN")
    metrics = await (await client.get("/metrics")).text()
    assert 'civictext_inbound_total{outcome="ok",provider="twilio"} 1.0' in metrics


async def test_status_callback_21610_opts_the_phone_out(bot_client: tuple[Bot, AnyClient]
                                                        ) -> None:
    bot, client = bot_client
    await text(client, "JOIN")
    await bot.runtime.settle()
    resp = await client.post("/webhooks/twilio/status", data={
        "MessageSid": new_sid(), "MessageStatus": "failed", "ErrorCode": "21610", "To": PHONE})
    assert resp.status == 200
    assert await bot.runtime.consent.is_opted_out(PHONE)
    await text(client, "maybe")  # an answer to the opt-in question, now never answered
    await bot.runtime.settle()
    assert len(bot.texts_to(PHONE)) == 1  # the opt-in only; nothing after the carrier block


async def test_unknown_delivery_status_is_ignored_with_200(bot_client: tuple[Bot, AnyClient]
                                                           ) -> None:
    _, client = bot_client
    resp = await client.post("/webhooks/twilio/status",
                             data={"MessageSid": new_sid(), "MessageStatus": "teleported"})
    assert resp.status == 200 and await resp.text() == "ignored"


async def test_twilio_sender_delivers_and_21610_marks_the_phone_opted_out(
        aiohttp_client: Any, aiohttp_server: Any) -> None:
    from bot.sandbox import SANDBOX

    settings = make_settings(sms_sender="twilio", sms_from="MG" + "0" * 32)
    bot, client, sandbox_app = await start_bot(aiohttp_client, aiohttp_server, settings,
                                               sender=None)
    sandbox = sandbox_app[SANDBOX]
    await text(client, "JOIN")
    await bot.runtime.settle()
    sent = [r for r in sandbox.log.requests if r.service == "twilio"]
    assert [r.body["To"] for r in sent] == [PHONE]
    assert sent[0].body["MessagingServiceSid"] == "MG" + "0" * 32
    blocked = "+15005550004"  # the Twilio sandbox's opted-out-at-the-carrier number
    await text(client, "JOIN", phone=blocked)
    await bot.runtime.settle()
    assert await bot.runtime.consent.is_opted_out(blocked)
    consent = await bot.runtime.consent.history(blocked)
    assert [(c.keyword, c.opted_out) for c in consent] == [("CARRIER-OPTOUT", True)]
    await text(client, "hello", phone=blocked)
    await bot.runtime.settle()
    assert len([r for r in sandbox.log.requests if r.service == "twilio"]) == 2


@pytest.mark.integration
async def test_overload_queues_for_a_redis_connection_instead_of_failing(
        aiohttp_client: Any, aiohttp_server: Any, real_redis: Redis, key_prefix: str) -> None:
    from bot.redis_conn import make_redis
    from tests.conftest import REDIS_TEST_URL

    settings = make_settings(redis_url=REDIS_TEST_URL, redis_pool_size=2, run_worker=False)
    pooled = make_redis(settings)
    try:
        bot, client, _ = await start_bot(aiohttp_client, aiohttp_server, settings,
                                         redis=pooled, keys=Keys(prefix=key_prefix, shards=4))
        phones = [f"+1555555{n:04d}" for n in range(100, 140)]  # 40 phones, 2 connections
        replies = await asyncio.gather(*(text(client, "JOIN", phone) for phone in phones))
        assert [r.status for r in replies] == [200] * len(phones)
        for phone in phones:
            assert (await bot.runtime.store.load(phone)).conversation.state == "optin"
    finally:
        await pooled.aclose()
        await drop_prefix(real_redis, key_prefix)
