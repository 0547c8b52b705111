"""Commands packed by hiredis are byte for byte what redis-py's own asyncio packer makes,
and every client `make_redis` builds packs that way (single server over TCP, TLS or a unix
socket; every node of a cluster, `tests/test_cluster.py`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from bot.redis_conn import make_redis
from bot.redis_packing import HiredisPacking, packed
from tests.conftest import make_settings

PYTHON_PACKER = Connection()
HIREDIS_PACKER = packed(Connection)()

ARG = st.one_of(st.text(), st.binary(), st.integers(min_value=-(2**70), max_value=2**70),
                st.floats(allow_nan=False))


def _python(*args: Any) -> bytes:
    return b"".join(PYTHON_PACKER.pack_command(*args))


@given(st.sampled_from(["EVALSHA", "SET", b"XADD", "CONFIG GET", b"CLIENT SETNAME"]),
       st.lists(ARG, max_size=40))
def test_a_command_packs_to_the_same_bytes(name: str | bytes, args: list[Any]) -> None:
    assert b"".join(HIREDIS_PACKER.pack_command(name, *args)) == _python(name, *args)


@given(st.lists(st.lists(ARG, max_size=6).map(lambda a: ["SET", *a]), max_size=8))
def test_a_pipeline_packs_to_the_same_bytes(commands: list[list[Any]]) -> None:
    expected = b"".join(PYTHON_PACKER.pack_commands(commands))
    assert b"".join(HIREDIS_PACKER.pack_commands(commands)) == expected


def test_memoryviews_and_bytearrays_pack_as_bytes() -> None:
    args = ("SET", memoryview(b"key"), bytearray(b"value"))
    assert b"".join(HIREDIS_PACKER.pack_command(*args)) == _python(*args)


@pytest.mark.parametrize("bad", [True, None, object()])
def test_what_redis_py_refuses_is_refused_the_same_way(bad: Any) -> None:
    with pytest.raises(DataError):
        PYTHON_PACKER.pack_command("SET", "k", bad)
    with pytest.raises(DataError):
        HIREDIS_PACKER.pack_command("SET", "k", bad)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/15", "rediss://127.0.0.1:6379/15",
                                 "unix:///tmp/civictext-none.sock"])
def test_every_single_server_client_packs_with_hiredis(url: str) -> None:
    client = make_redis(make_settings(redis_url=url), cluster=False)
    pool_class = client.connection_pool.connection_class  # type: ignore[union-attr]
    assert issubclass(pool_class, HiredisPacking)
    assert packed(pool_class) is pool_class  # wrapping twice changes nothing
