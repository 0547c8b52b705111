"""Redis storage: conversations (atomic step commits) and the outbox the worker reads."""

from bot.store.conversations import (
    Ack,
    CommitResult,
    ConversationStore,
    Snapshot,
    StoreError,
    VersionConflict,
)
from bot.store.keys import GROUP, Keys
from bot.store.outbox import Entry, Outbox

__all__ = ["GROUP", "Ack", "ConversationStore", "Entry", "Keys", "Outbox", "CommitResult",
           "Snapshot", "StoreError", "VersionConflict"]
