"""The route table a step fires on (`CompiledFlow.fire`) does what the `transitions`
machine it mirrors does (`fire_machine`): the same transitions in the same order for every
state and trigger of the shipped and test flows, and the same recorded turn for sample
replies, action results, timeouts and automatic moves from every state."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import SequentialIds
from bot.engine import Rules
from bot.engine_turn import Turn
from bot.flow import CompiledFlow, FlowSet, load_flow_set
from bot.flow.turn import ADVANCE, EXPIRE, FAIL, GIVE_UP, REPLY, SUCCEED
from bot.models import Conversation, Inbound
from bot.runtime import load_flows
from tests.conftest import make_settings

NOW = 1_764_000_000.0
PHONE = "+12025550123"
REPLIES = ["YES", "y", "no", "NO thanks", "1", "2", "3", "#2", "two", "20500", "90210-1234",
           "123456", "call", "CALL", "again", "done", "clean water", "maybe later", "",
           "Jane Doe", "jane@example.org", "STOP", "si", "ayuda"]
REASONS = [None, "not_found", "invalid", "busy", "timeout", "closed", "no_match", "error"]
TRIGGERS = (REPLY, SUCCEED, FAIL, EXPIRE, ADVANCE, GIVE_UP)


def all_flows() -> Iterator[tuple[str, CompiledFlow]]:
    shipped = load_flows(make_settings())
    tests = load_flow_set(Path(__file__).parent / "flows",
                          {"lookup": None, "consent_sync": None})
    for flows in (shipped, tests):
        assert isinstance(flows, FlowSet)
        yield from flows.flows.items()


FLOWS = list(all_flows())


@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=[n for n, _ in FLOWS])
def test_the_table_holds_the_machines_transitions_in_order(name: str,
                                                          flow: CompiledFlow) -> None:
    machine_routes = {(state, trigger): [t.dest for t in transitions]
                      for trigger, event in flow.machine.events.items()
                      for state, transitions in event.transitions.items() if transitions}
    table = {key: [r.dest for r in routes] for key, routes in flow.routes.items()}
    assert table == machine_routes
    assert set(flow.enters) == set(flow.spec.states)


def _turn(flow: CompiledFlow, state: str, text: str, reason: str | None,
          stored: dict[str, Any]) -> Turn:
    conv = Conversation(phone=PHONE, flow=flow.name, state=state, vars=dict(stored),
                        lang=flow.spec.languages[0], token=3)
    event = Inbound(provider="twilio", message_id="SM1", phone=PHONE, body=text,
                    received_at=NOW)
    turn = Turn(conv, flow, NOW, SequentialIds(), Rules(), text_in=text, event=event)
    turn.reason = reason
    return turn


def _record(turn: Turn) -> dict[str, Any]:
    return {"step": dataclasses.asdict(turn.finish("x")), "matched": turn.matched,
            "halted": turn.halted}


@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=[n for n, _ in FLOWS])
def test_firing_the_table_records_what_the_machine_records(name: str,
                                                           flow: CompiledFlow) -> None:
    fired = 0
    for state in flow.spec.states:
        for stored in ({}, {"campaign_id": "1001", "zip": "20500"}):
            for trigger in TRIGGERS:
                texts = REPLIES if trigger == REPLY else [""]
                reasons = REASONS if trigger in (SUCCEED, FAIL) else [None]
                for text in texts:
                    for reason in reasons:
                        table = _turn(flow, state, text, reason, stored)
                        machine = _turn(flow, state, text, reason, stored)
                        flow.fire(table, trigger)
                        flow.fire_machine(machine, trigger)
                        assert _record(table) == _record(machine), (state, trigger, text)
                        fired += bool(table.entered)
    assert fired > 0  # some of them moved
