"""The outbox's contract: per-shard streams read through one consumer group, acknowledged
in batches, claimed from dead consumers, dead letters, due timers and done marks."""

from __future__ import annotations

from bot.models import Conversation, Effect, SendSms, SetTimer, Step
from bot.store import ConversationStore, Outbox
from bot.store.outbox import DONE_TTL
from tests.store.conftest import OTHER, PHONE, moved

THIRD = "+15555550122"


async def queue(conversations: ConversationStore, phone: str, *effects: Effect) -> None:
    """Commit a step of a new phone that asks for `effects` (the only way entries are made)."""
    conv = Conversation(phone=phone)
    await conversations.commit(conv, Step(conversation=conv, effects=list(effects)))


async def test_groups_are_created_once(outbox: Outbox) -> None:
    await outbox.ensure_groups()  # again: no error, nothing lost
    for shard in outbox.keys.all_shards():
        groups = await outbox.redis.xinfo_groups(outbox.keys.outbox(shard))
        assert [g["name"] for g in groups] in ([b"workers"], ["workers"])


async def test_one_commit_is_one_entry_with_its_effects_in_order(
        conversations: ConversationStore, outbox: Outbox) -> None:
    await queue(conversations, PHONE, SendSms(id="e1", phone=PHONE, body="one"),
                SendSms(id="e2", phone=PHONE, body="two"))
    [entry] = await outbox.read(outbox.keys.shard(PHONE), "c1", 10, 0)
    assert [e.id for e in entry.effects] == ["e1", "e2"] and entry.deliveries == 1
    assert await outbox.read(outbox.keys.shard(PHONE), "c2", 10, 0) == []  # handed out once
    await outbox.ack(entry)
    assert await outbox.pending_count() == 0


async def test_settled_entries_are_acknowledged_with_the_next_read(
        conversations: ConversationStore, outbox: Outbox) -> None:
    for n, number in enumerate([PHONE, OTHER, THIRD]):
        await queue(conversations, number, SendSms(id=f"e{n}", phone=number, body="hi"))
    shards = list(outbox.keys.all_shards())
    entries = await outbox.read_shards(shards, "c1", 10)
    assert sorted(e.effects[0].id for e in entries) == ["e0", "e1", "e2"]
    assert await outbox.pending_count() == 3
    assert await outbox.read_shards(shards, "c1", 10, entries) == []
    assert await outbox.pending_count() == 0


async def test_entries_of_a_dead_consumer_are_claimed_with_their_delivery_count(
        conversations: ConversationStore, outbox: Outbox) -> None:
    await queue(conversations, PHONE, SendSms(id="e1", phone=PHONE, body="hi"))
    shard = outbox.keys.shard(PHONE)
    [taken] = await outbox.read(shard, "dies", 10, 0)
    [claimed] = await outbox.claim(shard, "survivor", idle_ms=0, count=10)
    assert claimed.entry_id == taken.entry_id and claimed.deliveries == 2
    assert [e.id for e in claimed.effects] == ["e1"]


async def test_dead_letters_keep_the_effect_and_a_bounded_reason(
        conversations: ConversationStore, outbox: Outbox) -> None:
    effect = SendSms(id="e1", phone=PHONE, body="hi")
    await queue(conversations, PHONE, effect)
    [entry] = await outbox.read(outbox.keys.shard(PHONE), "c1", 10, 0)
    await outbox.dead_letter(entry, effect, "permanent: " + "x" * 600)
    [dead] = await outbox.dead_letters()
    assert dead["effect"]["id"] == "e1" and dead["reason"].startswith("permanent: ")
    assert len(dead["reason"]) == 500


async def test_timers_move_to_the_outbox_when_due(conversations: ConversationStore,
                                                  outbox: Outbox) -> None:
    before = Conversation(phone=PHONE)
    step = moved(before)
    step.effects.append(SetTimer(id="t1", phone=PHONE, name="timeout:x", due=100.0, token=3))
    await conversations.commit(before, step)
    assert await outbox.pending_count() == 0  # a timer waits outside the stream
    shard = outbox.keys.shard(PHONE)
    assert await outbox.move_due_timers(shard, now=99.0) == 0
    assert await outbox.move_due_timers(shard, now=100.0) == 1
    assert await outbox.move_due_timers(shard, now=200.0) == 0  # moved once
    entries = await outbox.read(shard, "c1", 10, 0)
    assert [(e.effects[0].type, e.effects[0].id) for e in entries] == [("fire_timer", "t1")]


async def test_done_marks_remember_finished_effects_for_a_while(outbox: Outbox) -> None:
    assert not await outbox.is_done(PHONE, "e1")
    await outbox.mark_done(PHONE, "e1")
    assert await outbox.is_done(PHONE, "e1") and not await outbox.is_done(OTHER, "e1")
    assert 0 < await outbox.redis.ttl(outbox.keys.done(PHONE, "e1")) <= DONE_TTL
