"""The hot-path changes made for issue 5 (see docs/performance.md) keep their contracts:

one round trip per inbound when the store's guess is right, and the same outcome when it is
wrong; one phone's texts take turns; the send guard and the acknowledgements in fewer round
trips; short dedup keys; the parser-free phone paths agree with the parser; the webhook
still answers 503 when Redis stops answering.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import phonenumbers
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot import phone as phone_mod
from bot import redis_conn
from bot.clock import FrozenClock, SequentialIds
from bot.core import Core
from bot.engine import Rules
from bot.metrics import Metrics
from bot.models import Conversation, Inbound, SendSms, Step
from bot.redis_conn import make_redis
from bot.runtime import load_flows
from bot.store import ConsentStore, ConversationStore, Keys, Outbox, RecentConversations, layout
from tests.apphelpers import build_bot
from tests.conftest import ROOT, make_settings, twilio_signer
from webhooks import common
from webhooks.twilio import compute_signature

PHONE = "+15555550100"


@pytest.fixture
def redis() -> Redis:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


def make_core(redis: Redis) -> Core:
    flows = load_flows(make_settings(flow_path=ROOT / "tests" / "flows" / "join.yaml"))
    store = ConversationStore(redis, Keys(prefix="fast", shards=4), ttl=3600)
    return Core(flows=flows, rules=Rules(), store=RecentConversations(store), clock=FrozenClock(),
                ids=SequentialIds(), metrics=Metrics())


def text(body: str, n: int, phone: str = PHONE) -> Inbound:
    return Inbound(provider="twilio", message_id=f"SM{n}", phone=phone, body=body,
                   received_at=1_764_000_000.0)


def no_load(store: RecentConversations) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("loaded: the guess should have been enough")

    store.load = refuse  # type: ignore[method-assign]


def cas_retries(core: Core) -> float:
    return core.metrics.registry.get_sample_value("civictext_cas_retries_total") or 0.0


class TestOneRoundTrip:
    async def test_new_phone_and_its_next_texts_need_no_load(self, redis: Redis) -> None:
        core = make_core(redis)
        no_load(core.store)
        first = await core.apply(PHONE, text("JOIN", 1), dedup="twilio:SM1")
        second = await core.apply(PHONE, text("YES", 2), dedup="twilio:SM2")
        assert first.step is not None and first.step.note == "start"
        assert second.step is not None and second.step.conversation.state is None
        fresh = make_core(redis).store
        stored = (await fresh.load(PHONE)).conversation
        assert (stored.version, stored.texts_in) == (2, 2)

    async def test_a_wrong_guess_steps_again_on_what_the_commit_found(
        self, redis: Redis
    ) -> None:
        one, other = make_core(redis), make_core(redis)  # two processes, one Redis
        await one.apply(PHONE, text("JOIN", 1), dedup="twilio:SM1")
        no_load(other.store)  # its guess (a new phone) is wrong; the clash says the truth
        applied = await other.apply(PHONE, text("YES", 2), dedup="twilio:SM2")
        assert applied.step is not None and applied.step.conversation.version == 1
        assert applied.cas_retries == 1
        assert cas_retries(other) == 0  # a new-phone guess missed is not a clash
        stored = (await one.store.load(PHONE)).conversation
        assert (stored.version, stored.texts_in, stored.state) == (2, 2, None)

    async def test_a_duplicate_is_still_a_noop(self, redis: Redis) -> None:
        core = make_core(redis)
        await core.apply(PHONE, text("JOIN", 1), dedup="twilio:SM1")
        again = await core.apply(PHONE, text("JOIN", 1), dedup="twilio:SM1")
        assert again.step is None and again.outcome.value == "dup"
        assert (await core.store.load(PHONE)).conversation.texts_in == 1

    async def test_opt_out_outliving_its_conversation_beats_the_guess(
        self, redis: Redis
    ) -> None:
        core = make_core(redis)
        await redis.set(core.store.store.keys.opted_out(PHONE), "1")  # the conversation expired
        applied = await core.apply(PHONE, text("hello", 1), dedup="twilio:SM1")
        assert applied.step is not None
        assert applied.step.conversation.opted_out and applied.step.note == "ignored"
        assert not [e for e in applied.step.effects if isinstance(e, SendSms)]
        # A flow keyword gets only the opt-in question, which the guard lets through.
        rejoin = await core.apply(PHONE, text("JOIN", 2), dedup="twilio:SM2")
        assert rejoin.step is not None and rejoin.step.note == "rejoin"
        sends = [e for e in rejoin.step.effects if isinstance(e, SendSms)]
        assert len(sends) == 1 and sends[0].asked_while_out

    async def test_one_phones_burst_takes_turns_without_clashes(self, redis: Redis) -> None:
        core = make_core(redis)
        await asyncio.gather(*(core.apply(PHONE, text("hello", n), dedup=f"twilio:SM{n}")
                               for n in range(20)))
        stored = (await core.store.load(PHONE)).conversation
        assert (stored.texts_in, stored.version) == (20, 20)
        assert cas_retries(core) == 0
        assert not core._phones  # noqa: SLF001 - the turn-taking locks are let go


class TestWorkerRoundTrips:
    async def test_send_guard_checks_opt_out_then_counts(self, redis: Redis) -> None:
        keys = Keys(prefix="fast", shards=4)
        consent = ConsentStore(redis, keys)
        assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=True) == 1
        await redis.set(keys.opted_out(PHONE), "1")
        assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=True) is None
        assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=False) == 2
        assert await consent.admit_send(PHONE, "ho", 300, check_opt_out=False) == 1

    async def test_settled_entries_are_acknowledged_with_the_next_read(
        self, redis: Redis
    ) -> None:
        keys = Keys(prefix="fast", shards=4)
        store, outbox = ConversationStore(redis, keys, ttl=3600), Outbox(redis, keys)
        await outbox.ensure_groups()
        for n, number in enumerate(["+15555550101", "+15555550102", "+15555550103"]):
            conv = Conversation(phone=number)
            effect = SendSms(id=f"e{n}", phone=number, body="hi")
            await store.commit(conv, Step(conversation=conv, effects=[effect]))
        shards = list(keys.all_shards())
        entries = await outbox.read_shards(shards, "c1", 10)
        assert sorted(e.effects[0].id for e in entries) == ["e0", "e1", "e2"]
        assert await outbox.read_shards(shards, "c1", 10, entries) == []
        assert await outbox.pending_count() == 0

    def test_dedup_keys_are_short_stable_and_tagged(self) -> None:
        keys = Keys(shards=16)
        sid = "twilio:SM" + "7" * 32
        key = keys.seen(PHONE, sid)
        assert key == keys.seen(PHONE, sid) != keys.seen(PHONE, sid + "x")
        assert sid not in key and len(key) < 32
        assert keys.tag(keys.shard(PHONE)) in key


class TestParserFreePaths:
    @pytest.mark.heavy
    def test_nanp_e164_and_country_codes_agree_with_the_parser(self) -> None:
        rnd = random.Random(5)
        for n in range(3000):
            digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(7, 14)))
            number = ("+1" + digits[:10]) if n % 2 else ("+" + str(rnd.randint(1, 9)) + digits)
            assert phone_mod.to_e164.__wrapped__(number) == _parsed_e164(number), number
            assert phone_mod._country_code_len(number) == _parsed_cc_len(number), number

    def test_signature_matches_twilios_validator(self) -> None:
        url = "https://bot.example.org/webhooks/twilio/sms"
        form = {"Body": "JOIN", "From": "+12025550123", "MessageSid": "SM1", "To": "+1202"}
        assert compute_signature("tok", url, form.items()) == twilio_signer("tok")(url, form)
        repeated = [("B", "2"), ("A", "x"), ("B", "1"), ("B", "2")]
        grouped = "A" + "x" + "B" + "1" + "B" + "2"
        import base64
        import hashlib
        import hmac
        expected = base64.b64encode(hmac.new(b"tok", (url + grouped).encode(),
                                             hashlib.sha1).digest()).decode()
        assert compute_signature("tok", url, repeated) == expected


def _parsed_e164(raw: str) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    valid = phonenumbers.is_valid_number(parsed) or phone_mod._FICTIONAL.match(e164)
    return e164 if valid else None


def _parsed_cc_len(raw: str) -> int:
    try:
        return len(str(phonenumbers.parse(raw, None).country_code))
    except phonenumbers.NumberParseException:
        return 1


@pytest.fixture
async def silent_redis() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers: a Redis that stopped answering."""
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_webhook_answers_503_when_redis_stops_answering(
    silent_redis: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "INBOUND_TIMEOUT", 0.05)
    monkeypatch.setattr(redis_conn, "WARM_TIMEOUT", 0.05)  # the start-up warm-up waits too
    monkeypatch.setattr(layout, "CHECK_TIMEOUT", 0.05)  # and so does the shard-count check
    settings = make_settings(redis_url=f"redis://127.0.0.1:{silent_redis}/0",
                             run_worker=False, redis_pool_timeout=0.5)
    redis = make_redis(settings)
    bot = build_bot(settings, redis=redis)
    async with TestClient(TestServer(bot.app)) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        resp = await client.post("/webhooks/twilio/sms",
                                 data={"From": PHONE, "Body": "JOIN", "MessageSid": "SM1"})
        assert resp.status == 503
        assert loop.time() - started < 3.0
    await redis.aclose()
