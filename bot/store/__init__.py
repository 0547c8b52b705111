"""Redis storage, one owner per piece of state: conversations (atomic step commits),
consent (the opt-out flag and the audit log), and the outbox the worker reads."""

from bot.store.consent import ConsentStore, SendConsent
from bot.store.conversations import (
    Ack,
    CommitResult,
    ConversationStore,
    Snapshot,
    StoreError,
    VersionConflict,
    Written,
)
from bot.store.keys import GROUP, Keys
from bot.store.outbox import Entry, Outbox
from bot.store.recent import RecentConversations

__all__ = ["GROUP", "Ack", "ConsentStore", "ConversationStore", "Entry", "Keys", "Outbox",
           "CommitResult", "RecentConversations", "SendConsent", "Snapshot", "StoreError",
           "VersionConflict", "Written"]
