"""Time and ids behind small interfaces, so tests can freeze both (goflow's MockUniverse)."""

from __future__ import annotations

import itertools
import os
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch, as a float."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class IdFactory(Protocol):
    """Makes ids for effects and timers; the id is also the upstream idempotency key."""

    def new_id(self) -> str: ...


class RandomIds:
    """Random 128-bit ids, 32 hex digits (as `uuid4().hex` gave, at a fifth of the cost:
    two per text on the inbound path)."""

    def new_id(self) -> str:
        return os.urandom(16).hex()


class SequentialIds:
    """`e1`, `e2`, ... for deterministic tests."""

    def __init__(self, prefix: str = "e") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._counter)}"
