"""The only place Redis key names are built.

Every key of one phone carries the hash tag of its shard (`{s7}`), and each shard has its
own outbox, timer set and consent log, so every command touches one Redis Cluster slot.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache

from bot.store.lanes import Stream


@lru_cache(maxsize=8192)
def _shard_of(phone: str, shards: int) -> int:
    """A phone's shard: a commit names it in six keys, a worker's send in three more."""
    return zlib.crc32(phone.encode()) % shards


_TAGS = [f"{{s{shard}}}" for shard in range(1024)]


@dataclass(frozen=True)
class Keys:
    """Key names under a prefix (tests use their own prefix) over `shards` hash tags."""

    prefix: str = "ct"
    shards: int = 48  # `REDIS_SHARDS`' default: see `bot.config`
    sub_buckets: int = 64

    def shard(self, phone: str) -> int:
        return _shard_of(phone, self.shards)

    def tag(self, shard: int) -> str:
        return _TAGS[shard] if shard < len(_TAGS) else f"{{s{shard}}}"

    def conversation(self, phone: str) -> str:
        return f"{self.prefix}:conv:{self.tag(self.shard(phone))}:{phone}"

    def opted_out(self, phone: str) -> str:
        return f"{self.prefix}:optout:{self.tag(self.shard(phone))}:{phone}"

    def seen(self, phone: str, dedup: str) -> str:
        """The dedup mark of one event: a 96-bit digest of its id, not the id itself (one
        such key per inbound text lives three days: the digest halves its memory)."""
        digest = base64.b64encode(hashlib.blake2b(dedup.encode(), digest_size=12).digest())
        return f"{self.prefix}:seen:{self.tag(self.shard(phone))}:{digest.decode()}"

    def done(self, phone: str, effect_id: str) -> str:
        return f"{self.prefix}:done:{self.tag(self.shard(phone))}:{effect_id}"

    def loop(self, phone: str, body: str) -> str:
        digest = hashlib.blake2b(body.encode(), digest_size=8).hexdigest()
        return f"{self.prefix}:loop:{self.tag(self.shard(phone))}:{phone}:{digest}"

    @cached_property
    def _outboxes(self) -> dict[Stream, list[str]]:
        """Every outbox stream's name, built once (the worker names them on every read)."""
        normal = [f"{self.prefix}:outbox:{self.tag(shard)}" for shard in range(self.shards)]
        return {Stream.NORMAL: normal, Stream.URGENT: [f"{name}:urgent" for name in normal]}

    def outbox(self, shard: int, stream: Stream = Stream.NORMAL) -> str:
        """One of a shard's outbox streams (`bot.store.lanes`): the normal one keeps the key
        it had before the lanes, so an upgrade reads what was already queued."""
        return self._outboxes[stream][shard]

    def timers(self, shard: int) -> str:
        return f"{self.prefix}:timers:{self.tag(shard)}"

    def consent(self, shard: int) -> str:
        return f"{self.prefix}:consent:{self.tag(shard)}"

    def dead(self, shard: int) -> str:
        return f"{self.prefix}:dead:{self.tag(shard)}"

    def ignored(self, shard: int) -> str:
        return f"{self.prefix}:ignored:{self.tag(shard)}"

    def shard_count(self) -> str:
        """Where the deployment's shard count is kept (it must never change silently)."""
        return f"{self.prefix}:meta:shards"

    def lease(self, shard: int) -> str:
        """The worker that reads this shard's outbox now (one at a time: order per phone)."""
        return f"{self.prefix}:lease:{self.tag(shard)}"

    def workers(self) -> str:
        """Live workers and their last heartbeat (a sorted set: they split the shards)."""
        return f"{self.prefix}:workers"

    def funnel(self, shard: int, day: str) -> str:
        """Funnel counters of one shard for one UTC day (`total`: all time)."""
        return f"{self.prefix}:funnel:{self.tag(shard)}:{day}"

    def subscribers(self, phone: str) -> str:
        """The small hash that holds this phone's subscriber profile (what broadcasts go
        to): `sub_buckets` per shard, so each stays a compact listpack (about 25 bytes a
        subscriber instead of 75 in one big hash) up to ~128 x buckets x shards phones."""
        digest = zlib.crc32(phone.encode())
        bucket = (digest // self.shards) % self.sub_buckets
        return f"{self.prefix}:subs:{self.tag(digest % self.shards)}:{bucket}"

    def subscriber_buckets(self, shard: int) -> list[str]:
        return [f"{self.prefix}:subs:{self.tag(shard)}:{b}" for b in range(self.sub_buckets)]

    def subscriber_count(self, shard: int) -> str:
        return f"{self.prefix}:subs-n:{self.tag(shard)}"

    def disclosures(self, shard: int) -> str:
        """The opt-in texts consent lines refer to (by `disclosure_id`), once per shard."""
        return f"{self.prefix}:disclosures:{self.tag(shard)}"

    def broadcast_cap(self, phone: str, month: str) -> str:
        """The broadcasts one phone received in one month (the frequency cap)."""
        return f"{self.prefix}:cap:{self.tag(self.shard(phone))}:{phone}:{month}"

    def delivery(self, provider: str, message_id: str) -> str:
        """One sent text's delivery record, found by the provider's message id."""
        shard = zlib.crc32(message_id.encode()) % self.shards
        return f"{self.prefix}:dlv:{self.tag(shard)}:{provider}:{message_id}"

    def delivery_external(self, provider: str, external_id: str) -> str:
        """The provider's message id of a text we named `external_id` (our effect id)."""
        shard = zlib.crc32(external_id.encode()) % self.shards
        return f"{self.prefix}:dext:{self.tag(shard)}:{provider}:{external_id}"

    def delivery_counts(self, message_id: str, day: str) -> str:
        """Delivery counters of a day, in the same shard as the message's record."""
        shard = zlib.crc32(message_id.encode()) % self.shards
        return f"{self.prefix}:dstat:{self.tag(shard)}:{day}"

    def delivery_counts_of(self, shard: int, day: str) -> str:
        return f"{self.prefix}:dstat:{self.tag(shard)}:{day}"

    def codes(self, phone: str, span: str, bucket: int) -> str:
        """Verification codes sent to one phone in one hour or day (`span`: h or d)."""
        return f"{self.prefix}:codes:{self.tag(self.shard(phone))}:{phone}:{span}{bucket}"

    def codes_total(self, minute: int) -> str:
        """Verification codes sent to every phone in one minute (one key: one slot)."""
        return f"{self.prefix}:codes:total:{minute}"

    def codes_paused(self) -> str:
        """Set while the code breaker pauses every code send."""
        return f"{self.prefix}:codes:paused"

    def flows_reload(self) -> str:
        """The reload counter every process polls (`python -m bot flows reload`)."""
        return f"{self.prefix}:flows:reload"

    def all_shards(self) -> range:
        return range(self.shards)


GROUP = "workers"
"""The consumer group every worker joins on every outbox stream."""
