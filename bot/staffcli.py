"""Staff commands: `consent show|export`, `stats` and `broadcast` (the organiser's tools).

Each reads or writes the shared Redis (`REDIS_URL`): the in-process Redis of a lone
`serve` lives in that process only, so these commands need a server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.cliutil import NEEDS_REDIS, parse_when
from bot.config import Settings
from bot.phone import to_e164
from bot.redis_conn import RedisClient, connect_redis
from bot.store import Keys


def add_staff_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `consent`, `stats` and `broadcast` on the main parser."""
    consent = sub.add_parser("consent", help="consent records (opt-ins and opt-outs)")
    consent_sub = consent.add_subparsers(dest="consent_command", required=True)
    show = consent_sub.add_parser("show", help="one phone's whole consent history")
    show.add_argument("phone")
    show.set_defaults(run=_consent_show)
    export = consent_sub.add_parser("export", help="every change since a date, as CSV")
    export.add_argument("--since", required=True, type=parse_when,
                        help="YYYY-MM-DD or an ISO time (UTC unless it says otherwise)")
    export.add_argument("--out", type=Path, help="write here instead of standard output")
    export.set_defaults(run=_consent_export)
    stats = sub.add_parser("stats", help="the funnel, delivery and subscribers per day")
    stats.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    stats.set_defaults(run=_stats)
    from bot.broadcast.cli import add_broadcast_command

    add_broadcast_command(sub)


def run_with_redis(settings: Settings,
                   body: Callable[[RedisClient, Keys], Awaitable[int]]) -> int:
    """Open the shared Redis, run `body`, close it; exit 2 without `REDIS_URL`."""
    if settings.redis_url is None:
        print(NEEDS_REDIS, file=sys.stderr)
        return 2

    async def run() -> int:
        redis = await connect_redis(settings)  # a cluster too
        try:
            return await body(redis, Keys(shards=settings.redis_shards))
        finally:
            await redis.aclose()

    return asyncio.run(run())


def _consent_show(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store.ledger import ConsentLedger, describe

    phone = to_e164(args.phone, settings.default_region)
    if phone is None:
        print(f"not a phone number: {args.phone!r}", file=sys.stderr)
        return 2

    async def body(redis: RedisClient, keys: Keys) -> int:
        history = await ConsentLedger(redis, keys).history(phone)
        if not history:
            print(f"{phone}: no consent records")
            return 1
        print(f"{phone}: {len(history)} consent record(s)")
        print(describe(history))
        return 0

    return run_with_redis(settings, body)


def _consent_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store.ledger import ConsentLedger, to_csv

    async def body(redis: RedisClient, keys: Keys) -> int:
        text = to_csv(await ConsentLedger(redis, keys).since(args.since))
        if args.out:
            args.out.write_text(text)
            print(f"{text.count(chr(10)) - 1} record(s) written to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0

    return run_with_redis(settings, body)


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.stats import StatsReader, format_report

    async def body(redis: RedisClient, keys: Keys) -> int:
        reader = StatsReader(redis, keys)
        report = await reader.report(days=args.days, now=datetime.now(UTC).timestamp())
        print(format_report(report))
        return 0

    return run_with_redis(settings, body)
