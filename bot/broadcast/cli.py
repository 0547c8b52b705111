"""`python -m bot broadcast`: create (or dry-run) a broadcast and follow it, or list, pause,
resume and cancel one. Needs `REDIS_URL` (the workers that send share it)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from bot.broadcast.cap import resolve_cap
from bot.broadcast.runner import POLL_SECONDS, BroadcastRunner, DryRun
from bot.broadcast.segments import SegmentError, parse_segment
from bot.broadcast.store import Broadcast, BroadcastStore, Status
from bot.cliutil import NEEDS_REDIS, parse_when
from bot.config import Settings
from bot.flow import FlowSet

BAR = 30


def add_broadcast_command(sub: Any) -> None:
    bc = sub.add_parser("broadcast", help="send an alert to a segment of subscribers",
                        description=__doc__)
    bc.add_argument("--flow", help="the flow to start for each recipient")
    bc.add_argument("--state", help="start at this state of the flow (default: its start)")
    bc.add_argument("--to", dest="segment", help="all | flow:X,campaign:X,lang:X,state:XX,"
                    "zip:PREFIX (all must match) | csv:PATH")
    bc.add_argument("--at", type=parse_when, help="when to start (UTC unless an offset is given)")
    bc.add_argument("--dry-run", action="store_true", help="count who would get it, send none")
    bc.add_argument("--detach", action="store_true",
                    help="create it and leave it to the running workers (no progress bar)")
    bc.add_argument("--list", action="store_true", help="list recent broadcasts")
    for action in ("status", "pause", "resume", "cancel"):
        bc.add_argument(f"--{action}", metavar="ID", help=f"{action} a broadcast")
    bc.set_defaults(run=run_broadcast_command)


def run_broadcast_command(args: argparse.Namespace, settings: Settings) -> int:
    if settings.redis_url is None:
        print(NEEDS_REDIS, file=sys.stderr)
        return 2
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import open_runtime

    async with open_runtime(settings) as rt:
        store = BroadcastStore(rt.redis, rt.keys)
        runner = BroadcastRunner(rt.core, rt.consent, rt.outbox, store, settings)
        if args.list:
            for b in await store.recent():
                print(describe(b))
            return 0
        for action in ("status", "pause", "resume", "cancel"):
            bc_id = getattr(args, action)
            if bc_id:
                return await _control(store, action, bc_id)
        if not args.flow or not args.segment:
            print("say --flow NAME and --to SEGMENT (or --list, --status ID ...)",
                  file=sys.stderr)
            return 2
        return await _create(args, settings, rt.core.flows, store, runner, rt.core.clock.now())


async def _control(store: BroadcastStore, action: str, bc_id: str) -> int:
    moves = {"pause": (Status.PAUSED, (Status.SCHEDULED, Status.RUNNING)),
             "resume": (Status.RUNNING, (Status.PAUSED,)),
             "cancel": (Status.CANCELLED, (Status.SCHEDULED, Status.RUNNING, Status.PAUSED))}
    if action != "status":
        status, only_from = moves[action]
        if not await store.set_status(bc_id, status, only_from=only_from):
            print(f"broadcast {bc_id}: cannot {action} it now", file=sys.stderr)
            return 1
    b = await store.get(bc_id)
    if b is None:
        print(f"no broadcast {bc_id}", file=sys.stderr)
        return 1
    print(describe(b))
    return 0


def check_request(flows: FlowSet, flow: str, state: str | None) -> str | None:
    """Why a broadcast of `flow` (at `state`) cannot be made, or None."""
    if flow not in flows.flows:
        return f"no flow {flow!r} (flows: {', '.join(flows.flows)})"
    if state and state not in flows.flows[flow].spec.states:
        return f"flow {flow!r} has no state {state!r}"
    return None


def cap_for(settings: Settings, flows: FlowSet) -> tuple[int, str]:
    """The monthly cap in force, and where it comes from."""
    return resolve_cap(settings.broadcast_monthly_cap, flows)


async def _create(args: argparse.Namespace, settings: Settings, flows: FlowSet,
                  store: BroadcastStore, runner: BroadcastRunner, now: float) -> int:
    problem = check_request(flows, args.flow, args.state)
    cap, cap_source = cap_for(settings, flows)
    try:
        segment = parse_segment(args.segment, settings.default_region)
    except SegmentError as exc:
        problem = problem or str(exc)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.dry_run:
        print(describe_dry_run(await runner.dry_run(segment, cap), cap_source))
        return 0
    b = await store.create(flow=args.flow, state=args.state, segment=segment.text,
                           at=args.at or now, now=now, cap=cap)
    print(f"broadcast {b.id} created ({'starts ' + str(args.at) if args.at else 'starting'})")
    if args.detach:
        return 0
    owner = f"cli-{uuid.uuid4().hex[:8]}"
    while True:
        b = await runner.run(b.id, owner, progress=show_progress)
        if b.status not in (Status.SCHEDULED, Status.RUNNING):
            break
        await asyncio.sleep(POLL_SECONDS)  # not due yet, or waiting out quiet hours
    print(file=sys.stderr)
    print(describe(b))
    return 0


def describe_dry_run(dry: DryRun, cap_source: str) -> str:
    lines = [f"would send now: {dry.would_send}",
             f"would wait for the end of quiet hours: {dry.deferred_quiet}",
             f"monthly cap: {dry.cap} a phone ({cap_source})"]
    for reason, count in sorted(dry.skipped.items()):
        lines.append(f"skipped, {reason.removeprefix('skipped_').replace('_', ' ')}: {count}")
    return "\n".join(lines)


def describe(b: Broadcast) -> str:
    counts = " ".join(f"{k}={v}" for k, v in b.counts.items() if v)
    state = f"@{b.state}" if b.state else ""
    return f"{b.id}  {b.status.value:9}  {b.flow}{state} -> {b.segment}  {counts}"


def show_progress(b: Broadcast) -> None:
    filled = int(BAR * b.progress)
    total = b.counts.get("total", 0)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {b.done_count}/{total} "
                     f"sent={b.counts.get('sent', 0)} deferred={b.counts.get('deferred', 0)} "
                     f"status={b.status.value}   ")
    sys.stderr.flush()
