"""Every store over the same Redis, on fakeredis (unit) and on a real server (integration):
each test here runs twice through `any_redis`, under its own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.models import ConsentChange, Conversation, Step
from bot.store import ConsentStore, ConversationStore, Keys, Outbox, RecentConversations
from tests.conftest import drop_prefix

PHONE = "+15555550100"
OTHER = "+15555550111"


@pytest.fixture
async def keys(any_redis: Redis, key_prefix: str) -> AsyncIterator[Keys]:
    yield Keys(prefix=key_prefix, shards=4)
    await drop_prefix(any_redis, key_prefix)


@pytest.fixture
def consent(any_redis: Redis, keys: Keys) -> ConsentStore:
    return ConsentStore(any_redis, keys)


@pytest.fixture
def conversations(any_redis: Redis, keys: Keys, consent: ConsentStore) -> ConversationStore:
    return ConversationStore(any_redis, keys, ttl=3600, consent=consent)


@pytest.fixture
async def outbox(any_redis: Redis, keys: Keys) -> Outbox:
    box = Outbox(any_redis, keys)
    await box.ensure_groups()
    return box


@pytest.fixture
def recent(conversations: ConversationStore) -> RecentConversations:
    return RecentConversations(conversations, capacity=3)


def moved(conv: Conversation, **changes: object) -> Step:
    """A step that changes `conv` and asks for nothing else."""
    return Step(conversation=conv.model_copy(update=changes))


def consent_change(phone: str, *, opted_out: bool, at: float = 1.0,
                   keyword: str = "STOP") -> ConsentChange:
    return ConsentChange(at=at, phone=phone, keyword=keyword, text=keyword.lower(),
                         message_id=f"SM{at}", provider="twilio", opted_out=opted_out)
