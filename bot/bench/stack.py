"""What the benchmark runs against: a Redis server, the sandboxes, the bot, the bare app.

Redis: by default a private `redis-server` on a free port (no persistence), so the figures
are not disturbed by anything else using the machine's Redis and nothing of anyone's is ever
flushed. With `--redis-url` the given database is used instead: it must be empty or hold
only a previous benchmark's keys (a marker key tells), and is flushed before and after.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bot.bench.procs import PYTHON, Proc, Procs, clean_env, free_port
from bot.config import SERVICES
from bot.sandbox import credentials as cred

MARKER = "civictext-bench:owner"
FALLBACK_URL = "redis://127.0.0.1:6379/14"

#: The webhook signing secret: the Twilio sandbox's token, so the same TWILIO_AUTH_TOKEN
#: both checks inbound signatures and authenticates the REST sends to the sandbox.
TOKEN = cred.TWILIO_AUTH_TOKEN


class BenchError(Exception):
    """The benchmark cannot run (no Redis, a foreign database, a child that died)."""


@dataclass
class RedisTarget:
    url: str
    private: Proc | None = None
    version: str = ""

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=30, socket_connect_timeout=5)

    def flush(self) -> None:
        with self.client() as r:
            r.flushdb()
            r.set(MARKER, "python -m bot bench")


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as r:
            return bool(r.ping())
    except redis.RedisError:
        return False


def start_redis(procs: Procs, url: str | None, core: int | None) -> RedisTarget:
    """A private redis-server, or the database at `url` once it is safe to flush."""
    binary = shutil.which("redis-server")
    if url is None and binary is None:
        if not _answers(FALLBACK_URL):
            raise BenchError("redis-server is not on PATH and nothing answers on 6379: "
                             "install Redis, or pass --redis-url redis://HOST:PORT/DB "
                             "(a database the bench may flush)")
        url = FALLBACK_URL  # the machine's Redis, on a database of its own (checked below)
    if url is None:
        assert binary is not None
        port = free_port()
        proc = procs.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no",
                                     "--protected-mode", "yes"], clean_env(), core)
        target = RedisTarget(f"redis://127.0.0.1:{port}/0", proc)
        deadline = time.monotonic() + 15
        while True:
            try:
                with target.client() as r:
                    r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or not proc.alive():
                    raise BenchError(f"redis-server did not start:\n{proc.tail()}") from None
                time.sleep(0.05)
    else:
        target = RedisTarget(url)
        with target.client() as r:
            try:
                size = int(r.dbsize())
            except redis.ConnectionError as exc:
                raise BenchError(f"no Redis at {url}: {exc}") from exc
            if size and not r.exists(MARKER):
                raise BenchError(f"{url} holds {size} keys that are not the benchmark's; "
                                 "give an empty database (e.g. redis://127.0.0.1:6379/14)")
    with target.client() as r:
        target.version = str(r.info("server").get("redis_version", "?"))
    target.flush()
    return target


@dataclass
class Sandbox:
    """The sandboxes: one port per service, plus the `/_bench` hooks."""

    proc: Proc
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.ports['twilio']}"

    def base(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/{service}"


def start_sandbox(procs: Procs, delay: float, core: int | None) -> Sandbox:
    ports: dict[str, int] = {service: free_port() for service in SERVICES}
    proc = procs.start(f"sandbox-{int(delay * 1000)}ms",
                       [PYTHON, "-m", "bot.bench.sandbox", "--delay", str(delay),
                        "--ports", ",".join(str(p) for p in ports.values())],
                       clean_env(), core)
    proc.wait_line("ready", timeout=30)
    return Sandbox(proc, ports)


@dataclass
class Server:
    proc: Proc
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def server_env(redis_url: str, sandbox: Sandbox, port: int, flows: Path,
               **extra: str) -> dict[str, str]:
    """The bot's configuration for the benchmark: real Redis, signed webhooks, Twilio
    sends and every upstream on the sandboxes; LOG_LEVEL=WARNING (see docs/performance.md)."""
    env = {
        "PORT": str(port), "HOST": "127.0.0.1", "REDIS_URL": redis_url,
        "FLOW_PATH": str(flows), "LOG_LEVEL": "WARNING",
        "SMS_SENDER": "twilio", "SMS_FROM": cred.TWILIO_FROM,
        "TWILIO_ACCOUNT_SID": cred.TWILIO_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TOKEN,
        "VERIFY_PROVIDER": "telesign",
    }  # fmt: skip
    for service in SERVICES:
        env[f"{service.upper()}_API_BASE"] = sandbox.base(service)
    env.update(extra)
    return clean_env(**env)


def start_server(procs: Procs, env: dict[str, str], core: int | None,
                 name: str = "server") -> Server:
    """`python -m bot serve`, exactly as deployed (uvloop, worker in-process)."""
    port = int(env["PORT"])
    proc = procs.start(name, [PYTHON, "-m", "bot", "serve"], env, core)
    server = Server(proc, port)
    proc.wait_http(f"{server.url}/readyz", timeout=60)
    return server


def start_bare(procs: Procs, core: int | None) -> Server:
    port = free_port()
    proc = procs.start("bare-aiohttp", [PYTHON, "-m", "bot.bench.bare", "--port", str(port)],
                       clean_env(), core)
    server = Server(proc, port)
    proc.wait_http(f"{server.url}/readyz", timeout=30)
    return server


def start_floor(procs: Procs, redis_url: str, core: int | None, **extra: str) -> Server:
    """The floor app (`bench.floor`): signature check + one Lua script, on the bot's pool."""
    port = free_port()
    env = clean_env(REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=TOKEN, **extra)
    proc = procs.start("floor", [PYTHON, "-m", "bot.bench.floor", "--port", str(port)],
                       env, core)
    server = Server(proc, port)
    proc.wait_http(f"{server.url}/readyz", timeout=30)
    return server


def stop_redis(procs: Procs, target: RedisTarget) -> None:
    """Flush the database (a given one) or stop the private server."""
    if target.private is not None:
        procs.stop(target.private)
        return
    with contextlib.suppress(redis.RedisError), target.client() as r:
        r.flushdb()
