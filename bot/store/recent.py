"""A process-local cache of the conversations this process last committed, around the store.

It lets the inbound path step on a guess instead of a read: right for a phone's first text
(a keyword from a poster or a rally) and for the texts after it that reach the same process,
so one round trip (the commit) serves a text. The guess is safe because every commit checks
the version and the opt-out flag: a wrong guess is an ordinary clash, which answers the real
state. Kept apart from `ConversationStore` so the store itself stays stateless.
"""

from __future__ import annotations

from bot.models import Conversation, Step
from bot.store.conversations import (
    Ack,
    CommitResult,
    ConversationStore,
    Snapshot,
    VersionConflict,
    decode,
    encode,
)

RECENT_CONVERSATIONS = 20_000
"""Stored values remembered (about 5 MB: values are kept encoded, as Redis holds them)."""


class RecentConversations:
    """`ConversationStore` plus `guess`: remembers what each commit wrote or found."""

    def __init__(self, store: ConversationStore, capacity: int = RECENT_CONVERSATIONS) -> None:
        self.store = store
        self.capacity = capacity
        self._values: dict[str, str] = {}  # phone -> value last written or found; oldest first

    def guess(self, phone: str) -> Snapshot:
        """The conversation as this process last committed it, else a new one."""
        conv = decode(phone, self._values.get(phone))
        return Snapshot(conversation=conv, seen=False, guessed=True)

    async def load(self, phone: str, dedup: str | None = None) -> Snapshot:
        return await self.store.load(phone, dedup)

    async def commit(self, before: Conversation, step: Step, dedup: str | None = None,
                     ack: Ack | None = None, ignored: str = "") -> CommitResult:
        """`ConversationStore.commit`, remembering what it wrote (or what a clash found)."""
        phone = step.conversation.phone
        try:
            written = await self.store.write(before, step, dedup, ack, ignored)
        except VersionConflict as clash:
            self._remember(phone, _value_of(clash.current))
            raise
        if written.outcome is CommitResult.OK:
            self._remember(phone, written.value)
        return written.outcome

    def _remember(self, phone: str, value: str | None) -> None:
        self._values.pop(phone, None)
        if value:
            self._values[phone] = value
            if len(self._values) > self.capacity:
                del self._values[next(iter(self._values))]


def _value_of(snapshot: Snapshot | None) -> str | None:
    """The stored form of a clash's snapshot (None: nothing stored, forget the phone).

    A phone with no conversation but an opt-out flag is forgotten too: a guess then says
    "new, not opted out" and the commit's flag check corrects it."""
    if snapshot is None or not snapshot.conversation.version:
        return None
    conv = snapshot.conversation
    return encode(conv, conv.version)
