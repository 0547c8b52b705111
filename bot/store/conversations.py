"""Conversation state in Redis: load it, and commit one engine step atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.models import ConsentChange, Conversation, FireTimer, SetTimer, Step
from bot.redis_conn import RedisClient
from bot.store.keys import GROUP, Keys
from bot.store.scriptcalls import call_and_wait, call_many
from bot.store.scripts import COMMIT

SEEN_TTL = 3 * 24 * 3600  # providers retry for hours at most; three days is plenty
RECENT_CONVERSATIONS = 20_000  # values remembered for `guess` (about 5 MB)
_CONV_EXCLUDE = {"phone", "version"}


class StoreError(Exception):
    """Root of the store's errors."""


class VersionConflict(StoreError):
    """Another writer committed this phone's conversation first: step again on `current`
    (what the commit found, when it said), or reload."""

    def __init__(self, phone: str, current: Snapshot | None = None) -> None:
        super().__init__(phone)
        self.current = current


class Outcome(StrEnum):
    """What a commit did."""

    OK = "ok"
    DUPLICATE = "dup"


@dataclass(frozen=True)
class Snapshot:
    """A conversation as loaded, with whether the event was already applied.

    `guessed`: not read from Redis but assumed (see `ConversationStore.guess`); its commit
    then also checks the opt-out flag, and a wrong guess is an ordinary version clash.
    """

    conversation: Conversation
    seen: bool
    guessed: bool = False


@dataclass(frozen=True)
class Ack:
    """The outbox entry a commit acknowledges (only once its result is written)."""

    shard: int
    entry_id: str


class ConversationStore:
    """Loads and commits conversations; one Redis round trip each."""

    def __init__(self, redis: RedisClient, keys: Keys, ttl: int, *, wait_replicas: int = 0,
                 wait_timeout_ms: int = 500) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self.wait_replicas = wait_replicas  # `REDIS_WAIT_REPLICAS`: see `replicas`
        self.wait_timeout_ms = wait_timeout_ms
        self._commit = redis.register_script(COMMIT)
        self._recent: dict[str, str] = {}  # phone -> value this process last committed

    def guess(self, phone: str) -> Snapshot:
        """The conversation as this process last committed it, else a new one: a guess the
        commit checks (version and opt-out flag), so a right guess saves the read and a
        wrong one costs nothing but a step (the clash answers the real state).

        Right for a phone's first text (a keyword from a poster or a rally) and for the
        texts after it that reach the same process; bounded to `RECENT_CONVERSATIONS`."""
        conv = decode(phone, self._recent.get(phone))
        return Snapshot(conversation=conv, seen=False, guessed=True)

    def _remember(self, phone: str, value: str | None) -> None:
        self._recent.pop(phone, None)
        if value:
            self._recent[phone] = value
            if len(self._recent) > RECENT_CONVERSATIONS:
                del self._recent[next(iter(self._recent))]

    async def load(self, phone: str, dedup: str | None = None) -> Snapshot:
        """Read the conversation, the opt-out flag and the dedup mark in one MGET."""
        k = self.keys
        names = [k.conversation(phone), k.opted_out(phone)]
        if dedup:
            names.append(k.seen(phone, dedup))
        values = await self.redis.mget(names)
        conv = decode(phone, values[0])
        if values[1] is not None:
            conv.opted_out = True
        return Snapshot(conversation=conv, seen=bool(dedup and values[2] is not None))

    async def commit(self, before: Conversation, step: Step, dedup: str | None = None,
                     ack: Ack | None = None, ignored: str = "", *,
                     guessed: bool = False) -> Outcome:
        """Write the step whole, or raise `VersionConflict`; a seen `dedup` is a no-op.

        `guessed`: `before` came from `guess`, not `load` (the opt-out flag is checked too).
        """
        keys, args = self._commit_call(before, step, dedup, ack, ignored, guessed)
        phone = step.conversation.phone
        try:
            outcome = _outcome(phone, await self._call_commit(keys, args))
        except VersionConflict as clash:
            self._remember(phone, _value_of(clash.current))
            raise
        if outcome is Outcome.OK:
            self._remember(phone, args[1])
        return outcome

    async def _call_commit(self, keys: list[str], args: list[Any]) -> Any:
        """The commit script, and `WAIT` for replicas when asked (`NotReplicated` if short)."""
        if self.wait_replicas:
            return await call_and_wait(self.redis, self._commit, keys, args,
                                       self.wait_replicas, self.wait_timeout_ms)
        return await self._commit(keys=keys, args=args)

    async def commit_many(self, items: Sequence[tuple[Conversation, Step, str | None]]
                          ) -> list[Outcome | VersionConflict]:
        """Commit many steps (of different phones) in one pipelined round trip.

        Each is the same atomic script as `commit`; a clash comes back as a
        `VersionConflict` in its place instead of being raised. For bulk loads (imports,
        the benchmark), not for the inbound path, which commits one step at a time.
        """
        calls = [self._commit_call(before, step, dedup, None, "") for before, step, dedup in items]
        results = await call_many(self.redis, self._commit, calls)
        out: list[Outcome | VersionConflict] = []
        for (_, step, _), result in zip(items, results, strict=True):
            if isinstance(result, Exception):
                raise result
            try:
                out.append(_outcome(step.conversation.phone, result))
            except VersionConflict as exc:
                out.append(exc)
        return out

    def _commit_call(self, before: Conversation, step: Step, dedup: str | None,
                     ack: Ack | None, ignored: str, guessed: bool = False
                     ) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV of the commit script for one step."""
        conv = step.conversation
        k, phone = self.keys, conv.phone
        shard = k.shard(phone)
        if conv.opted_out == before.opted_out:
            optout_op = "keep"
        else:
            optout_op = "set" if conv.opted_out else "del"
        queued = [e for e in step.effects if not isinstance(e, SetTimer)]
        timers = [e for e in step.effects if isinstance(e, SetTimer)]
        args: list[Any] = [
            before.version, encode(conv, before.version + 1), self.ttl, SEEN_TTL,
            "1" if dedup else "0", optout_op,
            _effects_json(queued) if queued else "", ignored,
            GROUP, ack.entry_id if ack else "",
            ("1" if before.opted_out else "0") if guessed else "",
            len(step.consent), *(_consent_json(c) for c in step.consent),
            len(timers),
        ]
        for timer in timers:
            fire = FireTimer(id=timer.id, phone=phone, name=timer.name, token=timer.token)
            args += [timer.due, fire.model_dump_json()]
        keys = [k.conversation(phone), k.seen(phone, dedup or "-"), k.outbox(shard),
                k.consent(shard), k.opted_out(phone), k.timers(shard), k.ignored(shard)]
        return keys, args

    async def is_opted_out(self, phone: str) -> bool:
        """The send layer's question, asked right before every send."""
        return bool(await self.redis.exists(self.keys.opted_out(phone)))

    async def consent_log(self, phone: str | None = None) -> list[ConsentChange]:
        """Every consent change (optionally of one phone), oldest first per shard."""
        shards = [self.keys.shard(phone)] if phone else list(self.keys.all_shards())
        changes: list[ConsentChange] = []
        for shard in shards:
            items: Any = await self.redis.xrange(self.keys.consent(shard))
            for _, fields in items or []:
                change = ConsentChange.model_validate_json(fields[b"c"])
                if phone is None or change.phone == phone:
                    changes.append(change)
        return sorted(changes, key=lambda c: c.at)


def _outcome(phone: str, result: Any) -> Outcome:
    """The commit script's answer; a clash raises with the state the script found."""
    if isinstance(result, list):  # ['conflict', value or '', opt-out flag]
        conv = decode(phone, result[1] or None)
        if int(result[2]):
            conv.opted_out = True
        raise VersionConflict(phone, Snapshot(conversation=conv, seen=False))
    outcome = result.decode() if isinstance(result, bytes) else str(result)
    if outcome == "conflict":
        raise VersionConflict(phone)
    return Outcome(outcome)


def _value_of(snapshot: Snapshot | None) -> str | None:
    """The stored form of a conflict's snapshot, for `_remember` (None: forget)."""
    if snapshot is None or not snapshot.conversation.version:
        return None
    conv = snapshot.conversation
    return encode(conv, conv.version)


def encode(conv: Conversation, version: int) -> str:
    """`<version>|<json>`: the version is readable by the Lua compare-and-set without JSON."""
    body = conv.model_dump_json(exclude=_CONV_EXCLUDE, exclude_defaults=True)
    return f"{version}|{body}"


def decode(phone: str, raw: bytes | str | None) -> Conversation:
    """The stored value back into a `Conversation` (a new one when there is none)."""
    if raw is None:
        return Conversation(phone=phone)
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, _, body = text.partition("|")
    data = json.loads(body)
    return Conversation(phone=phone, version=int(version), **data)


def _effects_json(effects: list[Any]) -> str:
    return "[" + ",".join(e.model_dump_json() for e in effects) + "]"


def _consent_json(change: ConsentChange) -> str:
    return change.model_dump_json()
