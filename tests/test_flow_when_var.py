"""`when: {var: NAME, equals|in|exists: ...}`: routing on what is stored, in `on:` lists and
after actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.actions import build_registry
from bot.clock import SequentialIds
from bot.engine import Rules, step
from bot.flow import FlowError, FlowSet, load_flow_set
from bot.flow.loader import check_flows
from bot.models import ActionResult, Conversation, Inbound, SendSms, Step
from tests.conftest import make_settings

PHONE = "+15555550100"

ACTIONS = build_registry(make_settings()).params_models()

FLOW = """\
name: route
languages: [en, es]
keywords: {en: [GO], es: [VAMOS]}
start: ask
states:
  ask:
    say: {en: "Pick A or B", es: "Elija A o B"}
    on:
      - when: {keyword: [A, B]}
        save: pick
        goto: subscribe
    timeout: {after: 60, goto: done}
  subscribe:
    action: {type: whatcounts_subscribe}
    on_success:
      - when: {var: pick, equals: a}
        goto: said_a
      - when: {var: whatcounts_already, equals: true}
        goto: known
      - goto: said_b
    on_failure: again
  again:
    say: {en: "Again?", es: "Otra vez?"}
    on:
      - when: {var: lang, equals: es}
        goto: spanish
      - when: {var: pick, in: [B, c]}
        goto: said_b
      - when: {var: pick, exists: false}
        goto: said_a
    timeout: {after: 60, goto: done}
  said_a:
    say: {en: "You said A", es: "Dijo A"}
    end: true
  said_b:
    say: {en: "You said B", es: "Dijo B"}
    end: true
  known:
    say: {en: "Known", es: "Conocido"}
    end: true
  spanish:
    say: {en: "-", es: "En espanol"}
    end: true
  done:
    end: true
"""


@pytest.fixture
def flows(tmp_path: Path) -> FlowSet:
    (tmp_path / "route.yaml").write_text(FLOW)
    return load_flow_set(tmp_path / "route.yaml", ACTIONS)


class Phone:
    def __init__(self, flows: FlowSet) -> None:
        self.flows, self.conv, self.ids, self.n = flows, Conversation(phone=PHONE), \
            SequentialIds(), 0

    def apply(self, event: object) -> Step:
        result = step(self.flows, self.conv, event, 0.0, self.ids, Rules())  # type: ignore[arg-type]
        self.conv = result.conversation
        return result

    def text(self, body: str) -> list[str]:
        self.n += 1
        return said(self.apply(Inbound(provider="t", message_id=f"m{self.n}", phone=PHONE,
                                       body=body, received_at=0.0)))

    def result(self, ok: bool, **data: object) -> list[str]:
        assert self.conv.pending
        return said(self.apply(ActionResult(effect_id=self.conv.pending, phone=PHONE,
                                            action="whatcounts_subscribe", ok=ok, data=data)))


def said(result: Step) -> list[str]:
    return [e.body for e in result.effects if isinstance(e, SendSms)]


@pytest.mark.parametrize(("pick", "data", "expected"), [
    ("A", {}, "You said A"),
    ("b", {"whatcounts_already": True}, "Known"),
    ("B", {"whatcounts_already": False}, "You said B"),
], ids=["equals-ignores-case", "equals-a-saved-result", "first-match-then-the-rest"])
def test_after_an_action_routes_go_by_what_is_stored(flows: FlowSet, pick: str,
                                                     data: dict[str, object],
                                                     expected: str) -> None:
    phone = Phone(flows)
    phone.text("GO")
    phone.text(pick)
    assert phone.result(True, **data) == [expected]


def test_in_an_on_list_routes_go_by_language_and_value(flows: FlowSet) -> None:
    english, spanish = Phone(flows), Phone(flows)
    english.text("GO")
    english.text("B")
    assert english.result(False) == ["Again?"]
    assert english.text("anything at all") == ["You said B"]
    spanish.text("VAMOS")
    spanish.text("A")
    spanish.result(False)
    assert spanish.text("lo que sea") == ["En espanol"]


def test_exists_false_matches_a_value_never_stored(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("GO")
    phone.text("A")
    phone.result(False)
    phone.conv.vars.pop("pick")
    assert phone.text("x") == ["You said A"]


def test_a_var_nobody_saves_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "route.yaml"
    path.write_text(FLOW.replace("{var: pick, equals: a}", "{var: pik, equals: a}"))
    [issue] = check_flows(path, ACTIONS).errors
    assert issue.line == 16
    assert "`when: {var: pik}` tests a value never saved before state 'subscribe'" in \
        issue.message
    assert "Did you mean 'pick'?" in issue.message


def test_a_var_test_needs_exactly_one_of_equals_in_exists(tmp_path: Path) -> None:
    path = tmp_path / "route.yaml"
    path.write_text(FLOW.replace("{var: pick, equals: a}", "{var: pick, equals: a, in: [b]}"))
    with pytest.raises(FlowError, match="exactly one of equals, in or exists"):
        load_flow_set(path, ACTIONS)
