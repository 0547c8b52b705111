"""What the staff commands share: reading a time from the command line, and the message
for a command that needs the shared Redis."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

NEEDS_REDIS = ("this command reads the shared Redis: set REDIS_URL (the in-process Redis of "
               "`serve` is not reachable from another process)")


def parse_when(text: str) -> float:
    """`2026-12-01` or `2026-12-01T09:30` (UTC unless an offset is given) -> epoch seconds."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
