"""Sending at the carrier's pace: one token bucket in Redis shared by every worker, with
priority lanes and provider pushback.

- The bucket is one hash on one hash-tagged key (`{pace}`), refilled at `SMS_RATE` tokens a
  second up to a small burst (`BURST_SECONDS` worth, at least 2: tokens are granted spread
  over the second, not a second's worth at once), and taken from by a Lua script, so any
  number of workers together never exceed the rate.
- Leaving at the pace: a granted text is checked once more right before its request
  (`sending`). A grant that waited longer than `stale_after` (a stalled process) is
  exchanged for a fresh one at the head of its lane. Then a sliding log bounds what this
  process writes: each request holds a place in it from the moment it is let go until
  `window` (a second and a small margin) after aiohttp wrote it to the socket (noted by
  `request_trace`, a TraceConfig on the HTTP session), and a request is let go only while
  the log has fewer than `rate` places taken (the pump takes no token the log has no room
  for). So the requests *written* in any window of that length number at most the rate,
  however late a CPU-starved event loop runs them between the log and the socket; the
  margin covers the jitter between the write and the provider's clock.
- Lanes: a lane may only take a token while the bucket holds more than its reserve
  (`RESERVE`), so codes and STOP/HELP answers always find one before replies do, replies
  before reminders, reminders before broadcasts. Inside one process a heap hands tokens to
  the lowest lane first, and one pump asks Redis for a batch for all the waiters at once.
- Pushback: a provider's 429 or queue-overflow error halves the bucket's rate (down to
  `MIN_FACTOR`), empties it, and the rate climbs back by a quarter every `RECOVER_SECONDS`
  without pushback. The send is retried after the pause instead of burning a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import structlog

from bot.clock import Clock, SystemClock
from bot.models import Lane
from bot.redis_conn import RedisClient
from bot.sms import SendError

log = structlog.get_logger("bot.pace")

RESERVE: dict[Lane, float] = {Lane.URGENT: 0.0, Lane.REPLY: 0.1, Lane.REMINDER: 0.3,
                              Lane.BULK: 0.5}
"""Share of the burst (of at most `RESERVE_BASE` tokens) a lane must leave in the bucket for
the lanes before it: a few tokens are enough, and a large reserve would only stall a fast
sender after a pushback empties the bucket."""
RESERVE_BASE = 10.0
BURST_SECONDS = 0.2  # the bucket holds this many seconds' worth of tokens (at least 2)
STALE_TICKS = 50.0  # a grant older than this many intervals (1/rate) is exchanged
STALE_MIN = 1.0  # seconds: but never sooner (a loaded event loop lags by tenths of one)
MAX_REGRANTS = 1  # stale grants exchanged for one send before it goes anyway
MARGIN = 0.05  # seconds of jitter between a write and the provider's clock it absorbs
WINDOW = 1.0 + MARGIN  # seconds: this process's writes in any such window stay within the rate
MIN_FACTOR = 0.05
RECOVER_SECONDS = 10.0
MAX_BATCH = 50
MAX_POLL = 0.25  # seconds between asks while waiting (the bucket may have been slowed)
STATE_TTL_MS = 600_000

#: KEYS: bucket. ARGV: now, rate, burst, reserve (tokens), want.
#: Answers {granted, seconds to wait (string), factor (string)}.
TAKE = """
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'factor', 'changed')
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local factor = tonumber(b[3]) or 1
local changed = tonumber(b[4]) or now
if factor < 1 and now - changed >= %(recover)s then
  factor = math.min(1, factor * 1.25)
  changed = now
end
local eff = rate * factor
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * eff) end
local reserve, want = tonumber(ARGV[4]), tonumber(ARGV[5])
-- (a millionth of slack: tokens stored as text lose the last digits)
local got = math.max(0, math.min(want, math.floor(tokens - reserve + 0.000001)))
tokens = tokens - got
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)),
           'factor', tostring(factor), 'changed', tostring(changed))
redis.call('PEXPIRE', KEYS[1], %(ttl)s)
local wait = 0
if got == 0 then wait = math.max(0.001, (reserve + 1 - tokens) / eff) end
return {got, tostring(wait), tostring(factor)}
""" % {"recover": RECOVER_SECONDS, "ttl": STATE_TTL_MS}  # noqa: UP031 - Lua braces

#: KEYS: bucket. ARGV: now. Halve the rate (not below MIN_FACTOR) and empty the bucket.
SLOW = """
local factor = tonumber(redis.call('HGET', KEYS[1], 'factor')) or 1
factor = math.max(%(min)s, factor / 2)
redis.call('HSET', KEYS[1], 'tokens', '0', 'ts', ARGV[1], 'factor', tostring(factor),
           'changed', ARGV[1])
redis.call('PEXPIRE', KEYS[1], %(ttl)s)
return tostring(factor)
""" % {"min": MIN_FACTOR, "ttl": STATE_TTL_MS}  # noqa: UP031 - Lua braces


class ProviderPushback(SendError):
    """The provider asked us to slow down (HTTP 429, Twilio 20429, queue overflow 30001)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=True)


class PaceTimeout(SendError):
    """No token came within the wait bound: the send is retried later (backlog too long)."""

    def __init__(self) -> None:
        super().__init__("no send token within the wait bound", retryable=True)


@dataclass(frozen=True)
class Grant:
    """A token handed to one send: its lane, when it was granted, and its place in line."""

    lane: Lane
    at: float
    seq: int


@dataclass(order=True)
class _Waiter:
    lane: int
    seq: int
    future: asyncio.Future[float] = field(compare=False)  # the grant's time


class PaceGate:
    """This process's door to the shared bucket: `await gate.acquire(lane)` before a send."""

    def __init__(self, redis: RedisClient, key: str, rate: float, *, clock: Clock | None = None,
                 max_wait: float = 300.0, burst: float | None = None,
                 window: float | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.redis = redis
        self.key = key
        self.rate = rate
        # A few intervals' worth, and at least 2: with less, a lane with a reserve could
        # never find a whole token above it (the bulk lane needs a full bucket at 2). A full
        # second's worth let a rested bucket send 2 x rate in its first second.
        self.burst = burst if burst is not None else bucket_burst(rate)
        self.stale_after = max(STALE_MIN, STALE_TICKS / rate)
        self.clock = clock or SystemClock()
        self.max_wait = max_wait
        self._sleep = sleep  # tests pass one that moves their clock instead
        self._take = redis.register_script(TAKE)
        self._slow = redis.register_script(SLOW)
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self.factor = 1.0
        self.granted: dict[Lane, int] = dict.fromkeys(Lane, 0)
        self.regranted = 0  # grants exchanged for being stale (`ready`)
        self._unused: dict[int, float] = {}  # grants handed out, their request not started
        self.window = WINDOW if window is None else window
        self._recent: list[float] = []  # when this process's recent writes leave the log
        self._writing = 0  # requests let go whose write is not noted yet (in the log too)
        self.unnoted = 0  # requests that ended with no write noted (counted from their end)
        self._spacing = asyncio.Lock()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._heap if not w.future.done())

    async def acquire(self, lane: Lane, *, seq: int | None = None) -> Grant:
        """Wait (at most `max_wait`) for a token this lane may take; `PaceTimeout` after.
        `seq`: a place in line kept from an earlier grant (see `ready`)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        place = next(self._seq) if seq is None else seq
        heapq.heappush(self._heap, _Waiter(int(lane), place, future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="pace-pump")
        try:
            granted_at = await asyncio.wait_for(asyncio.shield(future), timeout=self.max_wait)
        except TimeoutError:
            future.cancel()
            raise PaceTimeout() from None
        except asyncio.CancelledError:
            future.cancel()
            raise
        self.granted[lane] += 1
        return Grant(lane, granted_at, place)

    @contextlib.asynccontextmanager
    async def sending(self, grant: Grant) -> AsyncIterator[Grant]:
        """Around the send's request, after the opt-out guard. A grant that waited more
        than `stale_after` (the process stalled) is first exchanged for a fresh one at the
        head of its lane (its token is not given back: the rate drops while this process
        cannot keep up, instead of a backlog of granted sends leaving at once). Then the
        request waits for a place in this process's log (`_admit`) and holds it until
        `window` after its write (`request_trace` notes it; a request that ends with no
        write noted, from a sender without the trace, holds it until `window` after its
        end). Yields the grant the send goes on."""
        for _ in range(MAX_REGRANTS):
            if self.clock.now() - grant.at <= self.stale_after:
                break
            self.regranted += 1
            self._unused.pop(grant.seq, None)
            grant = await self.acquire(grant.lane, seq=grant.seq)
        self._unused.pop(grant.seq, None)
        await self._admit()
        written: list[float] = []
        clock = self.clock

        def note() -> None:
            if not written:  # the first chunk carries the headers and, for a text, the body
                written.append(clock.now())

        token = _WRITE_NOTE.set(note)
        try:
            yield grant
        finally:
            with contextlib.suppress(ValueError):  # (only if closed in another context)
                _WRITE_NOTE.reset(token)
            self._writing -= 1
            if not written:
                self.unnoted += 1
            heapq.heappush(self._recent, (written[0] if written else clock.now()) + self.window)

    def _room(self) -> int:
        """Requests this process may still let go: the rate, less the requests written
        within `window`, those let go and not written yet, and grants not used yet (a
        grant never used, its text refused by the guard, holds its place for `stale_after`
        at most)."""
        now = self.clock.now()
        while self._unused:  # oldest first (granted in time order)
            seq, at = next(iter(self._unused.items()))
            if at >= now - self.stale_after:
                break
            del self._unused[seq]
        cap = max(1, int(self.rate * self.factor))
        recent = self._recent  # when each recent write's place is free again (a heap)
        while recent and (len(recent) > cap or recent[0] <= now
                          or recent[0] > now + 2 * self.window):  # (or a clock set back)
            heapq.heappop(recent)
        return cap - len(recent) - self._writing - len(self._unused)

    async def _admit(self) -> None:
        """Wait (at most `max_wait`; then `PaceTimeout`) for a place in the log, and take
        it. The bucket's small burst spreads the grants over the second; this bounds what
        is written. A late loop sends what is due, not what it missed. (Counting requests
        until their answer made the bound exact too but cost the rate the provider's
        latency; counting from the start before aiohttp's own awaits let a lagging loop
        bunch the writes: docs/performance.md.)"""
        async with self._spacing:  # one at a time, first come first served
            deadline = self.clock.now() + self.max_wait
            while self._room() + len(self._unused) <= 0:
                now = self.clock.now()
                if now > deadline:
                    raise PaceTimeout()
                interval = 1.0 / max(1e-9, self.rate * self.factor)
                room = self._recent[0] - now if self._recent else interval
                await self._sleep(max(0.001, min(room, interval)))
            self._writing += 1

    async def take(self, lane: Lane, want: int) -> tuple[int, float]:
        """Ask the bucket for up to `want` tokens for `lane`: (granted, seconds to wait)."""
        reserve = min(self.burst, RESERVE_BASE) * RESERVE[lane]
        reply: Any = await self._take(keys=[self.key], args=[
            self.clock.now(), self.rate, self.burst, reserve, want])
        self.factor = float(reply[2])
        return int(reply[0]), float(reply[1])

    async def slow_down(self, reason: str) -> None:
        """The provider pushed back: halve the shared rate for every worker."""
        self.factor = float(await self._slow(keys=[self.key], args=[self.clock.now()]))
        log.warning("provider pushback: sending slower", factor=self.factor, reason=reason[:120])

    async def _run_pump(self) -> None:
        """Hand tokens to waiters, lowest lane first, until none is left."""
        while True:
            while self._heap and self._heap[0].future.done():
                heapq.heappop(self._heap)
            if not self._heap:
                return
            lane = Lane(self._heap[0].lane)
            room = self._room()
            if room <= 0:  # this process's window is full: no token it could not use now
                await self._sleep(min(MAX_POLL, 1.0 / max(1e-9, self.rate * self.factor)))
                continue
            want = min(MAX_BATCH, room, sum(1 for w in self._heap if w.lane == lane))
            try:
                async with asyncio.timeout(5.0):
                    got, wait = await self.take(lane, want)
            except Exception as exc:  # noqa: BLE001 - a Redis blip: the waiters keep waiting
                log.warning("pace bucket unreachable", error=repr(exc)[:200])
                got, wait = 0, 0.5
            while got > 0 and self._heap:
                waiter = heapq.heappop(self._heap)
                if not waiter.future.done():
                    now = self.clock.now()
                    waiter.future.set_result(now)
                    self._unused[waiter.seq] = now
                    got -= 1
            if got == 0 and wait > 0:
                await self._sleep(min(MAX_POLL, wait))


_WRITE_NOTE: ContextVar[Callable[[], None] | None] = ContextVar("pace_write_note",
                                                                default=None)
"""Inside `PaceGate.sending`: what notes the moment its request is written."""


def request_written() -> None:
    """The request of the `PaceGate.sending` around this call is being written now (a
    no-op outside one)."""
    note = _WRITE_NOTE.get()
    if note is not None:
        note()


async def _chunk_sent(session: aiohttp.ClientSession, context: SimpleNamespace,
                      params: aiohttp.TraceRequestChunkSentParams) -> None:
    """aiohttp awaits this right before it writes a request's chunk to the socket (and
    the buffered headers with the first one), with nothing awaited in between."""
    request_written()


def request_trace() -> aiohttp.TraceConfig:
    """The HTTP session's trace that tells `PaceGate.sending` when its request is written.
    (The body's writer task inherits the sending task's context, so the note finds it.)"""
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_chunk_sent)
    return trace


def bucket_burst(rate: float) -> float:
    """The bucket's default burst: `BURST_SECONDS` worth of tokens, at least 2."""
    return max(2.0, rate * BURST_SECONDS)


def pace_key(prefix: str) -> str:
    """The bucket's key: one hash tag of its own, so the script touches one slot."""
    return f"{prefix}:pace:{{pace}}"
