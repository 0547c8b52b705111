"""Conversation state in Redis: load it, and commit one engine step atomically."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.funnel import day_of, encode_profile, funnel_fields, subscription_change
from bot.models import Conversation, FireTimer, SetTimer, Step
from bot.redis_conn import RedisClient
from bot.store.consent import ConsentStore
from bot.store.keys import GROUP, Keys
from bot.store.lanes import Stream, stream_of
from bot.store.scriptcalls import AutoPipeline, call_many
from bot.store.scripts import COMMIT

SEEN_TTL = 3 * 24 * 3600  # providers retry for hours at most; three days is plenty
FUNNEL_TTL = 400 * 24 * 3600  # a day's funnel counters are kept for a year and a bit
_CONV_EXCLUDE = {"phone", "version"}
#: The stored key of each conversation field (`encode`); a field not named keeps its name.
_SHORT = {"flow": "f", "state": "s", "lang": "l", "vars": "v", "attempts": "at", "token": "k",
          "pending": "p", "opted_out": "o", "optout_by": "ob", "texts_in": "n",
          "updated_at": "u", "rate_t0": "r0", "rate_in": "ri", "rate_out": "ro",
          "flooding": "fl", "auto": "a", "acts": "ac", "acts_at": "aa", "reached": "m"}
_LONG = {short: name for name, short in _SHORT.items()}
_DEFAULTS: dict[str, Any] = {name: field.get_default(call_default_factory=True)
                             for name, field in Conversation.model_fields.items()}
#: Times stored as milliseconds before `updated_at`.
_BEFORE_UPDATED = frozenset({"rate_t0", "acts_at"})
_HEX_ID = re.compile(r"[0-9a-f]{32}")
_PACKED = "~"  # a 128-bit hex effect id stored as `~` and 22 base64url characters


class StoreError(Exception):
    """Root of the store's errors."""


class VersionConflict(StoreError):
    """Another writer committed this phone's conversation first: step again on `current`
    (what the commit found, when it said), or reload."""

    def __init__(self, phone: str, current: Snapshot | None = None) -> None:
        super().__init__(phone)
        self.current = current


class CommitResult(StrEnum):
    """What a commit did."""

    OK = "ok"
    DUPLICATE = "dup"


@dataclass(frozen=True)
class Snapshot:
    """A conversation as loaded, with whether the event was already applied.

    `guessed`: not read from Redis but assumed (see `RecentConversations.guess`); a wrong
    guess is an ordinary clash, since every commit checks the version and the opt-out flag.
    """

    conversation: Conversation
    seen: bool
    guessed: bool = False


@dataclass(frozen=True)
class Ack:
    """The outbox entry a commit acknowledges (only once its result is written)."""

    shard: int
    entry_id: str
    stream: Stream = Stream.NORMAL


@dataclass(frozen=True)
class Written:
    """What a commit did, and the value it stored (for a cache of recent conversations)."""

    outcome: CommitResult
    value: str


class ConversationStore:
    """Loads and commits conversations; one Redis round trip each.

    The opt-out flag and the consent log belong to `consent`: this store reads the flag with
    the conversation and writes both inside its commit, through the consent store's keys.
    """

    def __init__(self, redis: RedisClient, keys: Keys, ttl: int, *,
                 consent: ConsentStore | None = None, wait_replicas: int = 0,
                 wait_timeout_ms: int = 500) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self.consent = consent or ConsentStore(redis, keys)
        self.wait_replicas = wait_replicas  # `REDIS_WAIT_REPLICAS`: see `scriptcalls`
        self.wait_timeout_ms = wait_timeout_ms
        self._commit = redis.register_script(COMMIT)
        # Commits of one loop turn: one round trip (and one WAIT per node, when asked).
        self._pipeline = AutoPipeline(
            redis, (wait_replicas, wait_timeout_ms) if wait_replicas else None)

    async def load(self, phone: str, dedup: str | None = None) -> Snapshot:
        """Read the conversation, the opt-out flag and the dedup mark in one MGET."""
        k = self.keys
        names = [k.conversation(phone), self.consent.flag_key(phone)]
        if dedup:
            names.append(k.seen(phone, dedup))
        values = await self.redis.mget(names)
        conv = decode(phone, values[0])
        if self.consent.is_set(values[1]):
            conv.opted_out = True
            conv.optout_by = conv.optout_by or self.consent.opted_out_by(values[1])
        return Snapshot(conversation=conv, seen=bool(dedup and values[2] is not None))

    async def commit(self, before: Conversation, step: Step, dedup: str | None = None,
                     ack: Ack | None = None, ignored: str = "") -> CommitResult:
        """Write the step whole, or raise `VersionConflict`; a seen `dedup` is a no-op."""
        return (await self.write(before, step, dedup, ack, ignored)).outcome

    async def write(self, before: Conversation, step: Step, dedup: str | None = None,
                    ack: Ack | None = None, ignored: str = "") -> Written:
        """`commit`, also answering the stored value (what a later `decode` reads back)."""
        keys, args = self._commit_call(before, step, dedup, ack, ignored)
        outcome = _outcome(step.conversation.phone, await self._call_commit(keys, args))
        return Written(outcome=outcome, value=args[1])

    async def _call_commit(self, keys: list[str], args: list[Any]) -> Any:
        """The commit script, and `WAIT` for replicas when asked (`NotReplicated` if short)."""
        return await self._pipeline.call(self._commit, keys, args)

    async def commit_many(self, items: Sequence[tuple[Conversation, Step, str | None]]
                          ) -> list[CommitResult | VersionConflict]:
        """Commit many steps (of different phones) in one pipelined round trip.

        Each is the same atomic script as `commit`; a clash comes back as a
        `VersionConflict` in its place instead of being raised. For bulk loads (imports,
        the benchmark), not for the inbound path, which commits one step at a time.
        """
        calls = [self._commit_call(before, step, dedup, None, "") for before, step, dedup in items]
        results = await call_many(self.redis, self._commit, calls)
        out: list[CommitResult | VersionConflict] = []
        for (_, step, _), result in zip(items, results, strict=True):
            if isinstance(result, Exception):
                raise result
            try:
                out.append(_outcome(step.conversation.phone, result))
            except VersionConflict as exc:
                out.append(exc)
        return out

    def _commit_call(self, before: Conversation, step: Step, dedup: str | None,
                     ack: Ack | None, ignored: str) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV of the commit script for one step."""
        conv = step.conversation
        k, phone = self.keys, conv.phone
        shard = k.shard(phone)
        queued = [e for e in step.effects if not isinstance(e, SetTimer)]
        timers = [e for e in step.effects if isinstance(e, SetTimer)]
        args: list[Any] = [
            before.version, encode(conv, before.version + 1), self.ttl, SEEN_TTL,
            "1" if dedup else "0",
            _effects_json(queued) if queued else "", ignored,
            GROUP, ack.entry_id if ack else "",
            len(timers),
        ]
        for timer in timers:
            fire = FireTimer(id=timer.id, phone=phone, name=timer.name, token=timer.token)
            args += [timer.due, fire.model_dump_json()]
        consent = self.consent.commit_write(phone, before.opted_out, conv.opted_out,
                                            step.consent, was_by=before.optout_by,
                                            by=conv.optout_by)
        keys = [k.conversation(phone), k.seen(phone, dedup or "-"),
                k.outbox(shard, stream_of(queued)), k.timers(shard), k.ignored(shard),
                *consent.keys]
        records_keys, records_args = self._records_part(before, step)
        acked = k.outbox(shard, ack.stream if ack else Stream.NORMAL)
        return keys + records_keys + [acked], args + consent.args + records_args

    def _records_part(self, before: Conversation, step: Step) -> tuple[list[str], list[Any]]:
        """The commit script's records part: the funnel counters this step adds and what it
        does to the subscriber index (see `bot.funnel`)."""
        k, conv = self.keys, step.conversation
        shard = k.shard(conv.phone)
        fields = funnel_fields(before, step)
        sub = subscription_change(before, step)
        args: list[Any] = [len(fields), *fields, FUNNEL_TTL, sub.op, conv.phone,
                           encode_profile(sub.profile), len(step.disclosures)]
        for ref, text in step.disclosures.items():
            args += [ref, text]
        day = day_of(conv.updated_at or before.updated_at)
        keys = [k.funnel(shard, day), k.funnel(shard, "total"), k.subscribers(conv.phone),
                k.disclosures(shard), k.subscriber_count(shard)]
        return keys, args


def _outcome(phone: str, result: Any) -> CommitResult:
    """The commit script's answer; a clash raises with the state the script found."""
    if isinstance(result, list):  # ['conflict', value or '', flag exists, flag value or '']
        conv = decode(phone, result[1] or None)
        if int(result[2]):  # EXISTS of the opt-out flag, as the script found it
            conv.opted_out = True
            if len(result) > 3:
                conv.optout_by = conv.optout_by or ConsentStore.opted_out_by(result[3])
        raise VersionConflict(phone, Snapshot(conversation=conv, seen=False))
    outcome = result.decode() if isinstance(result, bytes) else str(result)
    if outcome == "conflict":
        raise VersionConflict(phone)
    return CommitResult(outcome)


def encode(conv: Conversation, version: int) -> str:
    """`<version>|<json>`: the version is readable by the Lua compare-and-set without JSON.

    Every phone pays for its conversation's bytes (docs/performance.md, memory), so the JSON
    leaves defaults out, names fields by short keys (`_SHORT`) and keeps times as integer
    milliseconds: `u` is `updated_at`, and the flood and action windows' starts are kept as
    milliseconds before it (usually a few digits; 0 when set in the same step). The pending
    action's id, when it is 32 hex digits (every real one), is kept in base64 (23 bytes)."""
    body: dict[str, Any] = {}
    updated_ms = round(conv.updated_at * 1000)
    # `model_dump(exclude_defaults=True)` without its cost: the fields are plain values (a
    # flat dict of scalars at most), compared with their defaults as pydantic compares them.
    for name, value in conv.__dict__.items():
        if name in _CONV_EXCLUDE or value == _DEFAULTS[name]:
            continue
        if name == "updated_at":
            body["u"] = updated_ms
        elif name in _BEFORE_UPDATED:
            body[_SHORT[name]] = updated_ms - round(value * 1000)
        elif name == "pending" and _HEX_ID.fullmatch(value):
            body["p"] = _PACKED + base64.urlsafe_b64encode(bytes.fromhex(value)).decode()[:22]
        elif name == "pending" and value.startswith(_PACKED):
            body["p"] = _PACKED + value  # `~~`: an id that only looks packed
        else:
            body[_SHORT.get(name, name)] = value
    return f"{version}|{json.dumps(body, separators=(',', ':'), ensure_ascii=False)}"


def decode(phone: str, raw: bytes | str | None) -> Conversation:
    """The stored value back into a `Conversation` (a new one when there is none). Values
    written with the long field names and times in seconds (before the short form) read
    the same."""
    if raw is None:
        return Conversation(phone=phone)
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, _, body = text.partition("|")
    stored = json.loads(body)
    if "u" not in stored and not _LONG.keys() & stored.keys():
        return Conversation(phone=phone, version=int(version), **stored)
    updated_ms = int(stored.get("u", 0))
    data: dict[str, Any] = {}
    for key, value in stored.items():
        name = _LONG.get(key, key)
        if key == "u":
            data[name] = updated_ms / 1000
        elif name in _BEFORE_UPDATED and key != name:
            data[name] = (updated_ms - int(value)) / 1000
        elif key == "p" and isinstance(value, str) and value.startswith(_PACKED):
            packed = not value.startswith(_PACKED * 2)
            data[name] = base64.urlsafe_b64decode(value[1:] + "==").hex() if packed else value[1:]
        else:
            data[name] = value
    return Conversation(phone=phone, version=int(version), **data)


def _effects_json(effects: list[Any]) -> str:
    return "[" + ",".join(e.model_dump_json() for e in effects) + "]"

