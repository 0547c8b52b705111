"""Child processes of the benchmark: start, pin to a core, wait until ready, measure, stop.

Every wait here is bounded in time; every process started is stopped (SIGTERM, then SIGKILL)
by the `Procs` that started it, in reverse order, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
STOP_TIMEOUT = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cores() -> tuple[int | None, int | None]:
    """(server core, load core): two different CPUs when this process may use two."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def pin(pid: int, core: int | None) -> None:
    """Keep a process (and the threads it starts later) on one CPU."""
    if core is not None:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(pid, {core})


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any of the bot's own settings, plus `values`.

    So a developer's REDIS_URL, real credentials or LOG_LEVEL never leak into a bench child;
    children also run in a scratch directory, so no `.env` file is read.
    """
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


class Proc:
    """One child process with its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path,
                 core: int | None) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.popen = subprocess.Popen(argv, env=env, cwd=workdir, stdout=self._log,  # noqa: S603
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self.core = core
        pin(self.popen.pid, core)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers 200; raise with the log's tail when it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError), \
                    urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - 127.0.0.1
                if resp.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s:\n{self.tail()}")

    def wait_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not print {text!r} in {timeout}s:\n{self.tail()}")

    def wait_idle(self, timeout: float = 30.0, window: float = 0.3,
                  busy: float = 0.1) -> bool:
        """Wait until the process has used under `busy` of a core over `window` seconds
        (its start-up is over and it waits for work): True, or False when it was still
        busier than that after `timeout` seconds. Raises when it exited."""
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(window)
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            now = self.cpu_seconds()
            if now - last < busy * window:
                return True
            last = now
        return False

    def rss(self) -> dict[str, int]:
        """Resident memory now and at its peak (bytes), from /proc/<pid>/status."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, from /proc/<pid>/stat."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL after a bound; only this child's own group."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(STOP_TIMEOUT)
        self._log.close()


def core_jiffies(core: int | None) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU (all CPUs when None) so far, from /proc/stat."""
    name = "cpu" if core is None else f"cpu{core}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == name:
                values = [int(v) for v in fields[1:]]
                idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
                return sum(values) - idle, sum(values)
    return 0, 0


class CoreWatch:
    """How busy a CPU was over a stretch, and how much of that was not `procs`: the noise
    of anything else on the machine (another test run, a build) on the server's core."""

    def __init__(self, core: int | None, procs: list[Proc]) -> None:
        self.core = core
        self.procs = procs

    def __enter__(self) -> CoreWatch:
        self._start = core_jiffies(self.core)
        self._cpu = sum(p.cpu_seconds() for p in self.procs)
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = core_jiffies(self.core)
        wall = max(1e-9, time.monotonic() - self._wall)
        self.busy_share = (busy - self._start[0]) / max(1, total - self._start[1])
        ours = (sum(p.cpu_seconds() for p in self.procs) - self._cpu) / wall
        self.other_share = max(0.0, self.busy_share - ours)


class CpuSampler:
    """Samples a process's CPU time every `every` seconds in a thread, so the share of a
    core it used inside a measurement window (monotonic times) can be read afterwards."""

    def __init__(self, proc: Proc, every: float = 0.1, limit: float = 900.0) -> None:
        self.proc = proc
        self.every = every
        self.limit = limit  # the thread never outlives this many seconds
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.samples.append((time.monotonic(), self.proc.cpu_seconds()))
            self._stop.wait(self.every)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def share(self, start: float, end: float) -> float:
        """CPU seconds per wall second between the samples nearest `start` and `end`."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


class Procs:
    """Every child of one bench run; `close()` stops them all, newest first."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[Proc] = []

    def start(self, name: str, argv: list[str], env: dict[str, str],
              core: int | None) -> Proc:
        proc = Proc(name, argv, env, self.workdir, core)
        self.running.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.running:
            self.running.remove(proc)

    def close(self) -> None:
        while self.running:
            self.running.pop().stop()


def run_loadgen(job: dict[str, Any], core: int | None, timeout: float) -> dict[str, Any]:
    """Run one load-generator job in its own process on `core`; its JSON result."""
    popen = subprocess.Popen([PYTHON, "-m", "bot.bench.loadgen"], stdin=subprocess.PIPE,  # noqa: S603
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=clean_env(), cwd=ROOT)
    pin(popen.pid, core)
    try:
        out, err = popen.communicate(json.dumps(job).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.communicate(timeout=STOP_TIMEOUT)
        raise RuntimeError(f"load generator did not finish in {timeout}s") from None
    if popen.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
        body: bytes = resp.read()
        return body


def http_post(url: str, timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
        body: bytes = resp.read()
        return body


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text page as `{'name{labels}': value}` (comments dropped)."""
    values: dict[str, float] = {}
    for line in http_get(url).decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            values[name] = float(value)
    return values


def metric_sum(values: dict[str, float], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for key, value in values.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total
