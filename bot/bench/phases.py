"""The measurements over HTTP: inbound throughput, latency, one phone's burst, the worker.

Each function drives a running stack (see `stack.py`) and returns plain figures; the
report (see `report.py`) judges them against the targets.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.bench.memory import redis_client
from bot.bench.procs import (
    CoreWatch,
    CpuSampler,
    Proc,
    http_get,
    http_post,
    metric_sum,
    run_loadgen,
    scrape,
)
from bot.bench.stack import TOKEN, RedisTarget, Sandbox, Server
from bot.models import Conversation, RunAction, Step
from bot.store import ConversationStore, Keys
from bot.store.conversations import decode

SETTLE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Cores:
    server: int | None
    load: int | None


def phone(block: int, n: int) -> str:
    """A distinct, valid US mobile-format number: block (0-79) and n (0-99,999)."""
    exchange = 200 + block * 10 + n // 10_000
    return f"+1202{exchange:03d}{n % 10_000:04d}"


def sid(prefix: str, n: int) -> str:
    return f"SM{prefix}{n:0{32 - len(prefix)}d}"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean, in milliseconds (values are seconds)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"n": len(ordered), "p50_ms": pick(0.50), "p90_ms": pick(0.90),
            "p99_ms": pick(0.99), "max_ms": ordered[-1] * 1000,
            "mean_ms": sum(ordered) / len(ordered) * 1000}


def _window(result: dict[str, Any]) -> dict[str, Any]:
    """Answers completed inside the measurement window of a closed-loop run."""
    lo, hi = result["window_start"], result["window_end"]
    inside = [(s, d, st) for s, d, st in zip(result["sent"], result["done"], result["status"],
                                             strict=True) if lo <= d <= hi]
    ok = [d - s for s, d, st in inside if st == 200]
    statuses: dict[str, int] = defaultdict(int)
    for st in result["status"]:
        statuses[str(st)] += 1
    seconds = max(1e-9, hi - lo)
    return {"rate_per_s": len(ok) / seconds, "window_s": seconds, "answered_in_window": len(ok),
            "sent_total": len(result["status"]), "statuses": dict(statuses),
            "latency": percentiles(ok)}


def throughput_bare(bare: Server, texts: list[list[str]], cores: Cores,
                    concurrency: int, warmup: float, duration: float) -> dict[str, Any]:
    """The yardstick, measured exactly like the bot (same requests, same generator)."""
    with CpuSampler(bare.proc) as cpu:
        result = run_loadgen({"mode": "closed", "port": bare.port, "token": TOKEN,
                              "texts": texts, "concurrency": concurrency, "warmup": warmup,
                              "duration": duration, "cycle": True},
                             cores.load, timeout=warmup + duration + 120)
    out = _window(result)
    out["server_cpu_share"] = cpu.share(result["window_start"], result["window_end"])
    out["server_cpu_us_per_request"] = out["server_cpu_share"] / max(1e-9, out["rate_per_s"]) * 1e6
    out["build_s"] = result["build_seconds"]
    return out


def bracketed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The floor measured just before and just after the bot, as one: the mean of its rate
    and CPU. A VM's speed drifts by a fifth within minutes; a drift that runs one way while
    the three windows pass then tilts bot / floor no more than it tilts the floor itself."""
    out = dict(before)
    for key in ("rate_per_s", "server_cpu_share", "server_cpu_us_per_request"):
        out[key] = (before[key] + after[key]) / 2
    out["runs"] = [before, after]
    return out


def rounds(bots: list[dict[str, Any]], floors: list[dict[str, Any]]) -> dict[str, Any]:
    """The bot's runs, each between two floor runs (`floors` has one more): bot / floor per
    round against the mean of its two floors, and the median round's bot and floor as
    `bot` and `floor` (with every round's figures in `rounds`)."""
    per = []
    for n, bot in enumerate(bots):
        floor = bracketed(floors[n], floors[n + 1])
        per.append({"bot": bot, "floor": floor,
                    "ratio": bot["rate_per_s"] / max(1e-9, floor["rate_per_s"])})
    middle = sorted(per, key=lambda r: r["ratio"])[len(per) // 2]
    return {"bot": middle["bot"], "floor": middle["floor"],
            "rounds": [{"ratio": r["ratio"], "bot_rate_per_s": r["bot"]["rate_per_s"],
                        "floor_rate_per_s": r["floor"]["rate_per_s"],
                        "bot_cpu_us_per_text": r["bot"]["server_cpu_us_per_text"],
                        "floor_cpu_us_per_request": r["floor"]["server_cpu_us_per_request"]}
                       for r in per]}


def throughput_bot(server: Server, sandbox: Sandbox, texts: list[list[str]], cores: Cores,
                   concurrency: int, warmup: float, duration: float,
                   replies: bool, worker: Proc | None = None) -> dict[str, Any]:
    """Distinct phones texting the start keyword back to back; then the worker's catch-up
    (every reply counted where it lands: at the Twilio sandbox).

    A separate `worker` is held (SIGSTOP) while the load runs and let go after it: on two
    cores it would share the load core with the generator and Redis, which the floor app's
    run has to itself (its sends cost more CPU than the generator's requests). Held, the
    webhook alone is measured as the floor is; the worker then drains the outbox, as one on
    cores of its own keeps up with it in a deployment."""
    http_post(f"{sandbox.root}/_bench/reset")
    before = scrape(f"{server.url}/metrics")
    cpu0 = server.proc.cpu_seconds()
    worker_cpu0 = worker.cpu_seconds() if worker else 0.0
    with CpuSampler(server.proc) as cpu, CoreWatch(cores.server, [server.proc]) as watch:
        with _held(worker):
            result = run_loadgen({"mode": "closed", "port": server.port, "token": TOKEN,
                                  "texts": texts, "concurrency": concurrency,
                                  "warmup": warmup, "duration": duration, "cycle": False},
                                 cores.load, timeout=warmup + duration + 180)
        load_end = time.monotonic()
        accepted = sum(1 for st in result["status"] if st == 200)
        # Wait (bounded) until the worker has sent every reply.
        sent, settled = _wait_sends(sandbox, accepted if replies else 0, SETTLE_TIMEOUT)
        done = time.monotonic()
    out = _window(result)
    out["build_s"] = result["build_seconds"]
    out["server_cpu_share"] = cpu.share(result["window_start"], result["window_end"])
    out["server_cpu_share_catch_up"] = cpu.share(load_end, done) if done - load_end > 0.3 else None
    out["accepted_total"] = accepted
    out["server_core_other_processes"] = watch.other_share
    out["replies_sent"] = sent
    out["worker_settled"] = settled
    out["drain_after_load_s"] = done - load_end
    out["end_to_end_rate_per_s"] = accepted / max(1e-9, done - result["start"])
    out["server_cpu_us_per_text"] = ((server.proc.cpu_seconds() - cpu0) / max(1, accepted)
                                     * 1e6)
    if worker is not None:
        out["worker_cpu_us_per_text"] = ((worker.cpu_seconds() - worker_cpu0)
                                         / max(1, accepted) * 1e6)
    after = scrape(f"{server.url}/metrics")
    out["five_xx"] = sum(n for st, n in out["statuses"].items() if st.startswith("5"))
    out["dead_letters"] = (metric_sum(after, "civictext_dead_letters_total")
                           - metric_sum(before, "civictext_dead_letters_total"))
    return out


@contextlib.contextmanager
def _held(worker: Proc | None) -> Iterator[None]:
    """The worker process stopped (SIGSTOP) for the block, continued after it, whatever
    happens inside."""
    if worker is None:
        yield
        return
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(worker.pid, signal.SIGCONT)


def _wait_sends(sandbox: Sandbox, expected: int, timeout: float) -> tuple[int, bool]:
    """Wait until the Twilio sandbox got `expected` sends since its reset; (count, reached)."""
    deadline = time.monotonic() + timeout
    count = 0
    while True:
        count = int(json.loads(http_get(f"{sandbox.root}/_bench/count"))["sends"])
        if count >= expected:
            return count, True
        if time.monotonic() > deadline:
            return count, False
        time.sleep(0.1)


def latency(server: Server, sandbox: Sandbox, keyword: str, cores: Cores, rate: float,
            duration: float, phones: int, replies: bool) -> dict[str, Any]:
    """Open loop at `rate` texts/s from `phones` phones (each texts the start keyword once
    a round); webhook answer times, and text -> reply-at-Twilio times."""
    http_post(f"{sandbox.root}/_bench/reset")
    total = int(rate * duration)
    texts = [[phone(70, i % phones), keyword, sid("L", i)] for i in range(total)]
    with CoreWatch(cores.server, [server.proc]) as watch:
        result = run_loadgen({"mode": "open", "port": server.port, "token": TOKEN,
                              "texts": texts, "rate": rate, "max_connections": 1000},
                             cores.load, timeout=duration + 120)
    statuses = result["status"]
    ok = [i for i, st in enumerate(statuses) if st == 200]
    answer = [result["done"][i] - result["due"][i] for i in ok]
    warm = [result["done"][i] - result["due"][i] for i in ok
            if result["due"][i] >= result["start"] + 1.0]
    service = [result["done"][i] - result["sent"][i] for i in ok]
    _wait_sends(sandbox, len(ok) if replies else 0, SETTLE_TIMEOUT)
    sends = json.loads(http_get(f"{sandbox.root}/_bench/sends"))["sends"]
    reply, unmatched = _match_replies(texts, result, sends)
    achieved = len(statuses) / max(1e-9, max(result["sent"]) - result["start"])
    return {
        "offered_rate": rate, "achieved_send_rate": achieved, "texts": total,
        "phones": phones, "connections_used": result["connections"],
        "errors": sum(1 for st in statuses if st != 200),
        "statuses": {str(st): statuses.count(st) for st in set(statuses)},
        "answer": percentiles(answer), "answer_after_first_second": percentiles(warm),
        "answer_service_time": percentiles(service),
        "text_to_reply": percentiles(reply), "replies_matched": len(reply),
        "replies_unmatched": unmatched,
        "server_core_busy": watch.busy_share, "server_core_other_processes": watch.other_share,
    }


def _match_replies(texts: list[list[str]], result: dict[str, Any],
                   sends: list[list[Any]]) -> tuple[list[float], int]:
    """Pair each phone's k-th accepted text with the k-th reply to it (order is kept per
    phone: one shard stream, one lock per phone in the worker)."""
    sent_by_phone: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for j, i in enumerate(result["index"]):
        if result["status"][j] == 200:
            sent_by_phone[texts[i][0]].append((i, result["sent"][j]))
    replies: dict[str, list[float]] = defaultdict(list)
    for to, arrived in sends:
        replies[to].append(arrived)
    out: list[float] = []
    unmatched = 0
    for number, items in sent_by_phone.items():
        times = [t for _, t in sorted(items)]
        got = sorted(replies.get(number, []))
        unmatched += abs(len(times) - len(got))
        out += [r - s for s, r in zip(times, got, strict=False)]
    return out, unmatched


def burst(server: Server, redis: RedisTarget, keyword: str, cores: Cores, texts: int,
          resend: int) -> dict[str, Any]:
    """`texts` texts from one phone at once, then `resend` of them again (provider retries);
    every one must be applied exactly once."""
    number = phone(79, 1)
    batch = [[number, keyword if i == 0 else f"{keyword} {i}", sid("B", i)]
             for i in range(texts)]
    before = scrape(f"{server.url}/metrics")
    result = run_loadgen({"mode": "burst", "port": server.port, "token": TOKEN,
                          "texts": batch, "resend": resend}, cores.load, timeout=120)
    after = scrape(f"{server.url}/metrics")
    keys = Keys()
    with redis.client() as r:
        raw = r.get(keys.conversation(number))
    stored: dict[str, Any] = {}
    if raw:
        stored = decode(number, raw).model_dump()
    statuses = result["status"] + result["resent_status"]
    latencies = [d - s for s, d in zip(result["sent"], result["done"], strict=True)]
    return {
        "texts": texts, "resent": resend, "texts_in": stored.get("texts_in"),
        "version": stored.get("version"),
        "applied_exactly_once": stored.get("texts_in") == texts,
        "cas_retries": (metric_sum(after, "civictext_cas_retries_total")
                        - metric_sum(before, "civictext_cas_retries_total")),
        "duplicates_seen": (metric_sum(after, "civictext_inbound_total", outcome="duplicate")
                            - metric_sum(before, "civictext_inbound_total",
                                         outcome="duplicate")),
        "five_xx": sum(1 for st in statuses if st >= 500),
        "statuses": {str(st): statuses.count(st) for st in set(statuses)},
        "answer": percentiles(latencies),
    }


async def fill_outbox(url: str, actions: int, batch: int = 1000) -> float:
    """`actions` outbox entries of one `consent_sync` RunAction each, committed through
    the store's atomic commit (pipelined); seconds taken."""
    started = time.perf_counter()
    client = redis_client(url)
    store = ConversationStore(client, Keys(), ttl=3600)
    try:
        for first in range(0, actions, batch):
            items = []
            for n in range(first, min(actions, first + batch)):
                number = phone(60 + n // 100_000, n % 100_000)
                conv = Conversation(phone=number)
                effect = RunAction(id=f"bench-{n}", phone=number, action="consent_sync",
                                   params={"opted_in": False})
                new = conv.model_copy(update={"opted_out": True})
                items.append((conv, Step(conversation=new, effects=[effect]), None))
            await store.commit_many(items)
    finally:
        await client.aclose()
    return time.perf_counter() - started


def effects(server: Server, sandbox: Sandbox, actions: int,
            concurrency: int) -> dict[str, Any]:
    """The worker's completed upstream actions per second, counted from /metrics (the
    sandbox is fresh: every call it counts came from these actions)."""
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + max(60.0, actions / 200)
    done = 0.0
    while time.monotonic() < deadline:
        values = scrape(f"{server.url}/metrics")
        done = metric_sum(values, "civictext_effects_total", type="action")
        samples.append((time.monotonic(), done))
        if done >= actions:
            break
        time.sleep(0.1)
    values = scrape(f"{server.url}/metrics")
    ok = metric_sum(values, "civictext_effects_total", type="action", outcome="ok")
    calls = json.loads(http_get(f"{sandbox.root}/_bench/sends"))["calls"]
    upstream_calls = sum(calls.values())
    rate = _steady_rate(samples, actions)
    return {"actions": actions, "completed": done, "ok": ok, "rate_per_s": rate,
            "worker_concurrency": concurrency, "upstream_calls": upstream_calls,
            "upstream_calls_per_action": upstream_calls / max(1.0, done),
            "upstream_delay_ms": 50, "inflight_bound_rate": concurrency / 0.05 /
            max(1.0, upstream_calls / max(1.0, done)),
            "dead_letters": metric_sum(values, "civictext_dead_letters_total"),
            "server_rss": server.proc.rss()}


def _steady_rate(samples: list[tuple[float, float]], total: int) -> float:
    """Completions per second between 10% and 90% of `total` (start-up and tail left out)."""
    lo = next(((t, c) for t, c in samples if c >= 0.1 * total), None)
    hi = next(((t, c) for t, c in samples if c >= 0.9 * total), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        if len(samples) >= 2 and samples[-1][0] > samples[0][0]:
            return (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
        return 0.0
    return (hi[1] - lo[1]) / (hi[0] - lo[0])
