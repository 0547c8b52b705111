"""Texting the web process as Twilio does (signed forms), timing every answer.

Each fault scenario texts JOIN from phones of its own; JOIN gets exactly one reply (the
opt-in question), so per phone the sandbox must see one send: none is a lost text, more
than one a duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp

from bot.bench.loadgen import twilio_form
from bot.sandbox import credentials as cred
from webhooks.twilio import compute_signature

PATH = "/webhooks/twilio/sms"
ANSWER_TIMEOUT = 30.0
_sids = itertools.count(1)


def phones(area: int, count: int) -> list[str]:
    """`count` distinct valid US numbers of one area code (`+1 AAA 2XX XXXX`): the webhook
    ignores a number that is not valid, and a number outside the US gets no flow."""
    return [f"+1{area:03d}{2_000_000 + n:07d}" for n in range(count)]


@dataclass
class Posted:
    """What the webhook answered, per phone, and how long it took."""

    status: dict[str, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)  # each phone's first answer

    @property
    def ok(self) -> list[str]:
        return [p for p, s in self.status.items() if s == 200]

    def counts(self) -> Counter[int]:
        """How the first post of each phone was answered."""
        return Counter(self.first.values())


async def text(session: aiohttp.ClientSession, base_url: str, phone: str, body: str,
               posted: Posted, sid: str | None = None) -> int:
    """POST one signed Twilio inbound text; 0 when no answer came (refused, timed out)."""
    sid = sid or f"SM{next(_sids):032d}"
    form = twilio_form(phone, body, sid, "+12025550199")
    signature = compute_signature(cred.TWILIO_AUTH_TOKEN, base_url + PATH, form)
    started = time.monotonic()
    try:
        async with session.post(base_url + PATH, data=urlencode(form), headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature}) as resp:
            await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    posted.seconds.append(time.monotonic() - started)
    posted.first.setdefault(phone, status)
    if posted.status.get(phone) != 200:
        posted.status[phone] = status
    return status


async def text_all(base_url: str, numbers: list[str], *, rate: float | None = None,
                   concurrency: int = 32, posted: Posted | None = None,
                   retry_until: float = 0.0) -> Posted:
    """Text JOIN from every number (at `rate` a second, or as fast as `concurrency`
    allows). With `retry_until`, a text not answered 200 is posted again (same message id,
    as the provider retries) until then."""
    posted = posted or Posted()
    sids = {phone: f"SM{next(_sids):032d}" for phone in numbers}
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT)
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(phone: str) -> None:
            async with limit:
                await text(session, base_url, phone, "JOIN", posted, sids[phone])

        tasks = []
        start = time.monotonic()
        for index, phone in enumerate(numbers):
            if rate:
                await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(phone)))
        await asyncio.gather(*tasks)
        while retry_until and time.monotonic() < retry_until:
            missing = [p for p in numbers if posted.status.get(p) != 200]
            if not missing:
                break
            await asyncio.gather(*(one(p) for p in missing))
            await asyncio.sleep(0.5)
    return posted


def tally(numbers: list[str], sends: list[str]) -> tuple[int, int]:
    """(lost, duplicates) among `numbers`: phones with no send, and sends beyond one."""
    wanted = set(numbers)
    seen = Counter(s for s in sends if s in wanted)
    lost = sum(1 for p in numbers if seen[p] == 0)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    return lost, duplicates
