"""Dead letters as a staff tool: list, show, replay and drop (`python -m bot dead ...`).

A dead letter is an effect the worker gave up on. Replaying puts it back in its shard's
outbox with the same effect id (so the same idempotency key). A send whose outcome was
unknown (the upstream may have delivered it) is looked up first, and only a send confirmed
absent is queued again: a voter never gets a text twice because staff pressed replay. The
same holds for a Phone2Action call (`p2a_call`) whose outcome was unknown: P2A's
connections list is read first (`bot.lookup.call_started`); a call listed there since the
effect settles the letter as done (dropped, the phone is not rung again), a call confirmed
absent is queued again, and a list that cannot tell keeps the letter (`--force` replays
anyway).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO, TypeGuard

from bot.actions.lenient import to_int
from bot.config import Settings
from bot.lookup import call_started, sent_upstream
from bot.models import EFFECTS, Effect, RunAction, SendSms
from bot.phone import mask
from bot.redis_conn import RedisClient
from bot.runtime import Runtime, open_runtime
from bot.store import Keys
from bot.store.delivery import ExternalIds
from bot.store.lanes import stream_of
from bot.upstream import Upstreams
from bot.upstream.errors import UpstreamError

#: How far before its dead-lettering a send (or call) may have gone out (its tries and
#: backoff): the lookup reads from then on.
LOOKUP_WINDOW = 30 * 60
P2A_CALL = "p2a_call"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered effect. `id` is `<shard>-<stream id>`: stable and copy-pastable."""

    id: str
    effect: Effect
    reason: str
    unknown: bool
    at: float  # when it was dead-lettered (from the stream id)

    def row(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        flag = "UNKNOWN " if self.unknown else ""
        return (f"{self.id}  {when}  {self.effect.type:<9} {mask(self.effect.phone)}  "
                f"{flag}{self.reason[:80]}")

    def detail(self) -> dict[str, Any]:
        effect = self.effect.model_dump()
        effect["phone"] = mask(self.effect.phone)
        return {"id": self.id, "at": self.at, "unknown_outcome": self.unknown,
                "reason": self.reason, "effect": effect}


class Replay(StrEnum):
    """What a replay did."""

    QUEUED = "queued again"
    ALREADY_SENT = "already sent upstream: dropped, not sent again"
    ALREADY_CALLED = ("the call already started: Phone2Action lists it since this effect; "
                      "dropped, the phone is not rung again")
    STILL_UNKNOWN = "outcome still unknown upstream: kept (replay with --force to send anyway)"
    NOT_FOUND = "no such dead letter"


class DeadLetters:
    """Reads and settles the dead-letter streams of every shard."""

    def __init__(self, redis: RedisClient, keys: Keys, upstreams: Upstreams | None = None,
                 sender: str = "console", clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.keys = keys
        self.upstreams = upstreams
        self.sender = sender
        self.clock = clock  # how old a letter is decides whether P2A's list is final

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest `limit` dead letters of every shard, oldest first."""
        rows: list[DeadLetter] = []
        for shard in self.keys.all_shards():
            items: Any = await self.redis.xrange(self.keys.dead(shard), count=limit)
            rows.extend(_letter(shard, stream_id, fields) for stream_id, fields in items or [])
        return sorted(rows, key=lambda r: r.at)[:limit]

    async def get(self, letter_id: str) -> DeadLetter | None:
        parsed = _parse_id(letter_id)
        if parsed is None:
            return None
        shard, stream_id = parsed
        items: Any = await self.redis.xrange(self.keys.dead(shard), min=stream_id,
                                             max=stream_id)
        return _letter(shard, *items[0]) if items else None

    async def drop(self, letter_id: str) -> bool:
        parsed = _parse_id(letter_id)
        if parsed is None:
            return False
        shard, stream_id = parsed
        return bool(await self.redis.xdel(self.keys.dead(shard), stream_id))

    async def replay(self, letter_id: str, *, force: bool = False) -> Replay:
        """Queue the effect again; an unknown-outcome send or P2A call is looked up
        upstream first."""
        letter = await self.get(letter_id)
        if letter is None:
            return Replay.NOT_FOUND
        if letter.unknown and not force:
            sent = await self.sent_upstream(letter)
            if sent is None:
                return Replay.STILL_UNKNOWN
            if sent:
                await self.drop(letter_id)
                return Replay.ALREADY_CALLED if _is_call(letter.effect) else Replay.ALREADY_SENT
        shard = int(letter_id.split("-", 1)[0])
        payload = "[" + letter.effect.model_dump_json() + "]"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.outbox(shard, stream_of([letter.effect])), {"e": payload})
            pipe.xdel(self.keys.dead(shard), letter_id.split("-", 1)[1])
            await pipe.execute()
        return Replay.QUEUED

    async def sent_upstream(self, letter: DeadLetter) -> bool | None:
        """Did this send (or P2A call) reach the provider? (`bot.lookup`; None for anything
        else, and when the lookup itself failed: that proves nothing.)"""
        effect = letter.effect
        if self.upstreams is None:
            return None
        since = letter.at - LOOKUP_WINDOW
        if _is_call(effect):
            advocate = to_int(str(effect.params.get("advocate_id", "")))
            campaign = to_int(str(effect.params.get("campaign_id", "")))
            if not advocate or not campaign or advocate < 0 or campaign < 0:
                return None
            return await call_started(self.upstreams.p2a, advocate, campaign, since=since,
                                      made_by=letter.at, now=self.clock())
        if not isinstance(effect, SendSms):
            return None
        try:
            return await sent_upstream(self.upstreams, self.sender, effect.phone, effect.body,
                                       since, effect_id=effect.id,
                                       reports=ExternalIds(self.redis, self.keys))
        except UpstreamError:
            return None


def _is_call(effect: Effect) -> TypeGuard[RunAction]:
    return isinstance(effect, RunAction) and effect.action == P2A_CALL


def _letter(shard: int, stream_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    sid = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return DeadLetter(id=f"{shard}-{sid}", effect=EFFECTS.validate_json(
        b"[" + fields[b"e"] + b"]")[0], reason=fields.get(b"reason", b"").decode(),
        unknown=fields.get(b"u") == b"1", at=int(sid.split("-")[0]) / 1000)


def _parse_id(letter_id: str) -> tuple[int, str] | None:
    shard, sep, stream_id = letter_id.partition("-")
    if not sep or not shard.isdigit() or "-" not in stream_id:
        return None
    return int(shard), stream_id


def as_json(letter: DeadLetter) -> str:
    return json.dumps(letter.detail(), indent=2, ensure_ascii=False)


async def run_dead_command(settings: Settings, command: str, letter_id: str, *,
                           limit: int = 100, force: bool = False, out: TextIO | None = None,
                           runtime: Runtime | None = None) -> int:
    """`python -m bot dead list | show ID | replay ID | drop ID`; the exit status."""
    if runtime is None:
        async with open_runtime(settings) as opened:
            return await _command(opened, command, letter_id, limit, force, out or sys.stdout)
    return await _command(runtime, command, letter_id, limit, force, out or sys.stdout)


async def _command(runtime: Runtime, command: str, letter_id: str, limit: int, force: bool,
                   out: TextIO) -> int:
    def say(line: str) -> None:
        out.write(line + "\n")

    letters = DeadLetters(runtime.redis, runtime.keys, runtime.upstreams,
                          sender=runtime.settings.sms_sender)
    if command == "list":
        rows = await letters.list(limit)
        for row in rows:
            say(row.row())
        say(f"{len(rows)} dead letter(s)")
        return 0
    if command == "show":
        letter = await letters.get(letter_id)
        say(as_json(letter) if letter else Replay.NOT_FOUND.value)
        return 0 if letter else 1
    if command == "drop":
        dropped = await letters.drop(letter_id)
        say("dropped" if dropped else Replay.NOT_FOUND.value)
        return 0 if dropped else 1
    outcome = await letters.replay(letter_id, force=force)
    say(outcome.value)
    return 0 if outcome in (Replay.QUEUED, Replay.ALREADY_SENT, Replay.ALREADY_CALLED) else 1
