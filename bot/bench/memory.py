"""Redis memory per conversation, from Redis's own `INFO memory` (`used_memory`).

Conversations are made the way the bot makes them: the engine steps a new phone with the
start keyword (then, in a second stage, with YES: the opt-in reply), and the store commits
each step with its atomic script (dedup mark, conversation, outbox entry, timer, consent
line), pipelined in batches so 100,000 take seconds. The outbox entries are then removed,
as the worker's acknowledgements would, because a settled conversation has none; the
figure with them is reported too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from bot.clock import RandomIds
from bot.engine import Rules, step
from bot.flow import FlowSet
from bot.models import Conversation, Inbound
from bot.store import ConversationStore, Keys
from bot.store.conversations import decode
from bot.store.lanes import STREAMS
from bot.store.scripts import COMMIT

BATCH = 1000
SHARDS = 16
TTL = 30 * 24 * 3600


def redis_client(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=60, socket_connect_timeout=5)


async def used_memory(client: Redis) -> int:
    await asyncio.sleep(0.2)  # let lazy frees and the allocator's stats settle
    info: dict[str, Any] = await client.info("memory")
    return int(info["used_memory"])


def _number(n: int) -> str:
    return f"+1303{200 + n // 10_000:03d}{n % 10_000:04d}"


async def _stage(store: ConversationStore, flows: FlowSet, rules: Rules, count: int,
                 body: str, tag: str, convs: list[Conversation] | None) -> list[Conversation]:
    """Step `count` phones with `body` and commit, in pipelined batches; the new states."""
    ids = RandomIds()
    out: list[Conversation] = []
    for first in range(0, count, BATCH):
        items = []
        for n in range(first, min(count, first + BATCH)):
            number = _number(n)
            before = convs[n] if convs is not None else Conversation(phone=number)
            now = time.time()
            event = Inbound(provider="twilio", message_id=f"SM{tag}{n:030d}", phone=number,
                            body=body, received_at=now)
            result = step(flows, before, event, now, ids, rules)
            items.append((before, result, f"twilio:{event.message_id}"))
            out.append(result.conversation.model_copy(
                update={"version": before.version + 1}))
        results = await store.commit_many(items)
        failed = [r for r in results if not isinstance(r, str)]
        if failed:
            raise RuntimeError(f"{len(failed)} commits failed: {failed[0]!r}")
    return out


async def _sizes(client: Redis, keys: Keys, sample: list[str]) -> dict[str, Any]:
    """Where the bytes are: MEMORY USAGE of sampled per-phone keys and of the shared ones."""
    def usage_of(values: list[Any]) -> float:
        numbers = [int(v) for v in values if v is not None]
        return sum(numbers) / max(1, len(numbers))

    pipe = client.pipeline(transaction=False)
    for number in sample:
        pipe.memory_usage(keys.conversation(number), samples=0)
    conv_usage = usage_of(await pipe.execute())
    seen = [k async for k in client.scan_iter(match=f"{keys.prefix}:seen:*", count=1000)][:200]
    pipe = client.pipeline(transaction=False)
    for key in seen:
        pipe.memory_usage(key, samples=0)
    seen_usage = usage_of(await pipe.execute())
    shared: dict[str, int] = {}
    for kind in ("timers", "consent", "outbox", "ignored"):
        pipe = client.pipeline(transaction=False)
        for shard in keys.all_shards():
            pipe.memory_usage(getattr(keys, kind)(shard), samples=0)
        shared[kind] = sum(int(v) for v in await pipe.execute() if v is not None)
    values = await client.mget([keys.conversation(n) for n in sample])
    value_len = sum(len(v) for v in values if v) / max(1, len(sample))
    example = decode(sample[0], values[0]) if values and values[0] else None
    return {"conversation_key_bytes": conv_usage, "conversation_value_len": value_len,
            "seen_key_bytes": seen_usage, "shared_keys_bytes": shared,
            "example_value": _text(values[0]) if values and values[0] else None,
            "example_state": example.state if example else None}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _trim_outboxes(client: Redis, keys: Keys) -> None:
    for shard in keys.all_shards():
        for stream in STREAMS:
            await client.xtrim(keys.outbox(shard, stream), maxlen=0)


async def measure(url: str, flows: FlowSet, keyword: str, count: int) -> dict[str, Any]:
    """Per-conversation bytes after `count` new phones text `keyword`, then YES."""
    client = redis_client(url)
    keys = Keys(shards=SHARDS)
    store = ConversationStore(client, keys, TTL)
    rules = Rules()
    try:
        await client.flushdb()
        await client.script_load(COMMIT)  # cached scripts count in `before`, not per phone
        base = await used_memory(client)
        started = time.perf_counter()
        convs = await _stage(store, flows, rules, count, keyword, "J", None)
        stage1_s = time.perf_counter() - started
        with_outbox = await used_memory(client) - base
        await _trim_outboxes(client, keys)
        joined = await used_memory(client) - base
        sample = [_number(n) for n in range(0, count, max(1, count // 200))]
        sizes_joined = await _sizes(client, keys, sample)
        started = time.perf_counter()
        await _stage(store, flows, rules, count, "YES", "Y", convs)
        stage2_s = time.perf_counter() - started
        await _trim_outboxes(client, keys)
        replied = await used_memory(client) - base
        sizes_replied = await _sizes(client, keys, sample)
        info: dict[str, Any] = await client.info("memory")
        await client.flushdb()
    finally:
        await client.aclose()
    return {
        "conversations": count,
        "after_keyword": {"bytes_per_conversation": joined / count,
                          "with_outbox_backlog": with_outbox / count,
                          "commits_per_s": count / stage1_s, "breakdown": sizes_joined},
        "after_reply": {"bytes_per_conversation": replied / count,
                        "commits_per_s": count / stage2_s, "breakdown": sizes_replied},
        "allocator": info.get("mem_allocator"),
        "fragmentation_ratio": info.get("mem_fragmentation_ratio"),
    }
