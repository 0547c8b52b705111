"""The guess cache around the conversation store: a right guess saves the read, a wrong one
is an ordinary clash that answers the real state, and it stays bounded."""

from __future__ import annotations

import pytest

from bot.models import Conversation
from bot.store import CommitResult, ConversationStore, RecentConversations, VersionConflict
from tests.store.conftest import OTHER, PHONE, moved


async def test_an_unknown_phone_is_guessed_new(recent: RecentConversations) -> None:
    snap = recent.guess(PHONE)
    assert snap.guessed and not snap.seen
    assert snap.conversation == Conversation(phone=PHONE)


async def test_the_guess_is_what_this_process_last_committed(
        recent: RecentConversations) -> None:
    first = recent.guess(PHONE).conversation
    assert await recent.commit(first, moved(first, state="optin", flow="join")) is CommitResult.OK
    second = recent.guess(PHONE).conversation
    assert second == (await recent.load(PHONE)).conversation and second.version == 1
    assert await recent.commit(second, moved(second, state=None, flow=None)) is CommitResult.OK
    assert recent.guess(PHONE).conversation.version == 2


async def test_a_wrong_guess_clashes_and_the_clash_corrects_it(
        recent: RecentConversations, conversations: ConversationStore) -> None:
    other_process = Conversation(phone=PHONE)
    await conversations.commit(other_process, moved(other_process, state="optin", texts_in=1))
    guess = recent.guess(PHONE).conversation
    with pytest.raises(VersionConflict):
        await recent.commit(guess, moved(guess, texts_in=1))
    corrected = recent.guess(PHONE).conversation
    assert (corrected.version, corrected.state) == (1, "optin")
    assert await recent.commit(corrected, moved(corrected, texts_in=2)) is CommitResult.OK


async def test_a_duplicate_is_not_remembered_as_written(
        recent: RecentConversations) -> None:
    conv = Conversation(phone=PHONE)
    await recent.commit(conv, moved(conv, texts_in=1), "twilio:SM1")
    remembered = recent.guess(PHONE).conversation
    again = await recent.commit(remembered, moved(remembered, texts_in=2), "twilio:SM1")
    assert again is CommitResult.DUPLICATE
    assert recent.guess(PHONE).conversation == remembered


async def test_it_remembers_a_bounded_number_of_phones(recent: RecentConversations) -> None:
    phones = [f"+1555555012{n}" for n in range(4)]  # capacity is 3
    for phone in phones:
        conv = Conversation(phone=phone)
        await recent.commit(conv, moved(conv, texts_in=1))
    assert recent.guess(phones[0]).conversation.version == 0  # the oldest is forgotten
    assert all(recent.guess(p).conversation.version == 1 for p in phones[1:])
    assert recent.guess(OTHER).conversation.version == 0
