"""The consent ledger: every opt-in and opt-out, read back for staff, audits and complaints.

Written only by the commit script (one stream per shard, `XADD` with no trimming and no
TTL), so it is append-only and outlives the conversation it came from. This module only
reads it: one phone's history, or every change since a time as CSV rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from bot.models import ConsentChange
from bot.redis_conn import RedisClient
from bot.store.keys import Keys

PAGE = 1000
CSV_COLUMNS = ("time_utc", "phone", "change", "keyword", "text", "provider", "message_id",
               "opt_in_text")


class ConsentLedger:
    """Reads the per-shard consent streams, a page at a time (bounded memory per read)."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def _shard_changes(self, shard: int) -> AsyncIterator[ConsentChange]:
        stream, start = self.keys.consent(shard), "-"
        while True:
            items: Any = await self.redis.xrange(stream, min=start, count=PAGE)
            for _, fields in items or []:
                yield ConsentChange.model_validate_json(fields[b"c"])
            if not items or len(items) < PAGE:
                return
            last = items[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else last)

    async def history(self, phone: str) -> list[ConsentChange]:
        """One phone's whole consent history, oldest first (its shard only)."""
        changes = [c async for c in self._shard_changes(self.keys.shard(phone))
                   if c.phone == phone]
        return sorted(await self._with_texts(changes), key=lambda c: c.at)

    async def since(self, at: float) -> list[ConsentChange]:
        """Every change at or after `at` (epoch seconds), across all shards, oldest first."""
        changes: list[ConsentChange] = []
        for shard in self.keys.all_shards():
            changes += [c async for c in self._shard_changes(shard) if c.at >= at]
        return sorted(await self._with_texts(changes), key=lambda c: (c.at, c.phone))

    async def _with_texts(self, changes: list[ConsentChange]) -> list[ConsentChange]:
        """The changes with each opt-in text in place of its reference (`disclosure_id`)."""
        wanted = {(self.keys.shard(c.phone), c.prompt) for c in changes
                  if c.prompt and " " not in c.prompt}
        if not wanted:
            return changes
        pairs = sorted(wanted)
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard, ref in pairs:
                pipe.hget(self.keys.disclosures(shard), ref)
            found: list[Any] = await pipe.execute()
        texts = {pair: (t.decode() if isinstance(t, bytes) else t)
                 for pair, t in zip(pairs, found, strict=True) if t is not None}
        return [c.model_copy(update={"prompt": texts[key]})
                if (key := (self.keys.shard(c.phone), c.prompt)) in texts else c
                for c in changes]

    async def last_change(self, phone: str) -> ConsentChange | None:
        history = await self.history(phone)
        return history[-1] if history else None


def iso(at: float) -> str:
    """A ledger time as staff read it: ISO 8601, UTC, to the second."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def change_name(change: ConsentChange) -> str:
    return "opt-out" if change.opted_out else "opt-in"


def to_csv(changes: Iterable[ConsentChange]) -> str:
    """The CSV a carrier audit or a complaint asks for (whole phones: this is the record)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in changes:
        writer.writerow([iso(c.at), c.phone, change_name(c), c.keyword, c.text, c.provider,
                         c.message_id, c.prompt])
    return out.getvalue()


def describe(changes: Iterable[ConsentChange]) -> str:
    """One phone's history as lines for the terminal."""
    lines = []
    for c in changes:
        lines.append(f"{iso(c.at)}  {change_name(c):7}  keyword={c.keyword}  "
                     f"provider={c.provider}  message_id={c.message_id}")
        lines.append(f"    text: {c.text!r}")
        if c.prompt:
            lines.append(f"    answered: {c.prompt!r}")
    return "\n".join(lines)
