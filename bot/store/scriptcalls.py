"""Script calls in one round trip: many at once, or one followed by `WAIT` for replicas.

Both speak EVALSHA through a pipeline themselves (redis-py's script objects cannot ride a
cluster pipeline), and load the script when a node does not know it yet (a new master).


Redis replicates asynchronously: a text answered 200 just before its master dies can be
lost with it. `REDIS_WAIT_REPLICAS=n` makes a commit wait (bounded) until n replicas hold
it. `WAIT` counts the writes of its own connection, so it rides in the same pipeline as the
script: on a cluster, pinned to the node that owns the script's keys.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
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
    return await _call_scripts(redis, [(script, keys, args) for keys, args in calls])


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


class AutoPipeline:
    """Script calls made in the same event-loop turn go to Redis in one pipeline.

    Under a spike many webhooks commit at once, and each commit alone pays a pool check-out,
    a write and a read (most of the Redis client's cost per text). Queued here, the calls of
    one loop turn share one round trip (per node on a cluster), as ioredis' auto-pipelining
    does; a lone call goes straight through. Each caller gets its own answer or error.

    The first caller of a turn sends for all, in its own task: when it is cancelled (its
    webhook's time ran out) the round trip is cancelled with it, as a lone call would be,
    and the others of its batch get a connection error (503: the provider retries).
    """

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._queue: list[_Queued] = []

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, future))
        if len(self._queue) == 1:
            batch: list[_Queued] = []
            try:
                await asyncio.sleep(0)  # the others of this loop turn join the queue
                batch, self._queue = self._queue, []
                await self._send(batch)
            except asyncio.CancelledError:
                if not batch:
                    batch, self._queue = self._queue, []
                future.cancel()
                _fail(batch, RedisConnectionError("a batched Redis call was cancelled"))
                raise
        return await future

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            if len(batch) == 1:
                script, keys, args, _ = batch[0]
                results: list[Any] = [await script(keys=keys, args=args)]
            else:
                results = await _call_scripts(self.redis, [(s, k, a) for s, k, a, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            _fail(batch, exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


_Queued = tuple[AsyncScript, list[str], list[Any], "asyncio.Future[Any]"]


def _fail(batch: list[_Queued], exc: BaseException) -> None:
    for *_, future in batch:
        if not future.done():
            future.set_exception(exc)


async def _call_scripts(redis: RedisClient,
                        calls: list[tuple[AsyncScript, list[str], list[Any]]]) -> list[Any]:
    """Like `call_many`, for calls of possibly different scripts."""
    results: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for _ in range(2):
        async with redis.pipeline(transaction=False) as pipe:
            for index in todo:
                script, keys, args = calls[index]
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            answers = await pipe.execute(raise_on_error=False)
        for index, answer in zip(todo, answers, strict=True):
            results[index] = answer
        missing = [i for i, answer in zip(todo, answers, strict=True)
                   if isinstance(answer, NoScriptError)]
        if not missing:
            break
        for script in {id(calls[i][0]): calls[i][0] for i in missing}.values():
            await redis.script_load(script.script)
        todo = missing
    return results
