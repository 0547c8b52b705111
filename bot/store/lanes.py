"""Which outbox stream a commit's entry goes to: one stream per shard per lane class.

The carrier's pace (`bot.pace`) hands tokens to the most urgent lane first, but only to
texts a worker has read. With one stream per shard, a verification code committed behind
27,000 opt-in replies was not read until the replies ahead of it had been sent (a worker
reads on past at most `PACED_BACKLOG` texts waiting for the pace). So each shard has two
streams, and a worker reads the urgent one first, on every read, whatever the other's
backlog:

- `URGENT`: entries with a verification code or a STOP/HELP/START answer (any `SendSms` in
  `Lane.URGENT`, or an action that texts a code);
- `NORMAL`: everything else (replies, reminders, timers, broadcasts). Its key is the
  outbox's key from before the lanes (`ct:outbox:{s7}`), so entries queued by an older
  version are read as normal entries after an upgrade: nothing to migrate.

An entry goes whole to the stream of its most urgent effect, so one commit's effects stay in
order; a phone's entries keep their order within a stream. An urgent entry may overtake the
same phone's older entries in the normal stream (that is the point: a code does not wait for
the phone's unsent reply); every text still passes the send guard (opt-out) when it goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from bot.models import Lane, RunAction, SendSms

CODE_ACTIONS = frozenset({"verify_send"})
"""Actions that text a verification code (in the urgent lane of the pace)."""


class Stream(IntEnum):
    """An outbox stream of a shard, in the order a worker reads them."""

    URGENT = 0
    NORMAL = 1


STREAMS: tuple[Stream, ...] = (Stream.URGENT, Stream.NORMAL)
"""Every stream of a shard, most urgent first (read, claimed and taken over in this order)."""


def stream_of(effects: Iterable[object]) -> Stream:
    """The stream of an entry made of `effects`: the most urgent effect's."""
    for effect in effects:
        if isinstance(effect, SendSms) and effect.lane == Lane.URGENT:
            return Stream.URGENT
        if isinstance(effect, RunAction) and effect.action in CODE_ACTIONS:
            return Stream.URGENT
    return Stream.NORMAL
