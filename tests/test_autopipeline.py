"""Commits made in one event-loop turn share one Redis round trip, and each caller still
gets its own outcome; a cancelled sender fails its batch with a connection error."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.models import Conversation, Step
from bot.store import CommitResult, ConversationStore, Keys, VersionConflict
from bot.store.scriptcalls import AutoPipeline
from bot.store.scripts import COMMIT


class CountingRedis(fakeredis.FakeAsyncRedis):
    """fakeredis that counts round trips: pipelines sent, and scripts called alone."""

    trips = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        type(self).trips += 1
        return super().pipeline(*args, **kwargs)

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        type(self).trips += 1
        return await super().evalsha(*args, **kwargs)


def phone(n: int) -> str:
    return f"+1555555{n:04d}"


def step_of(conv: Conversation, **changes: object) -> Step:
    return Step(conversation=conv.model_copy(update=changes))


async def test_one_loop_turns_commits_share_one_round_trip_with_their_own_outcomes() -> None:
    redis = CountingRedis(server=fakeredis.FakeServer())
    store = ConversationStore(redis, Keys(prefix="ap", shards=4), ttl=3600)
    first = Conversation(phone=phone(100))
    assert await store.commit(first, step_of(first, texts_in=1), "twilio:SM-dup") is CommitResult.OK
    CountingRedis.trips = 0
    fresh = [Conversation(phone=phone(n)) for n in range(101, 121)]
    calls = [store.commit(c, step_of(c, texts_in=1), f"twilio:SM{n}")
             for n, c in enumerate(fresh)]
    calls.append(store.commit(first, step_of(first, texts_in=2), "twilio:SM-dup"))  # a retry
    calls.append(store.commit(first, step_of(first, texts_in=2), "twilio:SM-new"))  # stale
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[:20] == [CommitResult.OK] * 20
    assert results[20] is CommitResult.DUPLICATE
    assert isinstance(results[21], VersionConflict)
    assert CountingRedis.trips == 1
    for c in fresh:
        assert (await store.load(c.phone)).conversation.texts_in == 1


async def test_a_lone_commit_goes_straight_through() -> None:
    redis = CountingRedis(server=fakeredis.FakeServer())
    store = ConversationStore(redis, Keys(prefix="ap", shards=4), ttl=3600)
    await store.commit(Conversation(phone=phone(130)),
                       step_of(Conversation(phone=phone(130)), texts_in=1))
    CountingRedis.trips = 0
    conv = Conversation(phone=phone(131))
    assert await store.commit(conv, step_of(conv, texts_in=1)) is CommitResult.OK
    assert CountingRedis.trips == 1


class StuckRedis(fakeredis.FakeAsyncRedis):
    """Every pipeline hangs: a Redis that stopped answering. `hanging` is set once one
    does (the test waits for that, not for some milliseconds)."""

    hanging: asyncio.Event

    async def _hang(self) -> list[Any]:
        self.hanging.set()
        await asyncio.Event().wait()
        return []

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        pipe.execute = lambda *a, **k: self._hang()  # type: ignore[method-assign]
        return pipe


async def test_cancelled_sender_fails_its_batch_with_a_connection_error() -> None:
    redis = StuckRedis(server=fakeredis.FakeServer())
    redis.hanging = asyncio.Event()
    batcher = AutoPipeline(redis)
    script = redis.register_script(COMMIT)
    leader = asyncio.create_task(batcher.call(script, ["a"], []))
    follower = asyncio.create_task(batcher.call(script, ["b"], []))
    async with asyncio.timeout(5):
        await redis.hanging.wait()  # the leader sent both commits, and no answer comes
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    with pytest.raises(RedisConnectionError):
        await follower
