"""The outbox's lanes: an entry goes to the stream of its most urgent effect, the urgent
stream is read first and even when no normal entry may be read, and the normal stream is the
key the outbox had before the lanes (an upgrade reads what was queued)."""

from __future__ import annotations

import asyncio

from bot.models import Effect, Lane, RunAction, SendSms, SetTimer
from bot.store import ConversationStore, Outbox
from bot.store.conversations import Ack
from bot.store.lanes import Stream, stream_of
from tests.store.conftest import OTHER, PHONE, moved
from tests.store.test_outbox import queue

THIRD = "+15555550122"


async def queue_more(conversations: ConversationStore, phone: str, *effects: Effect) -> None:
    """Commit a later step of `phone` that asks for `effects`."""
    loaded = (await conversations.load(phone)).conversation
    step = moved(loaded, texts_in=loaded.texts_in + 1)
    step.effects.extend(effects)
    await conversations.commit(loaded, step)


def test_an_entry_goes_to_the_stream_of_its_most_urgent_effect() -> None:
    reply = SendSms(id="r", phone=PHONE, body="hi")
    help_answer = SendSms(id="h", phone=PHONE, body="help", lane=Lane.URGENT)
    code = RunAction(id="c", phone=PHONE, action="verify_send")
    lookup = RunAction(id="l", phone=PHONE, action="lookup")
    assert stream_of([reply, lookup]) is Stream.NORMAL
    assert stream_of([SendSms(id="b", phone=PHONE, body="x", lane=Lane.BULK)]) is Stream.NORMAL
    assert stream_of([reply, help_answer]) is Stream.URGENT
    assert stream_of([reply, code]) is Stream.URGENT


async def test_urgent_entries_are_read_first_and_past_a_closed_normal_lane(
        conversations: ConversationStore, outbox: Outbox) -> None:
    await queue(conversations, PHONE, SendSms(id="r1", phone=PHONE, body="reply"))
    await queue(conversations, OTHER, SendSms(id="r2", phone=OTHER, body="reply"))
    await queue(conversations, THIRD, SendSms(id="h1", phone=THIRD, body="help", lane=Lane.URGENT),
                SendSms(id="h2", phone=THIRD, body="and", lane=Lane.REPLY))
    assert await outbox.pending_count() == 3
    shards = list(outbox.keys.all_shards())
    # No normal entry may be read (the paced backlog is full): the urgent one still is.
    [urgent] = await outbox.read_shards(shards, "c1", 0, urgent_count=10)
    assert urgent.stream is Stream.URGENT and [e.id for e in urgent.effects] == ["h1", "h2"]
    normal = await outbox.read_shards(shards, "c1", 10, [urgent])  # acks the urgent one
    assert sorted(e.effects[0].id for e in normal) == ["r1", "r2"]
    assert {e.stream for e in normal} == {Stream.NORMAL}
    assert await outbox.pending_count() == 2
    for entry in normal:
        await outbox.ack(entry)
    assert await outbox.pending_count() == 0


async def test_one_shard_read_gives_the_urgent_entry_before_older_normal_ones(
        conversations: ConversationStore, outbox: Outbox) -> None:
    await queue(conversations, PHONE, SendSms(id="r1", phone=PHONE, body="reply"))
    await queue_more(conversations, PHONE, RunAction(id="c1", phone=PHONE, action="verify_send"))
    entries = await outbox.read(outbox.keys.shard(PHONE), "c1", 10, 0)
    assert [e.effects[0].id for e in entries] == ["c1", "r1"]  # the code overtakes
    assert [e.stream for e in entries] == [Stream.URGENT, Stream.NORMAL]


async def test_a_commit_acknowledges_an_entry_of_another_lane(
        conversations: ConversationStore, outbox: Outbox) -> None:
    await queue(conversations, PHONE, RunAction(id="c1", phone=PHONE, action="verify_send"))
    [entry] = await outbox.read(outbox.keys.shard(PHONE), "c1", 10, 0)
    assert entry.stream is Stream.URGENT
    loaded = (await conversations.load(PHONE)).conversation
    step = moved(loaded, state="code_sent")
    step.effects.append(SendSms(id="r1", phone=PHONE, body="enter the code"))
    await conversations.commit(loaded, step, "fx:c1",
                               Ack(entry.shard, entry.entry_id, entry.stream))
    [reply] = await outbox.read(outbox.keys.shard(PHONE), "c1", 10, 0)
    assert reply.stream is Stream.NORMAL
    assert await outbox.pending_count() == 1  # the code's entry is settled, the reply queued


async def test_claims_take_over_and_timers_cover_every_lane(
        conversations: ConversationStore, outbox: Outbox) -> None:
    await queue(conversations, PHONE, SendSms(id="r1", phone=PHONE, body="reply"))
    await queue_more(conversations, PHONE, SendSms(id="h1", phone=PHONE, body="help",
                                                   lane=Lane.URGENT))
    shard = outbox.keys.shard(PHONE)
    assert len(await outbox.read(shard, "dies", 10, 0)) == 2
    claimed = await outbox.claim(shard, "survivor", idle_ms=0, count=10)
    assert [e.effects[0].id for e in claimed] == ["h1", "r1"]
    assert all(e.deliveries == 2 for e in claimed)
    taken = await outbox.take_over(shard, "next", skip=set())
    assert [(e.stream, e.effects[0].id) for e in taken] == [(Stream.URGENT, "h1"),
                                                            (Stream.NORMAL, "r1")]
    running = {(Stream.URGENT, taken[0].entry_id)}
    assert [e.effects[0].id for e in await outbox.take_over(shard, "next", running)] == ["r1"]
    for entry in taken:
        await outbox.ack(entry)
    await asyncio.sleep(0.01)
    assert sorted(await outbox.forget_idle_consumers(shard, 0, keep="next")) == ["dies",
                                                                               "survivor"]
    await queue(conversations, OTHER, SetTimer(id="t1", phone=OTHER, name="remind", due=1.0,
                                                      token=1))
    shard = outbox.keys.shard(OTHER)
    assert await outbox.move_due_timers(shard, now=2.0) == 1
    [fired] = await outbox.read(shard, "next", 10, 0)
    assert fired.stream is Stream.NORMAL and fired.effects[0].type == "fire_timer"


async def test_entries_queued_before_the_lanes_are_read_as_normal_ones(outbox: Outbox) -> None:
    """An older version wrote every entry to `<prefix>:outbox:{s<n>}`: that key is the
    normal stream now, so nothing queued before an upgrade is lost."""
    shard = outbox.keys.shard(PHONE)
    legacy = f"{outbox.keys.prefix}:outbox:{{s{shard}}}"
    await outbox.redis.xadd(legacy, {"e": SendSms(id="old", phone=PHONE, body="queued")
                                     .model_dump_json().join("[]")})
    [entry] = await outbox.read_shards(list(outbox.keys.all_shards()), "c1", 10)
    assert entry.stream is Stream.NORMAL and entry.effects[0].id == "old"
    await outbox.ack(entry)
    assert await outbox.pending_count() == 0
