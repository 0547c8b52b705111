"""The load generator: signed Twilio webhooks over raw keep-alive HTTP/1.1 connections.

Runs in its own process (`python -m bot.bench.loadgen < job.json > result.json`), pinned by
the caller to a core of its own. Every request is built and signed exactly like Twilio does
BEFORE the clock starts, so the generator spends its time on sockets only. Three modes:

- `closed`: `concurrency` connections, each sending its next request as soon as the last one
  is answered (a throughput measurement); requests answered inside the window after
  `warmup` seconds are counted.
- `open`: request i is due at `t0 + i / rate`, whatever the server is doing (no coordinated
  omission): it goes out on an idle connection, or a new one, and its latency runs from the
  time it was DUE, so a server that falls behind shows it.
- `burst`: every request at once, one connection each; then `resend` of them again, as a
  provider's retries.

Times are `time.monotonic()` (CLOCK_MONOTONIC, the same clock in every process of the
machine), so the sandbox's arrival times can be compared with the send times here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from webhooks.twilio import compute_signature

PATH = "/webhooks/twilio/sms"
ACCOUNT_SID = "ACsandbox"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 30.0  # a webhook answer later than this counts as an error


def twilio_form(phone: str, body: str, sid: str, to: str) -> list[tuple[str, str]]:
    """The fields Twilio posts for an inbound SMS (the same names, order and kinds)."""
    return [
        ("ToCountry", "US"), ("ToState", "DC"), ("SmsMessageSid", sid), ("NumMedia", "0"),
        ("ToCity", "WASHINGTON"), ("FromZip", "20001"), ("SmsSid", sid), ("FromState", "DC"),
        ("SmsStatus", "received"), ("FromCity", "WASHINGTON"), ("Body", body),
        ("FromCountry", "US"), ("To", to), ("ToZip", "20001"), ("NumSegments", "1"),
        ("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("From", phone),
        ("ApiVersion", "2010-04-01"),
    ]  # fmt: skip


def build_request(port: int, token: str, phone: str, body: str, sid: str,
                  to: str = "+12025550199") -> bytes:
    """One complete HTTP request, signed with `X-Twilio-Signature` over URL + sorted form."""
    form = twilio_form(phone, body, sid, to)
    url = f"http://127.0.0.1:{port}{PATH}"
    signature = compute_signature(token, url, form)
    payload = urlencode(form).encode()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            f"I-Twilio-Idempotency-Token: {sid}\r\n"
            "User-Agent: TwilioProxy/1.1\r\nAccept: */*\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports are not `asyncio.Transport`s
        self.buf = bytearray()
        self.need: int | None = None
        self.status = 0
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.sent_at = 0.0
        CONNS.add(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def _parse(self) -> None:
        if self.need is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            self.status = int(head[9:12])
            match = _CONTENT_LENGTH.search(head)
            self.need = end + 4 + (int(match.group(1)) if match else 0)
        if len(self.buf) >= self.need:
            del self.buf[:self.need]
            self.need = None
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(self.status)

    async def send(self, request: bytes) -> int:
        """Write one request, wait for its whole answer; the HTTP status. (No per-request
        `wait_for`: it costs a task each; `Watchdog` bounds every wait instead.)"""
        assert self.transport is not None
        self.waiter = waiter = asyncio.get_running_loop().create_future()
        self.sent_at = time.monotonic()
        self.transport.write(request)
        try:
            status: int = await waiter
            return status
        finally:
            self.waiter = None

    def expire(self, now: float) -> None:
        """Fail a request waiting longer than `ANSWER_TIMEOUT` (and drop the connection)."""
        waiter = self.waiter
        if waiter is not None and not waiter.done() and now - self.sent_at > ANSWER_TIMEOUT:
            waiter.set_exception(TimeoutError("no answer"))
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


CONNS: weakref.WeakSet[Conn] = weakref.WeakSet()


async def watchdog() -> None:
    """Bound every wait for an answer (runs until cancelled)."""
    while True:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        for conn in list(CONNS):
            conn.expire(now)


async def connect(port: int) -> Conn:
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(
        loop.create_connection(Conn, "127.0.0.1", port), CONNECT_TIMEOUT)
    return proto


@dataclass
class Recorder:
    """Per-request outcomes: status (0 = transport error), due, sent and answered times."""

    status: list[int] = field(default_factory=list)
    due: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    index: list[int] = field(default_factory=list)

    def add(self, i: int, status: int, due: float, sent: float, done: float) -> None:
        self.index.append(i)
        self.status.append(status)
        self.due.append(due)
        self.sent.append(sent)
        self.done.append(done)

    def as_json(self) -> dict[str, list[Any]]:
        return {"index": self.index, "status": self.status, "due": self.due,
                "sent": self.sent, "done": self.done}


async def _one(conn: Conn, request: bytes) -> int:
    try:
        return await conn.send(request)
    except (ConnectionError, OSError, TimeoutError):
        return 0


async def closed_loop(port: int, requests: list[bytes], concurrency: int, warmup: float,
                      duration: float, cycle: bool) -> dict[str, Any]:
    """`concurrency` connections sending back to back for `warmup + duration` seconds."""
    rec = Recorder()
    next_index = 0
    total = len(requests)
    start = time.monotonic()
    stop_at = start + warmup + duration

    async def client() -> None:
        nonlocal next_index
        conn = await connect(port)
        try:
            while time.monotonic() < stop_at and (cycle or next_index < total):
                i = next_index
                next_index += 1
                sent = time.monotonic()
                status = await _one(conn, requests[i % total])
                rec.add(i, status, sent, sent, time.monotonic())
                if conn.closed:
                    conn = await connect(port)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    ended = time.monotonic()
    return {"start": start, "window_start": start + warmup,
            "window_end": min(ended, stop_at), "ended": ended, **rec.as_json()}


async def open_loop(port: int, requests: list[bytes], rate: float,
                    max_connections: int) -> dict[str, Any]:
    """Request i is due at `t0 + i / rate`; latency is measured from that time."""
    rec = Recorder()
    idle: collections.deque[Conn] = collections.deque()
    for _ in range(min(64, max_connections)):
        idle.append(await connect(port))
    opened = len(idle)
    free = asyncio.Condition()
    tasks: set[asyncio.Task[None]] = set()

    async def fire(i: int, due: float) -> None:
        nonlocal opened
        async with free:
            while not idle and opened >= max_connections:
                await free.wait()
            if idle:
                conn = idle.popleft()
            else:
                opened += 1
                conn = None
        if conn is None:
            try:
                conn = await connect(port)
            except (OSError, TimeoutError):
                rec.add(i, 0, due, time.monotonic(), time.monotonic())
                opened -= 1
                return
        sent = time.monotonic()
        status = await _one(conn, requests[i])
        rec.add(i, status, due, sent, time.monotonic())
        async with free:
            if conn.closed:
                opened -= 1
            else:
                idle.append(conn)
            free.notify()

    t0 = time.monotonic() + 0.05
    for i in range(len(requests)):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(fire(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=ANSWER_TIMEOUT + CONNECT_TIMEOUT)
    for conn in idle:
        conn.close()
    return {"start": t0, "connections": opened, **rec.as_json()}


async def burst(port: int, requests: list[bytes], resend: int) -> dict[str, Any]:
    """Every request at once on its own connection, then `resend` of them again."""
    conns = [await connect(port) for _ in requests]
    first, again = Recorder(), Recorder()

    async def fire(rec: Recorder, i: int) -> None:
        sent = time.monotonic()
        status = await _one(conns[i], requests[i])
        rec.add(i, status, sent, sent, time.monotonic())

    await asyncio.gather(*(fire(first, i) for i in range(len(requests))))
    await asyncio.gather(*(fire(again, i) for i in range(min(resend, len(conns)))))
    for conn in conns:
        conn.close()
    return {**first.as_json(), "resent_status": again.status}


async def run(job: dict[str, Any]) -> dict[str, Any]:
    """Build and sign every request, then run the job's mode."""
    port, token = int(job["port"]), str(job["token"])
    built = time.monotonic()
    requests = [build_request(port, token, phone, body, sid) for phone, body, sid in job["texts"]]
    built = time.monotonic() - built
    mode = job["mode"]
    guard = asyncio.create_task(watchdog())
    if mode == "closed":
        result = await closed_loop(port, requests, int(job["concurrency"]),
                                   float(job["warmup"]), float(job["duration"]),
                                   bool(job.get("cycle", False)))
    elif mode == "open":
        result = await open_loop(port, requests, float(job["rate"]),
                                 int(job.get("max_connections", 1000)))
    elif mode == "burst":
        result = await burst(port, requests, int(job.get("resend", 0)))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    guard.cancel()
    result["build_seconds"] = built
    result["request_bytes"] = sum(len(r) for r in requests) / max(1, len(requests))
    return result


def main() -> int:
    job = json.load(sys.stdin)
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional speed-up, as `python -m bot serve` does

        uvloop.install()
    result = asyncio.run(run(job))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
