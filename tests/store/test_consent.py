"""The consent store's contract: the opt-out flag (written only inside a commit, checked by
every commit), the audit log, and the send guard's one-round-trip admission."""

from __future__ import annotations

from typing import Any

import pytest

from bot.models import Conversation
from bot.store import ConsentStore, ConversationStore, VersionConflict
from tests.store.conftest import OTHER, PHONE, consent_change, moved


async def opt_out(conversations: ConversationStore, phone: str, at: float = 1.0) -> None:
    before = (await conversations.load(phone)).conversation
    step = moved(before, opted_out=True)
    step.consent.append(consent_change(phone, opted_out=True, at=at))
    await conversations.commit(before, step, f"twilio:stop{at}")


async def test_opt_out_flag_outlives_the_conversation(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    assert not await consent.is_opted_out(PHONE)
    await opt_out(conversations, PHONE)
    assert await consent.is_opted_out(PHONE)
    await conversations.redis.delete(conversations.keys.conversation(PHONE))  # the TTL ran out
    assert (await conversations.load(PHONE)).conversation.opted_out
    assert await conversations.redis.ttl(consent.flag_key(PHONE)) == -1  # never expires
    assert [c.keyword for c in await consent.history(PHONE)] == ["STOP"]


async def test_opting_back_in_clears_the_flag_and_keeps_both_records(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    await opt_out(conversations, PHONE, at=1.0)
    before = (await conversations.load(PHONE)).conversation
    step = moved(before, opted_out=False)
    step.consent.append(consent_change(PHONE, opted_out=False, at=2.0, keyword="START"))
    await conversations.commit(before, step, "twilio:start")
    assert not await consent.is_opted_out(PHONE)
    assert [(c.keyword, c.opted_out) for c in await consent.history(PHONE)] == [
        ("STOP", True), ("START", False)]


async def test_a_step_on_a_stale_opt_out_view_clashes(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    await opt_out(conversations, PHONE)
    await conversations.redis.delete(conversations.keys.conversation(PHONE))
    unaware = Conversation(phone=PHONE)  # version 0 matches; the flag does not
    with pytest.raises(VersionConflict) as raised:
        await conversations.commit(unaware, moved(unaware, flow="join", state="optin"))
    assert raised.value.current is not None and raised.value.current.conversation.opted_out
    assert await consent.is_opted_out(PHONE)
    assert (await conversations.load(PHONE)).conversation.flow is None


async def test_history_of_every_phone_is_ordered_by_time(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    await opt_out(conversations, OTHER, at=5.0)
    await opt_out(conversations, PHONE, at=3.0)
    assert [(c.phone, c.at) for c in await consent.history()] == [(PHONE, 3.0), (OTHER, 5.0)]
    assert [c.phone for c in await consent.history(OTHER)] == [OTHER]


async def test_send_admission_checks_opt_out_then_counts(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=True) == 1
    assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=True) == 2
    assert await consent.admit_send(PHONE, "other text", 300, check_opt_out=True) == 1
    assert await consent.admit_send(OTHER, "hi", 300, check_opt_out=True) == 1
    loop_key = consent.keys.loop(PHONE, "hi")
    assert 0 < await consent.redis.ttl(loop_key) <= 300  # the count is per window
    await opt_out(conversations, PHONE)
    assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=True) is None
    assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=True) is None
    # The one STOP confirmation is not checked, and a refused text was never counted.
    assert await consent.admit_send(PHONE, "hi", 300, check_opt_out=False) == 3


async def test_who_opted_out_outlives_the_conversation_and_answers_a_clash(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    """A carrier's opt-out stays silent until its own START, even after the TTL."""
    before = (await conversations.load(PHONE)).conversation
    await conversations.commit(before, moved(before, opted_out=True, optout_by="carrier"))
    await conversations.redis.delete(conversations.keys.conversation(PHONE))  # the TTL ran out
    loaded = (await conversations.load(PHONE)).conversation
    assert (loaded.opted_out, loaded.optout_by) == (True, "carrier")
    with pytest.raises(VersionConflict) as clash:  # stepped on a view without the flag
        await conversations.commit(before, moved(before, texts_in=1))
    assert clash.value.current is not None
    assert clash.value.current.conversation.optout_by == "carrier"
    back_in = (await conversations.load(PHONE)).conversation
    await conversations.commit(back_in, moved(back_in, opted_out=False, optout_by=None))
    assert not await consent.is_opted_out(PHONE)
    stopped = (await conversations.load(PHONE)).conversation
    await conversations.commit(stopped, moved(stopped, opted_out=True))  # our own STOP now
    await conversations.redis.delete(conversations.keys.conversation(PHONE))
    assert (await conversations.load(PHONE)).conversation.optout_by is None


async def test_log_lines_leave_defaults_out_and_read_back_whole(
        conversations: ConversationStore, consent: ConsentStore) -> None:
    """Every line lives as long as the log: short keys, no `opted_out: false`, no empty
    prompt; it reads back as the same change, and so does a line with the long names."""
    await opt_out(conversations, PHONE, at=1.0)
    before = (await conversations.load(PHONE)).conversation
    step = moved(before, opted_out=False)
    step.consent.append(consent_change(PHONE, opted_out=False, at=2.0, keyword="START"))
    await conversations.commit(before, step, "twilio:start")
    lines: Any = await conversations.redis.xrange(conversations.keys.consent(
        conversations.keys.shard(PHONE)))
    raw = [fields[b"c"].decode() for _, fields in lines]
    assert '"o":true' in raw[0] and '"o"' not in raw[1] and '"pr"' not in raw[1]
    assert '"k":"START"' in raw[1] and '"keyword"' not in raw[1]
    assert await consent.history(PHONE) == [consent_change(PHONE, opted_out=True, at=1.0),
                                            consent_change(PHONE, opted_out=False, at=2.0,
                                                           keyword="START")]
    old = ('{"at":3.0,"phone":"+15555550100","keyword":"STOP","text":"stop",'
           '"message_id":"SM3.0","provider":"twilio","opted_out":true,"prompt":""}')
    await conversations.redis.xadd(conversations.keys.consent(
        conversations.keys.shard(PHONE)), {"c": old})
    assert (await consent.history(PHONE))[-1] == consent_change(PHONE, opted_out=True, at=3.0)
