"""What the fault suite breaks: its own redis-server, the sandboxes, web and worker as
separate processes, all on 127.0.0.1 and on ports given to it (never the machine's Redis).

Reuses the benchmark's process handling (`bot.bench.procs`): every child is stopped, newest
first, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis import Redis

from bot.bench.procs import PYTHON, Proc, Procs, clean_env, http_get
from bot.config import SERVICES
from bot.sandbox import credentials as cred

READY_TIMEOUT = 60.0


class FaultError(Exception):
    """The suite cannot run (no redis-server, a child that never came up)."""


@dataclass
class Ports:
    """Where each part listens: the suite's own range."""

    redis: int
    web: int
    sandbox: list[int]


@dataclass
class Stack:
    """The running parts of one scenario, and how to break them."""

    procs: Procs
    ports: Ports
    workdir: Path
    appendonly: bool = False
    redis: Proc | None = None
    web: Proc | None = None
    workers: list[Proc] = field(default_factory=list)
    sandbox: Proc | None = None
    redis_dir: Path | None = None
    started: int = 0  # workers started so far (names their logs)
    sandbox_module: str = "bot.bench.sandbox"  # or `bot.faults.sandbox` (fault switches)
    settings: dict[str, str] = field(default_factory=dict)  # env of web and worker, on top
    sandbox_args: list[str] = field(default_factory=list)  # more arguments of the sandbox

    # --- redis --------------------------------------------------------------------------
    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports.redis}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.redis_url, socket_timeout=10,
                                    socket_connect_timeout=2)

    def start_redis(self, *, fresh: bool = False) -> None:
        """A redis-server on our port; `fresh`: a new empty data directory (a new node)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise FaultError("redis-server is not on PATH (apt-get install redis-server)")
        if fresh or self.redis_dir is None:
            self.redis_dir = self.workdir / f"redis-{time.monotonic_ns()}"
            self.redis_dir.mkdir(parents=True)
        argv = [binary, "--port", str(self.ports.redis), "--bind", "127.0.0.1",
                "--save", "", "--dir", str(self.redis_dir), "--protected-mode", "yes",
                "--appendonly", "yes" if self.appendonly else "no"]
        if self.appendonly:
            argv += ["--appendfsync", "always"]  # a 200 means on disk: kill -9 loses none
        self.redis = self.procs.start("redis", argv, clean_env(), None)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                with self.client() as r:
                    r.ping()
                return
            except redis.RedisError:  # refused, or still loading the AOF
                if time.monotonic() > deadline or not self.redis.alive():
                    raise FaultError(f"redis-server did not start:\n{self.redis.tail()}") from None
                time.sleep(0.05)

    def kill9_redis(self) -> None:
        assert self.redis is not None
        kill9(self.redis)
        self.procs.stop(self.redis)
        self.redis = None

    # --- sandbox, web, worker -----------------------------------------------------------
    def base(self, service: str) -> str:
        return f"http://127.0.0.1:{self.sandbox_port(service)}/{service}"

    def sandbox_port(self, service: str) -> int:
        return self.ports.sandbox[[str(s) for s in SERVICES].index(service)]

    def start_sandbox(self) -> None:
        self.sandbox = self.procs.start(
            "sandbox", [PYTHON, "-m", self.sandbox_module, "--ports",
                        ",".join(str(p) for p in self.ports.sandbox), *self.sandbox_args],
            clean_env(), None)
        self.sandbox.wait_line("ready", timeout=READY_TIMEOUT)

    def env(self, **extra: str) -> dict[str, str]:
        values = {
            "PORT": str(self.ports.web), "HOST": "127.0.0.1", "REDIS_URL": self.redis_url,
            "LOG_LEVEL": "WARNING", "SMS_SENDER": "twilio", "SMS_FROM": cred.TWILIO_FROM,
            "TWILIO_ACCOUNT_SID": cred.TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": cred.TWILIO_AUTH_TOKEN,
            "TELESIGN_CUSTOMER_ID": cred.TELESIGN_CUSTOMER_ID,
            "TELESIGN_API_KEY": cred.TELESIGN_API_KEY, "VERIFY_PROVIDER": "local",
            "WORKER_CLAIM_IDLE_MS": "2000", "UPSTREAM_TIMEOUT": "5",
        }  # fmt: skip
        for service in SERVICES:
            values[f"{service.upper()}_API_BASE"] = self.base(service)
        values.update(self.settings)
        values.update(extra)
        return clean_env(**values)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    def start_web(self) -> None:
        self.web = self.procs.start("web", [PYTHON, "-m", "bot", "serve", "--no-worker"],
                                    self.env(), None)
        self.web.wait_http(f"{self.web_url}/readyz", timeout=READY_TIMEOUT)

    def start_worker(self) -> Proc:
        # INFO: its "worker started" line is how the suite knows it reads the outbox.
        self.started += 1
        proc = self.procs.start(f"worker-{self.started}", [PYTHON, "-m", "bot", "worker"],
                                self.env(LOG_LEVEL="INFO"), None)
        self.workers.append(proc)
        return proc

    def kill9_worker(self, proc: Proc) -> None:
        kill9(proc)
        self.procs.stop(proc)
        self.workers.remove(proc)

    # --- what the provider saw ----------------------------------------------------------
    def sends(self) -> list[str]:
        """Every text the Twilio sandbox accepted, as the phone it went to."""
        url = f"http://127.0.0.1:{self.sandbox_port('twilio')}/_bench/sends"
        return [to for to, _ in json.loads(http_get(url, timeout=30))["sends"]]

    def close(self) -> None:
        self.procs.close()


def kill9(proc: Proc) -> None:
    """SIGKILL the child (its own process group), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.popen.wait(10)
