"""Dead letters: effects the worker gave up on, kept per shard for staff to list, replay or
drop (the console uses this; `python -m bot dead ...` can sit on the same calls).

A replay puts the effect back into its shard's outbox as an entry of its own and removes
the dead letter, in one script (both keys share the shard's hash tag), so a replay
happens once however often it is clicked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.models import EFFECTS, Effect
from bot.store.keys import Keys

#: KEYS: dead stream, outbox. ARGV: dead entry id. 1 when replayed, 0 when it was gone.
REPLAY = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local fields = found[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'e' then
    redis.call('XADD', KEYS[2], '*', 'e', '[' .. fields[i + 1] .. ']')
  end
end
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered effect. `ref` (`<shard>-<entry id>`) names it for replay/drop."""

    shard: int
    entry_id: str
    effect: Effect
    reason: str

    @property
    def ref(self) -> str:
        return f"{self.shard}-{self.entry_id}"

    @property
    def at(self) -> float:
        """When it was dead-lettered (the stream id's milliseconds)."""
        return int(self.entry_id.split("-")[0]) / 1000


def parse_ref(ref: str) -> tuple[int, str]:
    """`3-1764000000000-0` -> (3, '1764000000000-0'); ValueError when malformed."""
    shard, _, entry_id = ref.partition("-")
    millis, _, seq = entry_id.partition("-")
    if not (shard.isdigit() and millis.isdigit() and seq.isdigit()):
        raise ValueError(f"not a dead-letter reference: {ref!r}")
    return int(shard), entry_id


class DeadLetters:
    """List, show, replay and drop dead letters."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._replay = redis.register_script(REPLAY)

    async def list(self, limit: int = 200) -> list[DeadLetter]:
        """The newest dead letters of every shard, newest first (at most `limit`)."""
        found: list[DeadLetter] = []
        for shard in self.keys.all_shards():
            items: Any = await self.redis.xrevrange(self.keys.dead(shard), count=limit)
            found += [_letter(shard, entry_id, fields) for entry_id, fields in items or []]
        found.sort(key=lambda d: d.at, reverse=True)
        return found[:limit]

    async def get(self, ref: str) -> DeadLetter | None:
        shard, entry_id = parse_ref(ref)
        items: Any = await self.redis.xrange(self.keys.dead(shard), entry_id, entry_id)
        return _letter(shard, *items[0]) if items else None

    async def replay(self, ref: str) -> bool:
        """Put the effect back in the outbox (the worker runs it again); False if gone."""
        shard, entry_id = parse_ref(ref)
        keys = [self.keys.dead(shard), self.keys.outbox(shard)]
        return bool(int(await self._replay(keys=keys, args=[entry_id])))

    async def drop(self, ref: str) -> bool:
        """Forget it for good; False if it was already gone."""
        shard, entry_id = parse_ref(ref)
        return bool(await self.redis.xdel(self.keys.dead(shard), entry_id))

    async def count(self) -> int:
        total = 0
        for shard in self.keys.all_shards():
            total += int(await self.redis.xlen(self.keys.dead(shard)))
        return total


def _letter(shard: int, entry_id: Any, fields: Any) -> DeadLetter:
    eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    effect = EFFECTS.validate_json(b"[" + fields[b"e"] + b"]")[0]
    reason = fields.get(b"reason", b"").decode()
    return DeadLetter(shard=shard, entry_id=eid, effect=effect, reason=reason)
