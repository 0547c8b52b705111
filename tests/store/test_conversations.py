"""The conversation store's contract: atomic step commits, compare-and-set on the version,
dedup marks, TTL and size, one hash tag per phone (fakeredis and a real Redis)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.models import Conversation, SendSms
from bot.store import Ack, CommitResult, ConversationStore, Keys, Outbox, VersionConflict
from bot.store.conversations import _LONG, SEEN_TTL, decode, encode
from tests.store.conftest import OTHER, PHONE, moved


async def test_new_phone_loads_empty_conversation(conversations: ConversationStore) -> None:
    snap = await conversations.load(PHONE, "twilio:SM1")
    assert snap.conversation == Conversation(phone=PHONE) and not snap.seen
    assert not snap.guessed


async def test_commit_then_load_round_trips(conversations: ConversationStore) -> None:
    before = (await conversations.load(PHONE)).conversation
    step = moved(before, flow="join", state="optin", vars={"zip": "20001", "n": 2}, texts_in=1)
    assert await conversations.commit(before, step, "twilio:SM1") is CommitResult.OK
    after = await conversations.load(PHONE, "twilio:SM1")
    assert after.seen
    assert after.conversation.version == 1
    assert after.conversation.vars == {"zip": "20001", "n": 2}
    assert after.conversation.state == "optin"


async def test_write_answers_the_value_it_stored(conversations: ConversationStore) -> None:
    before = Conversation(phone=PHONE)
    written = await conversations.write(before, moved(before, state="optin", flow="join"))
    assert written.outcome is CommitResult.OK
    assert decode(PHONE, written.value) == (await conversations.load(PHONE)).conversation


async def test_duplicate_message_id_is_a_noop(conversations: ConversationStore,
                                              outbox: Outbox) -> None:
    before = (await conversations.load(PHONE)).conversation
    step = moved(before, texts_in=1)
    step.effects.append(SendSms(id="e1", phone=PHONE, body="hi"))
    assert await conversations.commit(before, step, "twilio:SM1") is CommitResult.OK
    assert await conversations.commit(before, step, "twilio:SM1") is CommitResult.DUPLICATE
    assert await outbox.pending_count() == 1
    seen = conversations.keys.seen(PHONE, "twilio:SM1")
    assert SEEN_TTL - 60 < await conversations.redis.ttl(seen) <= SEEN_TTL


async def test_stale_version_conflicts_writes_nothing_and_says_what_it_found(
        conversations: ConversationStore, outbox: Outbox) -> None:
    before = (await conversations.load(PHONE)).conversation
    await conversations.commit(before, moved(before, texts_in=1, state="optin"), "twilio:SM1")
    clash = moved(before, texts_in=99)
    clash.effects.append(SendSms(id="e2", phone=PHONE, body="lost?"))
    with pytest.raises(VersionConflict) as raised:
        await conversations.commit(before, clash, "twilio:SM2")
    snap = await conversations.load(PHONE, "twilio:SM2")
    assert snap.conversation.texts_in == 1 and not snap.seen
    assert await outbox.pending_count() == 0
    assert raised.value.current is not None
    assert raised.value.current.conversation == snap.conversation  # no reload needed


async def test_commit_acknowledges_the_entry_that_caused_it(
        conversations: ConversationStore, outbox: Outbox) -> None:
    before = Conversation(phone=PHONE)
    step = moved(before)
    step.effects.append(SendSms(id="e1", phone=PHONE, body="hi"))
    await conversations.commit(before, step)
    [entry] = await outbox.read(conversations.keys.shard(PHONE), "c1", 10, 0)
    assert await outbox.pending_count() == 1  # read, not yet acknowledged
    loaded = (await conversations.load(PHONE)).conversation
    await conversations.commit(loaded, moved(loaded, state="done"), "fx:e1",
                               Ack(entry.shard, entry.entry_id))
    assert await outbox.pending_count() == 0  # acknowledged and deleted with the commit


async def test_commit_many_lands_each_or_says_why_not(conversations: ConversationStore) -> None:
    stale = Conversation(phone=OTHER)
    await conversations.commit(stale, moved(stale, texts_in=1))
    fresh = Conversation(phone=PHONE)
    results = await conversations.commit_many([(fresh, moved(fresh, texts_in=1), "a"),
                                               (stale, moved(stale, texts_in=5), "b")])
    assert results[0] is CommitResult.OK and isinstance(results[1], VersionConflict)
    assert (await conversations.load(PHONE, "a")).seen
    assert (await conversations.load(OTHER)).conversation.texts_in == 1


async def test_an_ignored_text_is_kept_for_staff_with_its_commit(
        conversations: ConversationStore) -> None:
    before = Conversation(phone=PHONE)
    record = '{"phone": "+15555550100", "body": "hello"}'
    await conversations.commit(before, moved(before, texts_in=1), "twilio:SM9", None, record)
    await conversations.commit(before, moved(before, texts_in=1), "twilio:SM9", None, record)
    kept: Any = await conversations.redis.xrange(conversations.keys.ignored(
        conversations.keys.shard(PHONE)))
    assert [fields[b"t"].decode() for _, fields in kept] == [record]  # the retry added none


async def test_conversation_has_a_ttl_and_stays_small(conversations: ConversationStore) -> None:
    before = (await conversations.load(PHONE)).conversation
    await conversations.commit(before, moved(before, flow="join", state="optin", texts_in=3,
                                             vars={"zip": "20001", "campaign": "12"}))
    key = conversations.keys.conversation(PHONE)
    assert 0 < await conversations.redis.ttl(key) <= 3600
    stored = await conversations.redis.get(key)
    assert stored is not None and len(stored) < 200


async def test_concurrent_commits_lose_no_update(conversations: ConversationStore) -> None:
    async def bump(n: int) -> None:
        for _ in range(200):
            snap = await conversations.load(PHONE, f"m{n}")
            conv = snap.conversation
            try:
                await conversations.commit(conv, moved(conv, texts_in=conv.texts_in + 1),
                                           f"m{n}")
                return
            except VersionConflict:
                await asyncio.sleep(0)  # yield to the other writers, no wall-clock wait
        raise AssertionError("never committed")

    await asyncio.gather(*(bump(n) for n in range(30)))
    conv = (await conversations.load(PHONE)).conversation
    assert conv.texts_in == 30 and conv.version == 30


def test_keys_of_one_phone_share_a_hash_tag() -> None:
    k = Keys(shards=16)
    shard = k.shard(PHONE)
    tag = k.tag(shard)
    for key in (k.conversation(PHONE), k.opted_out(PHONE), k.seen(PHONE, "x"),
                k.done(PHONE, "e1"), k.loop(PHONE, "hi"), k.outbox(shard), k.timers(shard),
                k.consent(shard), k.dead(shard), k.ignored(shard)):
        assert tag in key


def test_stored_form_is_compact_and_reads_back_the_same() -> None:
    """Short keys, no defaults, times in milliseconds (window starts relative to the last
    update), the pending id in base64: a conversation mid-flow, with its funnel record,
    stays within 150 bytes (Redis keeps up to 156 in its 160-byte size class), and nothing is
    lost."""
    conv = Conversation(phone=PHONE, version=2, flow="advocacy", state="send_code", token=2,
                        pending="3f2a4ff41e9a41ac9064d84c62261316", texts_in=2,
                        updated_at=1796132033.546, rate_t0=1796131988.388, rate_in=2, auto=1,
                        acts=1, acts_at=1796132033.546, reached="g1g.1.87m:5")
    stored = encode(conv, 2)
    assert len(stored) <= 150 and '"updated_at"' not in stored, len(stored)
    assert decode(PHONE, stored) == conv
    for pending in ("e7", "~e7", "~~", "~" + "A" * 22, "F" * 32):  # not a packed hex id
        odd_id = conv.model_copy(update={"pending": pending})
        assert decode(PHONE, encode(odd_id, 2)) == odd_id, pending
    with_vars = conv.model_copy(update={"vars": {"zip": "20001", "u": 1.5, "name": "José"}})
    assert decode(PHONE, encode(with_vars, 2)) == with_vars
    odd = Conversation(phone=PHONE, version=1, rate_t0=1000.25, acts_at=5.0, opted_out=True,
                       optout_by="carrier", lang="es", attempts=3, rate_out=4, flooding=True)
    assert decode(PHONE, encode(odd, 1)) == odd


def test_values_written_with_long_names_still_read() -> None:
    old = ('3|{"flow":"advocacy","state":"optin","token":1,"texts_in":1,'
           '"updated_at":1796131953.888875,"rate_t0":1796131953.888875,"rate_in":1,"auto":1}')
    conv = decode(PHONE, old)
    assert (conv.version, conv.state, conv.texts_in, conv.auto) == (3, "optin", 1, 1)
    assert conv.updated_at == conv.rate_t0 == 1796131953.888875


_TIMES = st.floats(min_value=0, max_value=4e9).map(lambda t: round(t, 3))


@given(st.builds(
    Conversation, phone=st.just(PHONE), flow=st.none() | st.sampled_from(["advocacy", "x"]),
    state=st.none() | st.text(max_size=8), lang=st.sampled_from(["en", "es"]),
    vars=st.dictionaries(st.text(max_size=5), st.none() | st.booleans() | st.integers()
                         | st.text(max_size=8), max_size=3),
    attempts=st.integers(0, 5), token=st.integers(0, 9), opted_out=st.booleans(),
    pending=st.none() | st.text(max_size=34), texts_in=st.integers(0, 9),
    updated_at=_TIMES, rate_t0=_TIMES, rate_in=st.integers(0, 3), flooding=st.booleans(),
    acts_at=_TIMES, reached=st.text(max_size=12)))
def test_every_conversation_reads_back_and_stores_only_what_differs_from_a_default(
        conv: Conversation) -> None:
    """`encode` leaves out exactly what `model_dump(exclude_defaults=True)` would."""
    stored = json.loads(encode(conv, 4).partition("|")[2])
    dumped = conv.model_dump(exclude={"phone", "version"}, exclude_defaults=True)
    assert {_LONG.get(k, k) for k in stored} == set(dumped)
    back = decode(PHONE, encode(conv, 4))
    assert back.model_dump(exclude={"version"}) == conv.model_dump(exclude={"version"})
