"""Consent in Redis: the one owner of a phone's opt-out flag and of the consent audit log.

The flag is written only inside the conversation commit (one script: a step that opts a
phone out or back in lands whole or not at all), so this store hands the commit the flag's
keys and arguments instead of writing them itself; the send guard reads it right before
every text. Both go through here, so the flag has one name and one encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.models import ConsentChange
from bot.redis_conn import RedisClient
from bot.store.keys import Keys
from bot.store.scriptcalls import AutoPipeline
from bot.store.scripts import SEND_GUARD

#: Flag values other than our own "1": opted out outside the bot.
OUTSIDE_OPT_OUTS = frozenset({"carrier", "provider"})


class SendConsent(Protocol):
    """What the send layer asks before every text (see `bot.sms.GuardedSender`)."""

    async def admit_send(self, phone: str, body: str, window: int, *,
                         check_opt_out: bool) -> int | None:
        """None when `check_opt_out` and the phone is opted out (nothing counted); else how
        often this exact text went to this phone within `window` seconds, this one included."""
        ...


@dataclass(frozen=True)
class FlagWrite:
    """What a commit does to the opt-out flag and the audit log, as script keys and args."""

    keys: list[str]
    args: list[Any]


class ConsentStore:
    """Reads the opt-out flag and the audit log; prepares their writes for the commit."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._guard = redis.register_script(SEND_GUARD)
        self._pipeline = AutoPipeline(redis)  # guards of one loop turn: one round trip

    def flag_key(self, phone: str) -> str:
        """The opt-out flag's key (read by the commit's MGET and its compare-and-set)."""
        return self.keys.opted_out(phone)

    @staticmethod
    def is_set(raw: bytes | str | None) -> bool:
        """The flag as a GET or MGET of `flag_key` answers it."""
        return raw is not None

    @staticmethod
    def opted_out_by(raw: bytes | str | None) -> str | None:
        """Who opted the phone out, as the flag keeps it: "carrier" or "provider" (silent
        until their own START or YES, even after the conversation expired), None for us."""
        value = raw.decode() if isinstance(raw, bytes) else raw
        return value if value in OUTSIDE_OPT_OUTS else None

    def commit_write(self, phone: str, was_opted_out: bool, opted_out: bool,
                     changes: Sequence[ConsentChange], *, was_by: str | None = None,
                     by: str | None = None) -> FlagWrite:
        """The commit script's consent part. The commit also checks that the flag still says
        `was_opted_out` (an opt-out can outlive its expired conversation), so a step made on
        a stale or guessed view of the phone clashes instead of landing. The flag's value
        says who opted the phone out (`by`: "carrier", "provider", or None for us: "1").

        KEYS: flag, audit log. ARGV: expected flag ('1'/'0'), operation (keep, del, or
        set:<value>), n_changes, changes..."""
        changed = opted_out != was_opted_out or (opted_out and by != was_by)
        operation = (f"set:{by or '1'}" if opted_out else "del") if changed else "keep"
        keys = [self.flag_key(phone), self.keys.consent(self.keys.shard(phone))]
        args: list[Any] = ["1" if was_opted_out else "0", operation, len(changes),
                           *(c.model_dump_json(by_alias=True, exclude_defaults=True)
                             for c in changes)]
        return FlagWrite(keys=keys, args=args)

    async def is_opted_out(self, phone: str) -> bool:
        return bool(await self.redis.exists(self.flag_key(phone)))

    async def admit_send(self, phone: str, body: str, window: int, *,
                         check_opt_out: bool) -> int | None:
        """The send guard's checks in one round trip (opt-out first: a refused text is not
        counted). The loop counter lives here, beside the flag, so one script answers both."""
        keys = [self.flag_key(phone), self.keys.loop(phone, body)]
        count = int(await self._pipeline.call(self._guard, keys,
                                              ["1" if check_opt_out else "0", window]))
        return None if count < 0 else count

    async def history(self, phone: str | None = None) -> list[ConsentChange]:
        """Every consent change (optionally of one phone), oldest first."""
        shards = [self.keys.shard(phone)] if phone else list(self.keys.all_shards())
        changes: list[ConsentChange] = []
        for shard in shards:
            items: Any = await self.redis.xrange(self.keys.consent(shard))
            for _, fields in items or []:
                change = ConsentChange.model_validate_json(fields[b"c"])
                if phone is None or change.phone == phone:
                    changes.append(change)
        return sorted(changes, key=lambda c: c.at)
