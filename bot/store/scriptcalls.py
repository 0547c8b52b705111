"""Script calls in one round trip: many at once, optionally followed by `WAIT` for replicas.

They speak EVALSHA through a pipeline themselves (redis-py's script objects cannot ride a
cluster pipeline), and load the script when a node does not know it yet (a new master).

Redis replicates asynchronously: a text answered 200 just before its master dies can be
lost with it. `REDIS_WAIT_REPLICAS=n` makes a commit wait (bounded) until n replicas hold
it. `WAIT` counts the writes of its own connection, so it rides at the end of the same
pipeline as the scripts: on a cluster, one per node the scripts went to.
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

    def __init__(self, redis: RedisClient, wait: Wait | None = None) -> None:
        self.redis = redis
        self.wait = wait  # (replicas, timeout ms): every call waits for replicas
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
            if len(batch) == 1 and self.wait is None:
                script, keys, args, _ = batch[0]
                results: list[Any] = [await script(keys=keys, args=args)]
            else:
                results = await _call_scripts(self.redis, [(s, k, a) for s, k, a, _ in batch],
                                              self.wait)
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
                        calls: list[tuple[AsyncScript, list[str], list[Any]]],
                        wait: Wait | None = None) -> list[Any]:
    """Like `call_many`, for calls of possibly different scripts; with `wait`, each
    connection's scripts are followed by `WAIT`, and a call whose node did not get enough
    replicas to confirm in time answers `NotReplicated`."""
    results: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for _ in range(2):
        nodes = [_node_of(redis, calls[i][1]) for i in todo] if wait else []
        async with redis.pipeline(transaction=False) as pipe:
            for index in todo:
                script, keys, args = calls[index]
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            waits = _queue_waits(redis, pipe, nodes, wait)
            answers = await pipe.execute(raise_on_error=False)
        acked = dict(zip(waits, answers[len(todo):], strict=True))
        for n, (index, answer) in enumerate(zip(todo, answers, strict=False)):
            confirmed = wait and not isinstance(answer, Exception)
            results[index] = _confirmed(answer, acked[nodes[n]], wait) if confirmed else answer
        missing = [i for i in todo if isinstance(results[i], NoScriptError)]
        if not missing:
            break
        for script in {id(calls[i][0]): calls[i][0] for i in missing}.values():
            await redis.script_load(script.script)
        todo = missing
    return results


Wait = tuple[int, int]
"""How many replicas a write waits for, and for how many milliseconds at most."""


def _node_of(redis: RedisClient, keys: list[str]) -> str:
    """The node a call's keys live on ("" for a single server: one connection)."""
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(keys[0])
        return node.name if node is not None else ""
    return ""


def _queue_waits(redis: RedisClient, pipe: Any, nodes: list[str],
                 wait: Wait | None) -> list[str]:
    """Queue one `WAIT` per node the calls went to (after them: same connection)."""
    if wait is None:
        return []
    names = list(dict.fromkeys(nodes))
    for name in names:
        if isinstance(redis, RedisCluster):
            pipe.execute_command("WAIT", *wait, target_nodes=redis.get_node(node_name=name))
        else:
            pipe.execute_command("WAIT", *wait)
    return names


def _confirmed(answer: Any, acked: Any, wait: Wait | None) -> Any:
    assert wait is not None
    if isinstance(acked, Exception) or int(acked) < wait[0]:
        return NotReplicated(f"{acked!r} of {wait[0]} replicas acknowledged in {wait[1]} ms")
    return answer
