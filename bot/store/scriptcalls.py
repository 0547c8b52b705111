"""Script calls in one round trip: many at once, or one followed by `WAIT` for replicas.

Both speak EVALSHA through a pipeline themselves (redis-py's script objects cannot ride a
cluster pipeline), and load the script when a node does not know it yet (a new master).


Redis replicates asynchronously: a text answered 200 just before its master dies can be
lost with it. `REDIS_WAIT_REPLICAS=n` makes a commit wait (bounded) until n replicas hold
it. `WAIT` counts the writes of its own connection, so it rides in the same pipeline as the
script: on a cluster, pinned to the node that owns the script's keys.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from bot.redis_conn import RedisClient


class NotReplicated(Exception):
    """The commit is written on the master, but fewer replicas than asked acknowledged it in
    time: the webhook answers 503, and the provider's retry is a no-op when the write
    survived (its dedup mark) or writes it again when it did not."""


async def call_many(redis: RedisClient, script: AsyncScript,
                    calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
    """Run `script` once per (keys, args) in one pipeline (on a cluster: one per node, in
    parallel); each answer in order, an error in its place when that call failed."""
    results: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for _ in range(2):
        async with redis.pipeline(transaction=False) as pipe:
            for index in todo:
                keys, args = calls[index]
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            answers = await pipe.execute(raise_on_error=False)
        for index, answer in zip(todo, answers, strict=True):
            results[index] = answer
        todo = [i for i, answer in zip(todo, answers, strict=True)
                if isinstance(answer, NoScriptError)]
        if not todo:
            break
        await redis.script_load(script.script)
    return results


async def call_and_wait(redis: RedisClient, script: AsyncScript, keys: list[str],
                        args: list[Any], replicas: int, timeout_ms: int) -> Any:
    """Run `script` and then `WAIT replicas timeout_ms` on the same connection; the script's
    answer, or `NotReplicated` (also when the wait itself failed, e.g. after a failover)."""
    for _ in range(2):  # a fresh node may not know the script yet: load it and go again
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            if isinstance(redis, RedisCluster):
                node = redis.get_node_from_key(keys[0])
                pipe.execute_command("WAIT", replicas, timeout_ms, target_nodes=node)
            else:
                pipe.execute_command("WAIT", replicas, timeout_ms)
            result, acked = await pipe.execute(raise_on_error=False)
        if isinstance(result, NoScriptError):
            await redis.script_load(script.script)
            continue
        if isinstance(result, Exception):
            raise result
        if isinstance(acked, Exception) or int(acked) < replicas:
            raise NotReplicated(f"{acked!r} of {replicas} replicas acknowledged in "
                                f"{timeout_ms} ms")
        return result
    raise NotReplicated("the script could not be loaded")
