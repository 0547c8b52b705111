"""Shared fixtures: settings for tests, fakeredis and a real Redis, and signing helpers."""

from __future__ import annotations

import sys

# Cache the project's bytecode for test runs even where the machine sets
# PYTHONDONTWRITEBYTECODE (as CI images often do): otherwise every pytest-xdist worker of
# every run compiles the whole project and its test modules again, seconds of CPU each.
sys.dont_write_bytecode = False

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fakeredis
import hypothesis
import pytest
import structlog
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from redis.asyncio import Redis

from bot.config import Settings
from bot.logs import redact
from bot.redis_conn import RedisClient, make_cluster

if TYPE_CHECKING:  # imported when a cluster starts: `bot.bench` loads most of the bot, a
    # second of CPU that pytest-xdist's controller process (it runs no test) can skip
    from bot.bench.cluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent

#: Property tests: `quick` (a bare `pytest`) tries 30 examples each, `thorough` (what
#: `tests/run.sh` and CI load with `--hypothesis-profile=thorough`) hypothesis' usual 100.
#: (The webhook fuzz keeps its own 300: fewer reach too few requests past the signature.)
hypothesis.settings.register_profile("quick", max_examples=30, deadline=None)
hypothesis.settings.register_profile("thorough", max_examples=100, deadline=None)
hypothesis.settings.load_profile("quick")  # the plugin loads `--hypothesis-profile` after
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
#: The pytest-xdist worker running this process ("gw0", "gw1"...; "" without workers).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
#: Each xdist worker takes its own block of ports for a cluster (100 apart), should it
#: start one: every cluster test runs in one worker (`OWN_SERVERS`), but a run with
#: `--dist load` would start one per worker.
CLUSTER_BASE_PORT = (int(os.environ.get("CLUSTER_BASE_PORT", "18700"))
                     + 100 * int(XDIST_WORKER.removeprefix("gw") or 0))
CLUSTER_MARKS = [pytest.mark.integration, pytest.mark.cluster]

_NONE_ENV = {
    "redis_url": None, "public_base_url": None, "sms_from": "+15555550199",
    "twilio_account_sid": None, "twilio_auth_token": None, "twilio_api_base": None,
    "telesign_customer_id": None, "telesign_api_key": None, "telesign_api_base": None,
    "p2a_app_id": None, "p2a_app_key": None, "p2a_api_base": None,
    "wevote_api_key": None, "wevote_api_base": None,
    "whatcounts_user": None, "whatcounts_password": None, "whatcounts_api_base": None,
    "whatcounts_sender_code": None, "whatcounts_group": None,
    "quorum_username": None, "quorum_api_key": None, "quorum_api_base": None,
}


class IsolatedSettings(Settings):
    """`Settings` from its arguments and defaults only: this machine's environment and `.env`
    are not read (which also spares the settings sources' scan of ~100 fields per build)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


_SETTINGS_MADE: dict[str, Settings] = {}


def make_settings(**overrides: Any) -> Settings:
    """Settings that ignore this machine's environment and `.env`. The same overrides give
    the same (shared) object: building one costs pydantic-settings ~2.5 ms, 400 times a run,
    and nothing assigns to a Settings (changes go through `model_copy`)."""
    key = repr(sorted(overrides.items()))
    made = _SETTINGS_MADE.get(key)
    if made is None:
        made = _SETTINGS_MADE[key] = _build_settings(**overrides)
    return made


def _build_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {**_NONE_ENV, "flow_path": ROOT / "tests" / "flows" / "join.yaml",
                              "sms_sender": "console",
                              "verify_provider": "local", "provider_handles_keywords": False,
                              "run_worker": True, "worker_claim_idle_ms": 30_000,
                              "redis_shards": 4, "port": 8080}
    values.update(overrides)
    return IsolatedSettings(**values)


#: The xdist group of the tests that start redis-server processes of their own and time
#: them: the cluster tests (a replica must acknowledge within 200 ms), the benchmark's and
#: the fault suite's smoke runs (dozens of processes). One worker runs them one after the
#: other, so they never compete with each other, and one cluster serves the run.
OWN_SERVERS = pytest.mark.xdist_group("own_servers")


@pytest.hookimpl(tryfirst=True)  # before xdist's own answer
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (pyproject's addopts): one worker more than the cores this process may use.
    A worker spends about a third of its time waiting (timeouts a test provokes on purpose,
    a child interpreter, the settle poll), and the extra one runs meanwhile: on two idle
    cores the unit tests took 18-20 s with three workers, 21-24 s with two.
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every cluster test in the `OWN_SERVERS` group (with `--dist loadgroup`, the default
    addopts). Those and the tests marked `heavy` go first (otherwise in their order):
    pytest-xdist hands tests out in collection order, and a few seconds' test (or the
    group's minute) handed out last keeps one worker busy after the others are done."""
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            item.add_marker(OWN_SERVERS)
    items.sort(key=lambda item: not _goes_first(item))


def _goes_first(item: pytest.Item) -> bool:
    group = item.get_closest_marker("xdist_group")
    return (item.get_closest_marker("heavy") is not None
            or (group is not None and group.args == OWN_SERVERS.args))


@pytest.fixture(autouse=True)
def _masked_logs() -> Iterator[None]:
    """Logs go through the masking processor into nothing (a test may have reconfigured).
    The standard `logging` set-up is put back after each test: `main()` (and
    `setup_logging`) adds a root handler at INFO on the stderr pytest captured for that
    test, and left there it rendered every later test's aiohttp access line into a stream
    since closed (a failed write, a printed stack), seconds of CPU a run."""
    structlog.configure(cache_logger_on_first_use=False, wrapper_class=None,
                        processors=[redact, structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.ReturnLoggerFactory())
    root, machine = logging.getLogger(), logging.getLogger("transitions")
    saved = (root.level, root.handlers[:], machine.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    machine.setLevel(saved[2])


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def fake_redis() -> Redis:
    return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())


async def connect_real_redis() -> Redis:
    """A client for the real Redis server of the integration tests (db 15 by default)."""
    client: Redis = Redis.from_url(REDIS_TEST_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        pytest.fail(f"integration tests need a Redis server at {REDIS_TEST_URL}: {exc!r}")
    return client


@pytest.fixture
async def real_redis() -> AsyncIterator[Redis]:
    client = await connect_real_redis()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """A Redis Cluster (3 masters, 3 replicas) of this test session's own, started once and
    stopped at the end. Fails (never skips) when it cannot start."""
    from bot.bench.cluster import ClusterError, LocalCluster

    try:
        cluster = LocalCluster.start(CLUSTER_BASE_PORT)
    except ClusterError as exc:
        pytest.fail(f"the cluster tests could not start a local Redis Cluster: {exc}")
    yield cluster
    cluster.stop()


def cluster_settings(cluster: LocalCluster, **overrides: Any) -> Settings:
    return make_settings(redis_url=cluster.url, redis_cluster=True, **overrides)


@pytest.fixture
async def cluster_redis(local_cluster: LocalCluster) -> AsyncIterator[RedisClient]:
    """A cluster client (the bot's own) on the local cluster, after it settled."""
    local_cluster.wait_ready()
    client = make_cluster(cluster_settings(local_cluster))
    await client.initialize()
    yield client
    await client.aclose()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.integration),
                        pytest.param("cluster", marks=CLUSTER_MARKS)])
async def any_redis(request: pytest.FixtureRequest) -> AsyncIterator[RedisClient]:
    """The same test on fakeredis (unit), the real server and a Redis Cluster (integration)."""
    if request.param == "fake":
        yield fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
        return
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("local_cluster")
        cluster.wait_ready()
        client: RedisClient = make_cluster(cluster_settings(cluster))
        await client.initialize()
    else:
        client = await connect_real_redis()
    yield client
    await client.aclose()


@pytest.fixture
def key_prefix() -> str:
    """A prefix of this test's own on the shared Redis (naming the xdist worker too)."""
    return f"cttest-{XDIST_WORKER or 'main'}-{uuid.uuid4().hex[:10]}"


async def drop_prefix(client: RedisClient, prefix: str) -> None:
    """Delete every key a test wrote under its own prefix."""
    async for key in client.scan_iter(match=f"{prefix}:*", count=500):
        await client.delete(key)


def twilio_signer(token: str) -> Callable[[str, dict[str, str]], str]:
    """Sign with the official twilio package's RequestValidator (test dependency only)."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)

    def sign(url: str, form: dict[str, str]) -> str:
        return str(validator.compute_signature(url, form))

    return sign
