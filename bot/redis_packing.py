"""Commands packed by hiredis (C) instead of redis-py's asyncio packer (Python).

redis-py's synchronous client packs with `hiredis.pack_command` when hiredis is installed;
its asyncio `Connection` always packs in Python, one join per argument. The commit script
carries about 35 keys and arguments, so packing was a tenth of the webhook's CPU per text
(80-110 us on a 2-vCPU VM against 8 us for hiredis, `docs/performance.md`). The bytes are
the same (`tests/test_redis_packing.py` holds them to redis-py's packer), and a value
redis-py refuses (a bool, None) is still refused with redis-py's `DataError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import hiredis  # a dependency: `redis[hiredis]`
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import DataError

C = TypeVar("C", bound=AbstractConnection)


class HiredisPacking:
    """Mixed in before a redis-py asyncio connection class: pack with hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py's packers: a command name given with spaces ("CONFIG GET") is split.
        first = args[0]
        if isinstance(first, str):
            if " " in first:
                args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            fixed = tuple(bytes(a) if isinstance(a, (bytearray, memoryview)) else a
                          for a in args)
            try:
                return [hiredis.pack_command(fixed)]  # type: ignore[arg-type]
            except TypeError as exc:
                raise DataError(str(exc)) from exc

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        return [b"".join(self.pack_command(*command)[0] for command in commands)]


_PACKED: dict[type[Any], type[Any]] = {}


def packed(connection_class: type[C]) -> type[C]:
    """`connection_class` packing with hiredis (one subclass per class, made once)."""
    if issubclass(connection_class, HiredisPacking):
        return connection_class
    made = _PACKED.get(connection_class)
    if made is None:
        made = _PACKED[connection_class] = type(f"Hiredis{connection_class.__name__}",
                                                (HiredisPacking, connection_class), {})
    return made
