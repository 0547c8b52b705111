"""Actions run by the real worker: the worker alone retries a passing upstream failure
(bounded, honouring Retry-After), and only params that do not validate answer "invalid".

Each test drives the sandbox's fault switches and a one-state flow on a real runtime
(fakeredis, the real clients); the worker's pauses go to a recorder, not the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import fakeredis
import pytest
from pydantic import Field

from bot.actions import build_registry
from bot.actions.base import Action, ActionContext, ActionOutcome, ActionRetry
from bot.actions.lenient import LenientParams
from bot.clock import FrozenClock, SequentialIds
from bot.dead import DeadLetters
from bot.models import Inbound
from bot.retry import RetryPolicy
from bot.runtime import Runtime, open_runtime
from bot.sms import MemorySender, SendError
from bot.store import Keys
from bot.upstream.breaker import CircuitOpen
from bot.upstream.errors import (
    OutcomeUnknown,
    RecipientOptedOut,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.worker_effects import action_retryable, retryable
from tests.actions.conftest import NOW, PHONE, Env
from tests.upstream.conftest import HASTY_TIMEOUT

ROUTE = "POST /connections"
WHATCOUNTS_ROUTE = "POST /rest/sms/addPhoneToSenderCode/{phone}/{sender_code}"
FLOW = """
name: trial
keywords: [GO]
start: act
states:
  act:
    action: {{type: {action}, params: {params}}}
    on_success: done
    on_failure:
      - {{when: unavailable, goto: unavailable}}
      - {{when: invalid, goto: invalid}}
      - {{goto: other}}
  done: {{say: "Done {{call_with}}", end: true}}
  unavailable: {{say: "Unavailable", end: true}}
  invalid: {{say: "Invalid", end: true}}
  other: {{say: "Other", end: true}}
"""

PLAIN = FLOW.replace("Done {{call_with}}", "Done")  # for actions that save no call_with


@dataclass
class Pauses:
    """Stands in for `asyncio.sleep`: keeps each pause the worker asked for."""

    seconds: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.seconds.append(delay)


class BuggyParams(LenientParams):
    zip: str = Field(pattern=r"^9")  # only a ZIP starting with 9 fits


class Buggy(Action[BuggyParams]):
    """A test action with a bug: it raises ValueError once its params are bound."""

    name: ClassVar[str] = "buggy"
    Params = BuggyParams
    runs: ClassVar[list[str]] = []

    async def run(self, params: BuggyParams, ctx: ActionContext) -> ActionOutcome:
        self.runs.append(params.zip)
        return ActionOutcome(ok=True, data={"n": int("not a number")})


@dataclass
class World:
    runtime: Runtime
    sender: MemorySender
    pauses: Pauses

    async def text(self, body: str, sid: str) -> None:
        event = Inbound(provider="twilio", message_id=sid, phone=PHONE, body=body,
                        received_at=self.runtime.core.clock.now())
        await self.runtime.core.apply(PHONE, event, dedup=f"twilio:{sid}")

    async def work(self, tries: int) -> None:
        """Process every outbox entry, as one worker would, until the outbox is empty."""
        rt = self.runtime
        worker = rt.new_worker(retry=RetryPolicy(max_tries=tries, sleep=self.pauses),
                               consumer="w1")
        for _ in range(20):
            entries = [e for shard in rt.keys.all_shards()
                       for e in await rt.outbox.read(shard, "w1", count=10, block_ms=0)]
            if not entries:
                return
            for entry in entries:
                await worker.process(entry)
        raise AssertionError("the outbox did not empty")

    def texts(self) -> list[str]:
        return [body for _, body in self.sender.sent]


@asynccontextmanager
async def world(env: Env, tmp_path: Path, action: str, params: dict[str, str],
                *, now: float = NOW, extra: Action[Any] | None = None,
                template: str = FLOW) -> AsyncIterator[World]:
    flow = tmp_path / "trial.yaml"
    flow.write_text(template.format(action=action, params=params))
    settings = env.settings.model_copy(update={"flow_path": flow})
    registry = build_registry(settings)
    if extra is not None:
        registry.register(extra)
    sender = MemorySender()
    async with open_runtime(settings, redis=fakeredis.FakeAsyncRedis(), sender=sender,
                            clock=FrozenClock(now), ids=SequentialIds(), keys=Keys(shards=2),
                            registry=registry) as runtime:
        await runtime.outbox.ensure_groups()
        yield World(runtime, sender, Pauses())


@asynccontextmanager
async def call_world(env: Env, tmp_path: Path, *, now: float = NOW) -> AsyncIterator[World]:
    found = await env.run("p2a_legislators", campaign_id="1001", address="1 Main St 64108")
    env.sandbox.log.clear()
    params = {"campaign_id": "1001", "advocate_id": str(found.data["advocate_id"]),
              "choice": "1", "names": str(found.data["targets_names"])}
    async with world(env, tmp_path, "p2a_call", params, now=now) as w:
        yield w


async def test_503_twice_then_success_gives_exactly_one_call(env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        env.sandbox.p2a.fail_next[ROUTE] = [503, 503]
        await w.text("GO", "SM1")
        await w.work(tries=4)
        assert env.calls() == ["POST /p2a/connections"] * 3
        assert len({c["created_at"] for c in env.sandbox.p2a.connections.values()}) == 1
        assert len(env.sandbox.p2a.connections) == 3  # one call: a connection per target
        assert w.texts()[-1].startswith("Done Sen. Jordan Avery")
        assert len(w.pauses.seconds) == 2 and all(0 <= p <= 20 for p in w.pauses.seconds)
        assert await w.runtime.outbox.dead_letters() == []


async def test_p2a_down_for_good_fails_into_the_flow_without_a_call(env: Env,
                                                                   tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        env.sandbox.p2a.fail_next[ROUTE] = [503] * 5
        await w.text("GO", "SM1")
        await w.work(tries=3)
        assert env.calls() == ["POST /p2a/connections"] * 3  # bounded
        assert env.sandbox.p2a.connections == {}
        assert w.texts()[-1] == "Unavailable"
        [dead] = await w.runtime.outbox.dead_letters()
        assert "out of tries" in dead["reason"] and "UpstreamUnavailable" in dead["reason"]


async def test_an_open_breaker_fails_into_the_flow_at_once(env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        env.sandbox.p2a.fail_next[ROUTE] = [503] * 5
        await w.text("GO", "SM1")
        await w.work(tries=6)  # five 503s open P2A's breaker (default 5): the 6th is refused
        assert env.calls() == ["POST /p2a/connections"] * 5
        assert len(w.pauses.seconds) == 5  # one after each 503; none waits out the cool-down
        assert w.texts()[-1] == "Unavailable"
        env.sandbox.log.clear()
        await w.text("GO", "SM2")  # while open: no call, no retry, the flow hears at once
        await w.work(tries=6)
        assert env.calls() == [] and len(w.pauses.seconds) == 5
        assert w.texts()[-1] == "Unavailable"
        assert "circuit open" in (await w.runtime.outbox.dead_letters())[-1]["reason"]


def test_a_breaker_refusal_is_retried_for_texts_but_not_for_actions() -> None:
    refused = CircuitOpen("p2a", "circuit open", retry_after=12)
    assert retryable(refused) and not action_retryable(refused)
    assert action_retryable(UpstreamUnavailable("p2a", "HTTP 503"))


async def test_the_upstreams_retry_after_is_the_pause(env: Env, tmp_path: Path) -> None:
    async with call_world(env, tmp_path) as w:
        env.sandbox.p2a.fail_next[ROUTE] = [429]  # the P2A sandbox says Retry-After: 1
        await w.text("GO", "SM1")
        await w.work(tries=2)
        assert w.pauses.seconds == [1.0]
        assert w.texts()[-1].startswith("Done")


async def test_the_worker_passes_its_frozen_time_to_the_lookup(env: Env,
                                                               tmp_path: Path) -> None:
    async with call_world(env, tmp_path, now=NOW + 1000) as w:
        env.sandbox.p2a.fail_next[ROUTE] = [500, 500]  # unclear; P2A lists no call
        await w.text("GO", "SM1")
        await w.work(tries=3)
        lookups = [r.query["updated_at"] for r in env.sandbox.log.requests
                   if r.route == "GET /connections"]
        assert lookups == [str(int(NOW) + 700)]
        # an empty list is no proof: the worker never rings the voter again on its own
        assert env.calls().count("POST /p2a/connections") == 1 and w.pauses.seconds == []
        assert w.texts()[-1] == "Other"  # the flow's route for `unclear`
        # and staff see it: a dead letter marked unknown (replay refuses it unless --force)
        [letter] = await w.runtime.outbox.dead_letters()
        assert letter["effect"]["action"] == "p2a_call" and "outcome unknown" in letter["reason"]


async def test_a_bug_raising_valueerror_is_not_invalid_params(env: Env, tmp_path: Path) -> None:
    Buggy.runs.clear()
    async with world(env, tmp_path, "buggy", {"zip": "90210"}, extra=Buggy()) as w:
        await w.text("GO", "SM1")
        await w.work(tries=3)
        assert Buggy.runs == ["90210"]  # a bug is not retried
        assert w.texts()[-1] == "Unavailable"
        [dead] = await w.runtime.outbox.dead_letters()
        assert "permanent" in dead["reason"] and "ValueError" in dead["reason"]


async def test_params_that_do_not_validate_are_invalid(env: Env, tmp_path: Path) -> None:
    Buggy.runs.clear()
    async with world(env, tmp_path, "buggy", {"zip": "20001"}, extra=Buggy()) as w:
        await w.text("GO", "SM1")
        await w.work(tries=3)
        assert Buggy.runs == []  # never ran
        assert w.texts()[-1] == "Invalid"
        assert await w.runtime.outbox.dead_letters() == []


@pytest.mark.parametrize(("error", "again"), [
    (UpstreamUnavailable("p2a", "503"), True),
    (UpstreamRateLimited("p2a", "429", retry_after=1.0), True),
    (ActionRetry("no call started"), True),
    (SendError("provider down", retryable=True), True),
    (TimeoutError(), True),
    (SendError("bad number", retryable=False), False),
    (OutcomeUnknown("p2a", "timed out after sending"), False),
    (UpstreamRejected("p2a", "refused"), False),
    (RecipientOptedOut("twilio", "21610"), False),
    (ValueError("a bug"), False),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_the_one_retry_rule(error: BaseException, again: bool) -> None:
    assert retryable(error) is again


async def test_a_stop_sync_waits_out_an_open_breaker_instead_of_dead_lettering(
        env: Env, tmp_path: Path) -> None:
    """A STOP's consent sync is no flow's action: while P2A's breaker is open it waits the
    cool-down out (the breaker's Retry-After) and then reaches P2A and WhatCounts."""
    async with call_world(env, tmp_path) as w:
        rt = w.runtime
        clock = rt.core.clock
        assert isinstance(clock, FrozenClock)
        pauses: list[float] = []

        async def pause(seconds: float) -> None:  # the worker's pauses move the clock
            pauses.append(seconds)
            clock.advance(seconds)

        env.sandbox.p2a.fail_next["GET /advocates"] = [503] * 5  # opens the breaker (5)
        await w.text("STOP", "SM1")
        worker = rt.new_worker(retry=RetryPolicy(max_tries=8, sleep=pause), consumer="w1")
        for shard in rt.keys.all_shards():
            for entry in await rt.outbox.read(shard, "w1", count=10, block_ms=0):
                await worker.process(entry)
        assert await rt.outbox.dead_letters() == []
        assert max(pauses) >= 25  # the rest of the 30 s cool-down, not a burst of retries
        assert env.calls().count("GET /p2a/advocates") == 6  # five 503s, then the probe


async def test_a_give_up_after_a_write_that_timed_out_is_an_unknown_dead_letter(
        env: Env, tmp_path: Path) -> None:
    # WhatCounts' subscribe is safe to repeat, so its timeout is retried; but the try that
    # timed out took effect, and the next one failed: the give-up must not say "failed".
    env.configure(upstream_timeout=HASTY_TIMEOUT)
    env.sandbox.whatcounts.hang_seconds = 0.5
    async with world(env, tmp_path, "whatcounts_subscribe", {}, template=PLAIN) as w:
        env.sandbox.whatcounts.fail_next[WHATCOUNTS_ROUTE] = ["late", 503]
        await w.text("GO", "SM1")
        await w.work(tries=2)
        assert len(env.sandbox.whatcounts.subscriptions) == 1  # the late try took effect
        assert w.texts()[-1] == "Unavailable"
        [letter] = await DeadLetters(w.runtime.redis, w.runtime.keys).list()
        assert letter.unknown and "out of tries" in letter.reason


async def test_a_give_up_after_reads_that_timed_out_is_a_plain_dead_letter(
        env: Env, tmp_path: Path) -> None:
    env.configure(upstream_timeout=HASTY_TIMEOUT)
    env.sandbox.p2a.hang_seconds = 0.5
    async with world(env, tmp_path, "p2a_campaigns", {"page": "1"}, template=PLAIN) as w:
        env.sandbox.p2a.fail_next["GET /campaigns"] = ["timeout", "timeout"]
        await w.text("GO", "SM1")
        await w.work(tries=2)
        [letter] = await DeadLetters(w.runtime.redis, w.runtime.keys).list()
        assert not letter.unknown  # a read has no effect to be unsure of
