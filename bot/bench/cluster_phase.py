"""`--redis cluster`: the inbound throughput and latency phases again, on a local Redis
Cluster (three masters, three replicas), and the latency once more with every commit
waiting for a replica (`REDIS_WAIT_REPLICAS=1`): the figures beside single Redis'."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.bench import phases
from bot.bench.cluster import ClusterError, LocalCluster
from bot.bench.procs import Procs, free_port, pin
from bot.bench.stack import BenchError, Server, server_env, start_sandbox, start_server

#: Where the benchmark's cluster starts looking for six free ports (and their bus ports).
BENCH_CLUSTER_PORT = 18740


def run_cluster(procs: Procs, plan: Any, only: list[str], flows: Any, cores: phases.Cores,
                keyword: str, extra: dict[str, str], replies: bool, say: Callable[[str], None],
                separate_worker: Callable[[Server], Any]) -> dict[str, Any]:
    """The cluster's figures: throughput and latency as in phases 1-2, and the latency with
    `REDIS_WAIT_REPLICAS=1`."""
    say("C Redis Cluster: starting 3 masters + 3 replicas")
    try:
        cluster = LocalCluster.start(BENCH_CLUSTER_PORT)
    except ClusterError as exc:
        raise BenchError(f"--redis cluster: {exc}") from exc
    out: dict[str, Any] = {"ports": cluster.ports}
    try:
        for proc in cluster.procs.values():
            pin(proc.pid, cores.load)
        sandbox = start_sandbox(procs, 0.0, cores.load)

        def server(**more: str) -> Server:
            env = server_env(cluster.url, sandbox, free_port(), flows,
                             **{"REDIS_CLUSTER": "true", **extra, **more})
            return start_server(procs, env, cores.server, name="server-cluster")

        bot = server()
        worker = separate_worker(bot)
        if "throughput" in only:
            say(f"C inbound throughput on the cluster, {plan.warmup + plan.duration:.0f} s")
            texts = [[phases.phone(40 + i // 100_000, i % 100_000), keyword,
                      phases.sid("C", i)] for i in range(plan.unique_texts)]
            out["throughput"] = phases.throughput_bot(
                bot, sandbox, texts, cores, plan.concurrency, plan.warmup, plan.duration,
                replies=replies, worker=worker)
        if "latency" in only:
            say(f"C latency on the cluster: {plan.rate:,.0f} texts/s")
            out["latency"] = phases.latency(bot, sandbox, keyword, cores, plan.rate,
                                            plan.latency_seconds, plan.phones, replies=replies)
        _stop(procs, bot, worker)
        if "latency" in only:
            say("C latency on the cluster, each commit waiting for a replica")
            cluster.flush()  # the same phones and message ids again: not duplicates
            waiting = server(REDIS_WAIT_REPLICAS="1")
            worker = separate_worker(waiting)
            t = time.monotonic()
            out["latency_wait_replica"] = phases.latency(
                waiting, sandbox, keyword, cores, plan.rate, plan.latency_seconds,
                plan.phones, replies=replies)
            out["latency_wait_replica"]["seconds"] = time.monotonic() - t
            _stop(procs, waiting, worker)
        procs.stop(sandbox.proc)
    finally:
        cluster.stop()
    return out


def _stop(procs: Procs, server: Server, worker: Any) -> None:
    if worker is not None:
        procs.stop(worker)
    procs.stop(server.proc)
