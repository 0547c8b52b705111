"""The store contract, run against fakeredis (unit) and a real Redis server (integration)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.models import ConsentChange, Conversation, SendSms, SetTimer, Step
from bot.store import CommitResult, ConversationStore, Keys, Outbox, VersionConflict
from tests.conftest import drop_prefix

PHONE = "+15555550100"


@pytest.fixture
async def stores(
    any_redis: Redis, key_prefix: str
) -> AsyncIterator[tuple[ConversationStore, Outbox]]:
    redis = any_redis
    keys = Keys(prefix=key_prefix, shards=4)
    store, outbox = ConversationStore(redis, keys, ttl=3600), Outbox(redis, keys)
    await outbox.ensure_groups()
    yield store, outbox
    await drop_prefix(redis, key_prefix)


def moved(conv: Conversation, **changes: object) -> Step:
    return Step(conversation=conv.model_copy(update=changes))


class TestStoreContract:
    async def test_new_phone_loads_empty_conversation(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, _ = stores
        snap = await store.load(PHONE, "twilio:SM1")
        assert snap.conversation == Conversation(phone=PHONE) and not snap.seen

    async def test_commit_then_load_round_trips(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, _ = stores
        before = (await store.load(PHONE)).conversation
        step = moved(before, flow="join", state="optin", vars={"zip": "20001", "n": 2}, texts_in=1)
        assert await store.commit(before, step, "twilio:SM1") is CommitResult.OK
        after = await store.load(PHONE, "twilio:SM1")
        assert after.seen
        assert after.conversation.version == 1
        assert after.conversation.vars == {"zip": "20001", "n": 2}
        assert after.conversation.state == "optin"

    async def test_duplicate_message_id_is_a_noop(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, outbox = stores
        before = (await store.load(PHONE)).conversation
        step = moved(before, texts_in=1)
        step.effects.append(SendSms(id="e1", phone=PHONE, body="hi"))
        assert await store.commit(before, step, "twilio:SM1") is CommitResult.OK
        assert await store.commit(before, step, "twilio:SM1") is CommitResult.DUPLICATE
        assert await outbox.pending_count() == 1

    async def test_stale_version_conflicts_and_writes_nothing(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, outbox = stores
        before = (await store.load(PHONE)).conversation
        await store.commit(before, moved(before, texts_in=1), "twilio:SM1")
        clash = moved(before, texts_in=99)
        clash.effects.append(SendSms(id="e2", phone=PHONE, body="lost?"))
        with pytest.raises(VersionConflict):
            await store.commit(before, clash, "twilio:SM2")
        snap = await store.load(PHONE, "twilio:SM2")
        assert snap.conversation.texts_in == 1 and not snap.seen
        assert await outbox.pending_count() == 0

    async def test_opt_out_flag_outlives_the_conversation(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, _ = stores
        before = (await store.load(PHONE)).conversation
        step = moved(before, opted_out=True)
        step.consent.append(
            ConsentChange(
                at=1.0,
                phone=PHONE,
                keyword="STOP",
                text="stop",
                message_id="SM1",
                provider="twilio",
                opted_out=True,
            )
        )
        await store.commit(before, step, "twilio:SM1")
        assert await store.consent.is_opted_out(PHONE)
        await store.redis.delete(store.keys.conversation(PHONE))  # the TTL ran out
        assert (await store.load(PHONE)).conversation.opted_out
        assert [c.keyword for c in await store.consent.history(PHONE)] == ["STOP"]

    async def test_timers_move_to_the_outbox_when_due(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, outbox = stores
        before = (await store.load(PHONE)).conversation
        step = moved(before)
        step.effects.append(SetTimer(id="t1", phone=PHONE, name="timeout:x", due=100.0, token=3))
        await store.commit(before, step)
        shard = store.keys.shard(PHONE)
        assert await outbox.move_due_timers(shard, now=99.0) == 0
        assert await outbox.move_due_timers(shard, now=100.0) == 1
        entries = await outbox.read(shard, "c1", 10, 0)
        assert [(e.effects[0].type, e.effects[0].id) for e in entries] == [("fire_timer", "t1")]

    async def test_conversation_has_a_ttl_and_stays_small(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, _ = stores
        before = (await store.load(PHONE)).conversation
        await store.commit(
            before,
            moved(
                before,
                flow="join",
                state="optin",
                texts_in=3,
                vars={"zip": "20001", "campaign": "12"},
            ),
        )
        key = store.keys.conversation(PHONE)
        assert 0 < await store.redis.ttl(key) <= 3600
        assert len(await store.redis.get(key)) < 200

    async def test_concurrent_commits_lose_no_update(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, _ = stores

        async def bump(n: int) -> None:
            for _ in range(200):
                snap = await store.load(PHONE, f"m{n}")
                conv = snap.conversation
                try:
                    await store.commit(conv, moved(conv, texts_in=conv.texts_in + 1), f"m{n}")
                    return
                except VersionConflict:
                    await asyncio.sleep(0)
            raise AssertionError("never committed")

        await asyncio.gather(*(bump(n) for n in range(30)))
        conv = (await store.load(PHONE)).conversation
        assert conv.texts_in == 30 and conv.version == 30

    async def test_keys_of_one_phone_share_a_hash_tag(
        self, stores: tuple[ConversationStore, Outbox]
    ) -> None:
        store, _ = stores
        k = store.keys
        tag = k.tag(k.shard(PHONE))
        for key in (
            k.conversation(PHONE),
            k.opted_out(PHONE),
            k.seen(PHONE, "x"),
            k.outbox(k.shard(PHONE)),
            k.timers(k.shard(PHONE)),
            k.consent(k.shard(PHONE)),
        ):
            assert tag in key
