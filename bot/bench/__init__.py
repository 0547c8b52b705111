"""`python -m bot bench`: start everything on 127.0.0.1, measure, print a table, write JSON.

  1. inbound throughput of `python -m bot serve` (signed Twilio webhooks, a real Redis,
     the worker sending every reply to a Twilio sandbox), of a bare aiohttp app and of the
     floor app (bare + signature check + one Lua script: `bench.floor`), on the same core;
  2. webhook answer and text-to-reply latency at 1,000 texts/s offered (open loop);
  3. 50 texts from one phone at once;
  4. the worker's completed upstream actions per second against 50 ms sandboxes;
  5. Redis bytes per conversation (100,000 of them) and the server's resident memory;
  6. one engine step;
  7. (only when asked: `--only rally`, up to about 8 minutes) the rally: 30,000 new phones text
     the keyword within 30 s with SMS_RATE=100; opt-in reply and code waits, sends a second.

How to read the figures, and the figures of a real run: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bench import cluster_phase, engine, memory, phases, rally, report
from bot.bench.procs import PYTHON, ROOT, Proc, Procs, cores, free_port, pin
from bot.bench.stack import (
    BenchError,
    server_env,
    start_bare,
    start_floor,
    start_redis,
    start_sandbox,
    start_server,
    stop_redis,
)
from bot.config import Settings
from bot.flow import FlowError, FlowSet
from bot.runtime import load_flows

PHASES = ("engine", "throughput", "latency", "burst", "effects", "memory")
OPT_IN_PHASES = ("rally",)  # long: run only when named in --only


@dataclass(frozen=True)
class Plan:
    """How much of everything; `--quick` shrinks durations and counts, not the rates."""

    warmup: float = 2.0
    duration: float = 8.0
    concurrency: int = 64
    unique_texts: int = 60_000
    rate: float = 1000.0
    latency_seconds: float = 10.0
    phones: int = 1000
    burst: int = 50
    resend: int = 10
    actions: int = 20_000
    worker_concurrency: int = 256
    conversations: int = 100_000
    engine_seconds: float = 3.0
    rally_phones: int = 30_000
    rally_seconds: float = 30.0
    rally_yes: int = 300
    rally_rate: float = 100.0
    rally_optin_wait: float = 30.0  # opt-in replies are measured this long after the load
    rally_code_timeout: float = 420.0  # codes are waited for until all came (or this)


QUICK = Plan(warmup=1.0, duration=3.0, unique_texts=25_000, latency_seconds=4.0,
             actions=6_000, conversations=20_000, engine_seconds=1.0,
             rally_phones=6_000, rally_seconds=15.0, rally_yes=100, rally_optin_wait=15.0,
             rally_code_timeout=180.0)
TINY = Plan(warmup=0.2, duration=0.5, concurrency=8, unique_texts=2_000, rate=200.0,
            latency_seconds=1.0, phones=50, burst=10, resend=3, actions=300,
            worker_concurrency=64, conversations=500, engine_seconds=0.2,
            rally_phones=200, rally_seconds=5.0, rally_yes=10, rally_rate=20.0,
            rally_optin_wait=2.0, rally_code_timeout=30.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="shorter runs and 20,000 conversations (about a minute)")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # smoke test
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"),
                        help="where to write the JSON figures (default bench-results.json)")
    parser.add_argument("--only", default=",".join(PHASES),
                        help=f"comma-separated phases to run (default: {','.join(PHASES)}; "
                        f"also {','.join(OPT_IN_PHASES)}, only when named)")
    parser.add_argument("--rate", type=float, metavar="N",
                        help="texts/s the latency phase offers (default 1,000, the rate its "
                        "target is set at; another rate is reported but not judged: for a "
                        "machine that cannot carry 1,000/s, to see the tail below saturation)")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="throughput: the bot N times, each between two runs of the floor "
                        "app; bot / floor is the median round's (default 1; 3 for a verdict "
                        "on a VM whose speed drifts, about 20 s more a round with --quick)")
    parser.add_argument("--rally-phones", type=int, metavar="N",
                        help="phones texting the keyword in the rally phase (default 30,000; "
                        "--quick 6,000)")
    parser.add_argument("--redis-url", help="use this Redis database (flushed before and "
                        "after) instead of a private redis-server on a free port")
    parser.add_argument("--redis", choices=("single", "cluster"), default="single",
                        help="cluster: also run the throughput and latency phases on a local "
                        "Redis Cluster (3 masters + 3 replicas), and the latency with "
                        "REDIS_WAIT_REPLICAS=1, beside single Redis' figures")
    parser.add_argument("--flows", type=Path, default=ROOT / "flows",
                        help="flow file or folder the bot runs (default: the shipped flows/)")
    parser.add_argument("--conversations", type=int, help="conversations for the memory phase")
    parser.add_argument("--worker", choices=("inprocess", "separate", "off"),
                        default="inprocess",
                        help="where the worker runs during phases 1-3: inside `serve` (the "
                        "default deployment), as `python -m bot worker` on the load core "
                        "(the Procfile's web + worker), or not at all (webhook cost alone)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra configuration for the bot's processes (repeatable), "
                        "e.g. REDIS_POOL_SIZE=128, to try a setting")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record py-spy flame graphs of the server into DIR")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the children's logs (their folder is printed)")
    return parser


def main(argv: list[str]) -> int:
    """Run the benchmark; 0 when it ran (whatever the verdicts), 2 when it could not."""
    args = _parser().parse_args(argv)
    plan = TINY if args.tiny else QUICK if args.quick else Plan()
    if args.conversations:
        plan = Plan(**{**plan.__dict__, "conversations": args.conversations})
    if args.rounds < 1:
        _err("--rounds must be at least 1")
        return 2
    if args.rate:
        plan = Plan(**{**plan.__dict__, "rate": args.rate})
    if args.rally_phones:
        plan = Plan(**{**plan.__dict__, "rally_phones": args.rally_phones})
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(only) - set(PHASES) - set(OPT_IN_PHASES)
    if unknown:
        _err(f"unknown phases: {', '.join(sorted(unknown))}")
        return 2
    try:
        results = run(plan, only, args)
    except (BenchError, FlowError) as exc:
        _err(f"bench: {exc}")
        return 2
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    sys.stdout.write(f"\n{report.table(results)}\n\nfigures: {args.out}  "
                     f"({results['meta']['elapsed_s']:.0f} s)\n")
    return 0


def _flows(path: Path) -> tuple[Settings, FlowSet, str]:
    settings = Settings(_env_file=None, flow_path=path)
    flows = load_flows(settings)
    default = flows.flows[flows.default]
    keyword = next(iter(default.keywords))
    return settings, flows, keyword


def run(plan: Plan, only: list[str], args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    server_core, load_core = cores()
    core = phases.Cores(server_core, load_core)
    pin(os.getpid(), load_core)  # the orchestrator stays off the server's core
    settings, flows, keyword = _flows(args.flows.resolve())
    results: dict[str, Any] = {"meta": _meta(plan, core, args, keyword)}
    timings: dict[str, float] = {}
    if "engine" in only:
        _say("6 engine step microbenchmark")
        t = time.monotonic()
        results["engine"] = engine.measure(settings, plan.engine_seconds)
        timings["engine"] = time.monotonic() - t
    workdir = Path(tempfile.mkdtemp(prefix="civictext-bench-"))
    procs = Procs(workdir)
    redis = None
    try:
        if set(only) - {"engine"}:
            redis = start_redis(procs, args.redis_url, load_core)
            results["meta"]["redis"] = {"version": redis.version,
                                        "private": redis.private is not None}
        if redis and set(only) & {"throughput", "latency", "burst"}:
            _http_phases(procs, plan, only, args, core, redis, keyword, results, timings)
        if args.redis == "cluster" and set(only) & {"throughput", "latency"}:
            t = time.monotonic()
            extra = {} if args.worker == "inprocess" else {"RUN_WORKER": "false"}
            extra.update(dict(item.split("=", 1) for item in args.server_env))
            results["cluster"] = cluster_phase.run_cluster(
                procs, plan, only, args.flows.resolve(), core, keyword, extra,
                args.worker != "off", _say,
                lambda server: _separate_worker(procs, args, server, core))
            timings["cluster"] = time.monotonic() - t
        if redis and "effects" in only:
            _effects_phase(procs, plan, args, core, redis, results, timings)
        if redis and "rally" in only:
            _rally_phase(procs, plan, args, core, redis, keyword, results, timings)
        if redis and "memory" in only:
            _say(f"5 Redis memory: {plan.conversations:,} conversations")
            t = time.monotonic()
            results["memory"] = asyncio.run(memory.measure(redis.url, flows, keyword,
                                                           plan.conversations))
            timings["memory"] = time.monotonic() - t
    finally:
        if redis is not None:
            stop_redis(procs, redis)
        procs.close()
        if args.keep_logs:
            _err(f"logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["phase_seconds"] = timings
    results["meta"]["elapsed_s"] = time.monotonic() - started
    return results


def _http_phases(procs: Procs, plan: Plan, only: list[str], args: argparse.Namespace,
                 core: phases.Cores, redis: Any, keyword: str, results: dict[str, Any],
                 timings: dict[str, float]) -> None:
    sandbox = start_sandbox(procs, 0.0, core.load)
    extra = {} if args.worker == "inprocess" else {"RUN_WORKER": "false"}
    if "throughput" in only:
        t = time.monotonic()
        texts = [[phases.phone(i // 100_000, i % 100_000), keyword, phases.sid("T", i)]
                 for i in range(plan.unique_texts)]
        _say(f"1 inbound throughput: bare aiohttp, {plan.warmup + plan.duration:.0f} s")
        bare = start_bare(procs, core.server)
        bare_result = phases.throughput_bare(bare, texts, core, plan.concurrency,
                                             plan.warmup, plan.duration)
        procs.stop(bare.proc)
        _say(f"1 inbound throughput: the floor app, {plan.warmup + plan.duration:.0f} s")
        floor = start_floor(procs, redis.url, core.server)
        floors = [phases.throughput_bare(floor, texts, core, plan.concurrency,
                                         plan.warmup, plan.duration)]
        server = _server(procs, redis, sandbox, args, core, **extra)
        worker = _separate_worker(procs, args, server, core)
        rss_idle = server.proc.rss()
        bots: list[dict[str, Any]] = []
        for round_ in range(args.rounds):
            # Each round's phones are new to the bot, and each floor run's message ids
            # new to the floor app: every round measures the same work.
            fresh = texts if round_ == 0 else [
                [phases.phone(i // 100_000, i % 100_000), keyword, phases.sid(f"R{round_}", i)]
                for i in range(round_ * plan.unique_texts, (round_ + 1) * plan.unique_texts)]
            again = [[p, k, phases.sid(f"U{round_}", i)] for i, (p, k, _) in enumerate(fresh)]
            _say(f"1 inbound throughput: the bot, {plan.warmup + plan.duration:.0f} s + "
                 f"catch-up{_of_rounds(round_, args.rounds)}")
            with _py_spy(args.profile if round_ == 0 else None, "throughput",
                         server.proc.pid, plan.warmup + plan.duration), \
                    _py_spy(args.profile if worker and round_ == 0 else None,
                            "throughput-worker", worker.pid if worker else 0,
                            plan.warmup + plan.duration):
                bots.append(phases.throughput_bot(server, sandbox, fresh, core,
                                                  plan.concurrency, plan.warmup, plan.duration,
                                                  replies=args.worker != "off",
                                                  worker=worker))
            _say(f"1 inbound throughput: the floor app again, "
                 f"{plan.warmup + plan.duration:.0f} s{_of_rounds(round_, args.rounds)}")
            floors.append(phases.throughput_bare(floor, again, core, plan.concurrency,
                                                 plan.warmup, plan.duration))
        procs.stop(floor.proc)
        results["throughput"] = {"bare": bare_result, "concurrency": plan.concurrency,
                                 **phases.rounds(bots, floors)}
        timings["throughput"] = time.monotonic() - t
    else:
        server = _server(procs, redis, sandbox, args, core, **extra)
        worker = _separate_worker(procs, args, server, core)
        rss_idle = server.proc.rss()
    if "latency" in only:
        _say(f"2 latency: {plan.rate:,.0f} texts/s from {plan.phones:,} phones, "
             f"{plan.latency_seconds:.0f} s")
        t = time.monotonic()
        with _py_spy(args.profile, "latency", server.proc.pid, plan.latency_seconds):
            results["latency"] = phases.latency(server, sandbox, keyword, core, plan.rate,
                                                plan.latency_seconds, plan.phones,
                                                replies=args.worker != "off")
        timings["latency"] = time.monotonic() - t
    if "burst" in only:
        _say(f"3 burst: {plan.burst} texts from one phone at once")
        t = time.monotonic()
        results["burst"] = phases.burst(server, redis, keyword, core, plan.burst, plan.resend)
        timings["burst"] = time.monotonic() - t
    results["server_rss"] = {"idle": rss_idle, "after": server.proc.rss()}
    if worker is not None:
        results["worker_rss"] = worker.rss()
        procs.stop(worker)
    procs.stop(server.proc)
    procs.stop(sandbox.proc)
    redis.flush()


def _effects_phase(procs: Procs, plan: Plan, args: argparse.Namespace, core: phases.Cores,
                   redis: Any, results: dict[str, Any], timings: dict[str, float]) -> None:
    _say(f"4 worker: {plan.actions:,} consent_sync actions against 50 ms sandboxes")
    t = time.monotonic()
    redis.flush()
    fill_s = asyncio.run(phases.fill_outbox(redis.url, plan.actions))
    sandbox = start_sandbox(procs, 0.05, core.load)
    server = _server(procs, redis, sandbox, args, core, name="server-effects",
                     WORKER_CONCURRENCY=str(plan.worker_concurrency))
    concurrency = int(server.proc.env["WORKER_CONCURRENCY"])  # --server-env may set it
    with _py_spy(args.profile, "effects", server.proc.pid, 8):
        out = phases.effects(server, sandbox, plan.actions, concurrency)
    out["fill_seconds"] = fill_s
    results["effects"] = out
    procs.stop(server.proc)
    procs.stop(sandbox.proc)
    redis.flush()
    timings["effects"] = time.monotonic() - t


def _rally_phase(procs: Procs, plan: Plan, args: argparse.Namespace, core: phases.Cores,
                 redis: Any, keyword: str, results: dict[str, Any],
                 timings: dict[str, float]) -> None:
    _say(f"7 rally: {plan.rally_phones:,} phones in {plan.rally_seconds:.0f} s, "
         f"{plan.rally_yes} answer YES, SMS_RATE={plan.rally_rate:.0f}")
    t = time.monotonic()
    redis.flush()
    sandbox = start_sandbox(procs, 0.0, core.load)
    extra = {} if args.worker == "inprocess" else {"RUN_WORKER": "false"}
    # The bot's own codes: a code is a text through the shared bucket, in the urgent lane.
    # The code breaker (VERIFY_CODES_PER_MINUTE, default 60 for all phones) would refuse
    # most of the YES phones' codes: raised to their number, so it measures the pacing.
    server = _server(procs, redis, sandbox, args, core, name="server-rally",
                     SMS_RATE=f"{plan.rally_rate:g}", VERIFY_PROVIDER="local",
                     VERIFY_CODES_PER_MINUTE=str(max(60, plan.rally_yes)), **extra)
    worker = _separate_worker(procs, args, server, core)
    rate = float(server.proc.env["SMS_RATE"])  # --server-env may set it
    results["rally_server_env"] = {k: server.proc.env[k] for k in (
        "SMS_RATE", "VERIFY_PROVIDER", "VERIFY_CODES_PER_MINUTE", "WORKER_CONCURRENCY")
        if k in server.proc.env}
    results["rally"] = rally.rally(server, sandbox, keyword, core, plan.rally_phones,
                                   plan.rally_yes, plan.rally_seconds, rate,
                                   plan.rally_optin_wait, plan.rally_code_timeout)
    if worker is not None:
        procs.stop(worker)
    procs.stop(server.proc)
    procs.stop(sandbox.proc)
    redis.flush()
    timings["rally"] = time.monotonic() - t


def _of_rounds(round_: int, rounds: int) -> str:
    return f" (round {round_ + 1} of {rounds})" if rounds > 1 else ""


def _separate_worker(procs: Procs, args: argparse.Namespace, server: Any,
                     core: phases.Cores) -> Proc | None:
    """`python -m bot worker` with the server's configuration, on the load core."""
    if args.worker != "separate":
        return None
    # Its leases outlive the throughput phase's hold (`phases.throughput_bot`): let go, it
    # reads on at once instead of first waiting to take its shards again.
    env = {**server.proc.env, "RUN_WORKER": "true", "WORKER_LEASE_MS": "60000"}
    worker = procs.start("worker", [PYTHON, "-m", "bot", "worker"], env, core.load)
    # Started, not starting: its imports (a second or more of CPU) would otherwise run
    # during the load or the drain, and count in its CPU per text. Its banner comes once
    # Redis answered; a few quiet moments after it, it waits for work. (An idle worker
    # polls: on a cluster, every shard's streams, which costs it a tenth of a core or
    # more on a slow VM; then it is as started as it gets.)
    worker.wait_line("civictext worker", timeout=60)
    worker.wait_idle(timeout=3)
    return worker


def _server(procs: Procs, redis: Any, sandbox: Any, args: argparse.Namespace,
            core: phases.Cores, name: str = "server", **extra: str) -> Any:
    overrides = dict(item.split("=", 1) for item in args.server_env)
    env = server_env(redis.url, sandbox, free_port(), args.flows.resolve(),
                     **{**extra, **overrides})
    return start_server(procs, env, core.server, name=name)


@contextlib.contextmanager
def _py_spy(folder: Path | None, name: str, pid: int, seconds: float) -> Any:
    """Record `pid` for `seconds` while the block runs (when asked): a flame graph
    (`name.svg`) and the folded stacks (`name.folded`, for speedscope or flamegraph.pl)."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    spies = [subprocess.Popen([spy, "record", "--pid", str(pid), "--duration",  # noqa: S603
                               str(max(1, int(seconds))), "--rate", "250", "--nonblocking",
                               "--format", fmt, "--output", str(folder / f"{name}.{ext}")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for fmt, ext in (("flamegraph", "svg"), ("raw", "folded"))]
    try:
        yield
    finally:
        for spy_proc in spies:
            try:
                spy_proc.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                spy_proc.wait(timeout=10)


def _meta(plan: Plan, core: phases.Cores, args: argparse.Namespace,
          keyword: str) -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always",  # noqa: S607
                                 "--dirty"], capture_output=True, text=True, timeout=10,
                                check=False).stdout.strip()
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import uvloop  # noqa: PLC0415

        loop = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        loop = "asyncio"
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit, "python": platform.python_version(), "cpu": cpu,
        "cpus": os.cpu_count(), "server_core": core.server, "load_core": core.load,
        "event_loop": loop, "plan": plan.__dict__, "quick": bool(args.quick),
        "flows": str(args.flows), "start_keyword": keyword,
        "log_level_server": "WARNING", "worker": args.worker,
        "server_env": args.server_env,
    }


def _say(text: str) -> None:
    _err(f"[bench] {text}")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
