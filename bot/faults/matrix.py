"""The upstream fault matrix: every upstream x (HTTP 500, 429 with Retry-After, a timeout
after the request reached the server), driven through real conversations.

For each row, `phones` new phones text the bot (signed Twilio webhooks) up to the step just
before the upstream's effect; the upstream's sandbox is then told to fail the next
`phones` calls of that route (`bot.faults.sandbox`), after which it works again, and every
phone sends the text that makes the worker call it. Counted at the sandbox, per phone: how
often the effect took effect (a text sent, a code sent, a subscription made, a call
started). Read from Redis: the dead letters of those phones (`bot.dead`). The row passes
when no effect took effect twice, every effect that did not take effect is in the dead
letters, every dead letter of an effect that did take effect is marked unknown, and no
text the voter got claims what did not happen ("your phone will ring" with no call,
"we sent you a code" with no code).

The timeout row alternates two faults: `late` (the request took effect, then no answer
within the client's timeout) and `timeout` (no answer, nothing done): both are an unclear
outcome for the client, and only a lookup can tell them apart.

An upstream with a `lookup_route` (Phone2Action) has a fourth row: the answer is lost after
the effect took place (`lost`) and the worker's lookup right after does not find it yet
(the list answers empty once per phone, as a list that has not caught up would). And for an
upstream marked `replay`, once the row has settled every unknown dead letter of its phones
is replayed with `python -m bot dead replay ID` (a separate process, as staff would), then
counted again: a replay may settle a letter whose effect the upstream lists, never do the
effect a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bot.bench.procs import PYTHON
from bot.dead import DeadLetter, DeadLetters, Replay
from bot.faults.stack import Stack
from bot.faults.texts import Posted, text
from bot.store import Keys

CLIENT_TIMEOUT = 2.0  # UPSTREAM_TIMEOUT of web and worker in these rows
HANG = 3.0  # a hung answer waits this long: past the client's timeout
#: A row is over once every phone is accounted for and nothing moved this long: longer
#: than a client timeout, so a send repeated after one would still be seen.
QUIET = CLIENT_TIMEOUT + 2.0
ROW_TIMEOUT = 90.0
STEP_TIMEOUT = 30.0
SETTINGS = {"UPSTREAM_TIMEOUT": str(CLIENT_TIMEOUT), "UPSTREAM_BREAKER_SECONDS": "2",
            "VERIFY_PROVIDER": "telesign"}  # fmt: skip
FAULTS = ("HTTP 500", "429 + Retry-After", "timeout after arrival")
LOOKUP_MISSED = "answer lost, not listed yet"  # rows of upstreams with a `lookup_route`
REPLAY_TIMEOUT = 60.0
ADDRESS = "1 Main St, Kansas City 64108"


@dataclass(frozen=True)
class Upstream:
    """One upstream: how to reach the step before its effect, and how to count it."""

    name: str
    service: str  # the sandbox service
    route: str  # the route of the effect's request (`fail_next` key)
    effect: str  # the `/_faults/effects` kind: texts, codes, subscriptions, calls
    what: str  # the effect in words
    steps: tuple[tuple[str, str], ...]  # (text, part of the answer to wait for) before
    # the trigger; "{code}" in a text is the code TeleSign last sent that phone
    trigger: str
    counts: str = ""  # texts only: the bodies that are this effect
    kind_500: str = "500"
    claims: tuple[tuple[str, str], ...] = ()  # (text a voter may get, effect it needs)
    lookup_route: str = ""  # the route of the worker's lookup after an unclear effect
    replay: bool = False  # replay every unknown dead letter after the row (`bot dead`)

    @property
    def faults(self) -> tuple[str, ...]:
        return FAULTS + ((LOOKUP_MISSED,) if self.lookup_route else ())


TWILIO_ROUTE = "POST /2010-04-01/Accounts/{account_sid}/Messages.json"
OPT_IN = "Reply YES to get advocacy alerts"
ASKED_CODE = "We sent you a code"
TO_CODE = (("JOIN", OPT_IN), ("YES", ASKED_CODE))
TO_CALL = (*TO_CODE, ("{code}", "Which campaign"), ("1", "street address"),
           (ADDRESS, "A call will connect you"))
UPSTREAMS = {
    "twilio": Upstream("Twilio", "twilio", TWILIO_ROUTE, "texts", "text sent", (), "JOIN",
                       counts=OPT_IN),
    "telesign": Upstream("TeleSign Verify", "telesign", "POST /v1/verify/sms", "codes",
                         "code sent", TO_CODE[:1], "YES",
                         claims=((ASKED_CODE, "codes"),)),
    "whatcounts": Upstream("WhatCounts", "whatcounts",
                           "POST /rest/sms/addPhoneToSenderCode/{phone}/{sender_code}",
                           "subscriptions", "subscription made", TO_CODE, "{code}",
                           kind_500="server-error"),
    "p2a": Upstream("Phone2Action", "p2a", "POST /connections", "calls", "call started",
                    TO_CALL, "CALL", claims=(("Your phone will ring", "calls"),),
                    lookup_route="GET /connections", replay=True),
    "quorum": Upstream("Quorum", "quorum", "POST /sendsms/send_individual_sms/", "texts",
                       "text sent", (), "JOIN", counts=OPT_IN),
    "telesign-sms": Upstream("TeleSign Messaging", "telesign", "POST /v1/messaging", "texts",
                             "text sent", (), "JOIN", counts=OPT_IN),
    # WeVote makes, texts and checks its own code (`VERIFY_PROVIDER=wevote`); the route is
    # the save that texts it (a deviceIdGenerate and voterCreate go first, unbroken).
    "wevote": Upstream("WeVote", "wevote", "GET /voterSMSPhoneNumberSave/", "codes",
                       "code sent", TO_CODE[:1], "YES", claims=((ASKED_CODE, "codes"),),
                       replay=True),  # nothing can look a WeVote code up: replays refuse
}


@dataclass
class Tally:
    """One row's figures."""

    effects: int = 0
    once: int = 0
    twice: int = 0
    dead: int = 0
    unknown: int = 0
    problems: list[str] = field(default_factory=list)
    replays: Counter[str] = field(default_factory=Counter)  # what each replay said

    @property
    def ok(self) -> bool:
        return not self.problems and self.twice == 0

    def result(self, what: str) -> str:
        text_ = (f"effects {self.effects} ({what}): done once {self.once}, done twice "
                 f"{self.twice}, dead-lettered {self.dead}, unknown {self.unknown}")
        if self.replays:
            said = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.replays.items()))
            text_ += f"; replayed: {said}"
        return text_ + ("; " + "; ".join(self.problems[:3]) if self.problems else "")


def kinds(upstream: Upstream, fault: str, count: int) -> list[str]:
    """The sandbox failures of one row: one per phone, then the service works again."""
    if fault == FAULTS[0]:
        return [upstream.kind_500] * count
    if fault == FAULTS[1]:
        return ["429"] * count
    if fault == LOOKUP_MISSED:
        return ["lost"] * count
    return [("late", "timeout")[i % 2] for i in range(count)]


class Driver:
    """Texts the web process as Twilio does and reads what the sandboxes did."""

    def __init__(self, stack: Stack, session: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.session = session
        self.sandbox = f"http://127.0.0.1:{stack.ports.sandbox[0]}"
        self.posted = Posted()

    async def effects(self) -> dict[str, dict[str, list[str]]]:
        async with self.session.get(f"{self.sandbox}/_faults/effects") as resp:
            found: dict[str, dict[str, list[str]]] = await resp.json()
            return found

    async def fail(self, service: str, route: str, kinds: list[str]) -> None:
        order = {"service": service, "route": route, "kinds": kinds, "hang_seconds": HANG,
                 "retry_after": "1"}
        async with self.session.post(f"{self.sandbox}/_faults/fail", json=order) as resp:
            resp.raise_for_status()

    async def say(self, phone: str, body: str) -> int:
        """Post one text as the provider would, retrying a non-200 with the same MessageSid
        (the webhook dedupes it) a few times: a 503 under load is the provider's to retry,
        not a fault of the upstream this row breaks."""
        sid = f"SM{next(_say_sids):032d}"
        status = 0
        for attempt in range(WEBHOOK_TRIES):
            status = await text(self.session, self.stack.web_url, phone, body, self.posted,
                                sid=sid)
            if status == 200:
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        return status

    async def converse(self, phone: str, steps: Sequence[tuple[str, str]]) -> None:
        """Each step's text, then wait for the bot's answer holding its `expect`."""
        for body, expect in steps:
            found = await self.effects()
            before = len(found["texts"].get(phone, []))
            code = (found["codes"].get(phone) or [""])[-1]
            if await self.say(phone, body.replace("{code}", code)) != 200:
                raise RuntimeError(f"webhook refused {body!r} {WEBHOOK_TRIES} times")
            await self._answered(phone, before, expect)

    async def _answered(self, phone: str, before: int, expect: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            texts = (await self.effects())["texts"].get(phone, [])
            if any(expect in body for body in texts[before:]):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"no {expect!r} within {STEP_TIMEOUT:.0f} s (…{phone[-4:]})")


WEBHOOK_TRIES = 4
_say_sids = itertools.count(10**12)  # apart from `texts`' own sids


async def dead_letters(stack: Stack) -> list[DeadLetter]:
    client = aioredis.Redis.from_url(stack.redis_url, socket_timeout=10)
    try:
        return await DeadLetters(client, Keys()).list(limit=100_000)
    finally:
        await client.aclose()


def count(upstream: Upstream, phones: list[str], found: dict[str, dict[str, list[str]]],
          letters: list[DeadLetter], texts_before: dict[str, int]) -> Tally:
    """The row's figures and what is wrong, from what the sandboxes and Redis hold."""
    tally = Tally(effects=len(phones))
    dead = Counter(letter.effect.phone for letter in letters)
    unknown = Counter(letter.effect.phone for letter in letters if letter.unknown)
    for phone in phones:
        done = done_for(upstream, phone, found)
        tally.once += len(done) == 1
        tally.twice += len(done) > 1
        tally.dead += dead[phone] > 0
        tally.unknown += unknown[phone] > 0
        if not done and not dead[phone]:
            tally.problems.append(f"…{phone[-4:]}: not done and not dead-lettered")
        if done and dead[phone] > unknown[phone]:
            tally.problems.append(f"…{phone[-4:]}: done, yet dead-lettered as failed")
        said = found["texts"].get(phone, [])[texts_before.get(phone, 0):]
        for claim, needs in upstream.claims:
            if any(claim in body for body in said) and not found[needs].get(phone):
                tally.problems.append(f"…{phone[-4:]}: told {claim!r}, untrue")
    return tally


async def run_row(driver: Driver, upstream: Upstream, fault: str, phones: list[str]) -> Tally:
    """Drive `phones` to the effect's step, break the upstream, trigger, settle, count."""
    await asyncio.gather(*(driver.converse(p, upstream.steps) for p in phones))
    found = await driver.effects()
    texts_before = {p: len(found["texts"].get(p, [])) for p in phones}
    codes = {p: (found["codes"].get(p) or [""])[-1] for p in phones}
    await driver.fail(upstream.service, upstream.route, kinds(upstream, fault, len(phones)))
    if fault == LOOKUP_MISSED:  # an answer of no connection, not an error: no breaker count
        await driver.fail(upstream.service, upstream.lookup_route, ["empty"] * len(phones))
    answers = await asyncio.gather(*(driver.say(p, upstream.trigger.replace("{code}", codes[p]))
                                     for p in phones))
    refused = sum(1 for status in answers if status != 200)
    tally = await settle(driver, upstream, phones, texts_before)
    left = (await driver.effects())["faults_left"].get(upstream.service)
    if left:  # the fault must have been met, or the row proves nothing
        tally.problems.append(f"{len(left)} forced failure(s) never reached")
    if refused:
        tally.problems.append(f"{refused} trigger text(s) not answered 200")
    if upstream.replay:
        await replay_unknown(driver, upstream, phones, texts_before, tally)
    return tally


async def replay_unknown(driver: Driver, upstream: Upstream, phones: list[str],
                         texts_before: dict[str, int], tally: Tally) -> None:
    """`python -m bot dead replay ID` for every unknown dead letter of `phones`, then count
    again once nothing moves: no effect twice, "already" only for an effect that was done."""
    letters = [x for x in await dead_letters(driver.stack)
               if x.effect.phone in phones and x.unknown]
    done_before = {p: bool(done_for(upstream, p, await driver.effects())) for p in phones}
    for letter in letters:
        said = await dead_replay(driver.stack, letter.id)
        outcome = next((r.name.lower() for r in Replay if r.value == said), f"said {said!r}")
        tally.replays[outcome] += 1
        if said in (Replay.ALREADY_CALLED, Replay.ALREADY_SENT) and \
                not done_before[letter.effect.phone]:
            tally.problems.append(f"…{letter.effect.phone[-4:]}: replay says done, it is not")
        if outcome.startswith("said"):
            tally.problems.append(f"replay of {letter.id}: {said[:80]!r}")
    again = await settle(driver, upstream, phones, texts_before)
    if again.twice:
        tally.twice = again.twice
        tally.problems.append(f"{again.twice} effect(s) done twice after the replays")


def done_for(upstream: Upstream, phone: str, found: dict[str, dict[str, list[str]]]
                ) -> list[str]:
    """The effects of `upstream` done for `phone`."""
    return [x for x in found[upstream.effect].get(phone, [])
            if not upstream.counts or upstream.counts in x]


async def dead_replay(stack: Stack, letter_id: str) -> str:
    """Run the staff command in its own process against the stack; the line it printed."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "bot", "dead", "replay", letter_id, env=stack.env(),
        cwd=stack.workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), REPLAY_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return "no answer"
    lines = out.decode("utf-8", "replace").strip().splitlines()
    known = {r.value for r in Replay}
    return next((line for line in lines if line in known), lines[-1] if lines else "")


async def settle(driver: Driver, upstream: Upstream, phones: list[str],
                 texts_before: dict[str, int]) -> Tally:
    """Wait until every phone is done or dead-lettered and nothing moved for `QUIET` s."""
    deadline = time.monotonic() + ROW_TIMEOUT
    last: Any = None
    quiet_since = time.monotonic()
    while True:
        found = await driver.effects()
        letters = [x for x in await dead_letters(driver.stack) if x.effect.phone in phones]
        tally = count(upstream, phones, found, letters, texts_before)
        snapshot = (found, len(letters))
        if snapshot != last:
            last, quiet_since = snapshot, time.monotonic()
        accounted = not any("not done" in p for p in tally.problems)
        if (accounted and time.monotonic() - quiet_since >= QUIET) or \
                time.monotonic() > deadline:
            return tally
        await asyncio.sleep(0.25)


#: US area codes, one per row (every phone of the suite is new to the bot).
AREAS = (301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319)


def row_phones(area: int, count: int) -> list[str]:
    """`count` new phones of one area (never one ending in 0000: Quorum knows no such)."""
    return [f"+1{area:03d}{2_000_000 + n:07d}" for n in range(1, count + 1)]


async def run_matrix(stack: Stack, names: Sequence[str], per_row: int,
                     settings: dict[str, str]) -> list[tuple[str, str, bool]]:
    """Start the stack with the fault sandbox and `settings`; one row per upstream x fault:
    (fault, result, ok)."""
    stack.sandbox_module = "bot.faults.sandbox"
    stack.sandbox_args = ["--telesign-callback", f"{stack.web_url}/webhooks/telesign/status"]
    stack.settings = {**SETTINGS, **settings}
    stack.start_redis()
    stack.start_sandbox()
    stack.start_web()
    stack.start_worker().wait_line("worker started", timeout=60)
    rows: list[tuple[str, str, bool]] = []
    areas = iter(AREAS)  # a fresh stack: new phones only need to differ from each other
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        driver = Driver(stack, session)
        for name in names:
            upstream = UPSTREAMS[name]
            for fault in upstream.faults:
                label = f"{upstream.name}: {fault}"
                try:
                    tally = await run_row(driver, upstream, fault,
                                          row_phones(next(areas), per_row))
                except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                    rows.append((label, f"could not run: {exc}", False))
                    continue
                rows.append((label, tally.result(upstream.what), tally.ok))
    return rows
