"""Run-time bounds: a flow the check never saw still cannot loop or hammer an upstream.

The flows here are built straight from the schema models and compiled, bypassing the
check, as a broken deploy or a check bug would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import structlog.testing

from bot.clock import FrozenClock, SequentialIds
from bot.engine import Rules, step
from bot.flow import FlowSet
from bot.flow.schema import FlowSpec
from bot.models import ActionResult, Conversation, Inbound, RunAction, SendSms, Step
from bot.runtime import open_runtime
from bot.sandbox import SANDBOX, create_sandbox_app
from bot.sms import MemorySender
from bot.texts import default_text
from tests.apphelpers import with_sandbox
from tests.conftest import make_settings

PHONE = "+15555550100"
NOW = 1_764_000_000.0

#: The issue's incident: an action whose on_failure (and on_success) leads back to itself.
SELF_LOOP = FlowSpec.model_validate({
    "name": "loop", "keywords": ["LOOP"], "start": "again",
    "states": {"again": {"action": {"type": "whatcounts_subscribe"},
                         "on_success": "again", "on_failure": "again"}},
})

#: Every reply calls an action: legitimate steps, but too many for one hour.
CHATTY = FlowSpec.model_validate({
    "name": "chatty", "keywords": ["CHAT"], "start": "ask",
    "states": {
        "ask": {"say": "Say anything", "on": [{"when": "any", "goto": "act"}]},
        "act": {"action": {"type": "whatcounts_subscribe"}, "on_success": "ask",
                "on_failure": "ask"},
    },
})


class Phone:
    def __init__(self, spec: FlowSpec, rules: Rules) -> None:
        self.flows = FlowSet.from_specs([spec])
        self.rules = rules
        self.conv = Conversation(phone=PHONE)
        self.ids = SequentialIds()
        self.now = NOW
        self.n = 0

    def apply(self, event: object) -> Step:
        result = step(self.flows, self.conv, event, self.now, self.ids, self.rules)  # type: ignore[arg-type]
        self.conv = result.conversation
        return result

    def text(self, body: str) -> Step:
        self.n += 1
        return self.apply(Inbound(provider="t", message_id=f"m{self.n}", phone=PHONE,
                                  body=body, received_at=self.now))

    def fail_pending(self) -> Step:
        assert self.conv.pending
        return self.apply(ActionResult(effect_id=self.conv.pending, phone=PHONE,
                                       action="whatcounts_subscribe", ok=False,
                                       reason="rejected"))


def actions(result: Step) -> list[RunAction]:
    return [e for e in result.effects if isinstance(e, RunAction)]


def test_an_action_looping_on_itself_stops_after_the_step_bound() -> None:
    phone = Phone(SELF_LOOP, Rules(program="Acme", max_auto_steps=25))
    result = phone.text("LOOP")
    called = len(actions(result))
    while actions(result):
        result = phone.fail_pending()
        called += len(actions(result))
    assert called == 25
    assert result.note == "halted:auto_steps"
    assert [e.body for e in result.effects if isinstance(e, SendSms)] == [
        default_text("halted", "en").replace("{program}", "Acme")]
    assert (phone.conv.flow, phone.conv.state, phone.conv.pending) == (None, None, None)


def test_a_voter_text_starts_the_step_count_again() -> None:
    phone = Phone(CHATTY, Rules(max_auto_steps=3, max_actions_per_hour=1000))
    phone.text("CHAT")
    for _ in range(10):  # each text: ask -> act -> (result) ask = 2 automatic entries
        assert actions(phone.text("hi"))
        assert phone.fail_pending().note == "action"


def test_actions_per_hour_are_bounded_then_the_next_hour_is_free() -> None:
    phone = Phone(CHATTY, Rules(program="Acme", max_auto_steps=25, max_actions_per_hour=30))
    phone.text("CHAT")
    for _ in range(30):
        assert actions(phone.text("hi"))
        phone.fail_pending()
    halted = phone.text("hi")
    assert halted.note == "halted:actions_per_hour"
    assert actions(halted) == []
    assert "something went wrong" in halted.effects[-1].body  # type: ignore[union-attr]
    assert phone.conv.flow is None
    phone.now += 3600
    phone.text("CHAT")
    assert actions(phone.text("hi"))


async def test_through_the_worker_the_loop_ends_with_apology_metric_and_log(
        aiohttp_server: Any) -> None:
    """The whole stack: the worker calls the WhatCounts sandbox and feeds each answer back
    until the bound; the sandbox sees 25 calls, not thousands."""
    sandbox_app = create_sandbox_app()
    server = await aiohttp_server(sandbox_app)
    sender = MemorySender()
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    settings = with_sandbox(make_settings(
        flow_max_auto_steps=25, program_name="Acme", whatcounts_user="u",
        whatcounts_password="p", whatcounts_sender_code="12345"),
        str(server.make_url("")).rstrip("/"))
    async with open_runtime(settings, redis=redis, sender=sender, clock=FrozenClock(),
                            ids=SequentialIds()) as runtime:
        runtime.core.flows = FlowSet.from_specs([SELF_LOOP])  # as if the check missed it
        worker = runtime.new_worker()
        task = asyncio.create_task(worker.run())
        with structlog.testing.capture_logs() as logs:
            try:
                await runtime.core.apply(PHONE, Inbound(provider="t", message_id="m1",
                                                        phone=PHONE, body="LOOP",
                                                        received_at=NOW), dedup="m1")
                await runtime.settle(timeout=20)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        halted = runtime.metrics.halted.labels("auto_steps")._value.get()  # noqa: SLF001
        conv = (await runtime.store.load(PHONE, None)).conversation
    calls = [c for c in sandbox_app[SANDBOX].log if c.startswith("POST /whatcounts/")]
    assert len(calls) == 25
    assert sender.sent == [(PHONE, default_text("halted", "en").replace("{program}", "Acme"))]
    assert halted == 1
    assert conv.flow is None
    [line] = [e for e in logs if e["event"] == "conversation halted by a run-time bound"]
    assert (line["bound"], line["flow"], line["state"]) == ("auto_steps", "loop", "again")
