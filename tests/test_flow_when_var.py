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
from bot.models import ActionResult, Conversation, Inbound, RunAction, SendSms, Step
from tests.conftest import make_settings

PHONE = "+15555550100"
NOW = 1_764_000_000.0

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


def test_built_in_placeholders_are_filled_in_action_params_too(tmp_path: Path) -> None:
    """The check accepts `{program}` in a param (flows/README.md: "always there"), so the
    action must get the program's name, not an empty string."""
    (tmp_path / "crm.yaml").write_text(CRM_FLOW)
    flows = load_flow_set(tmp_path, build_registry(make_settings()).params_models())
    conv = Conversation(phone=PHONE)
    event = Inbound(provider="t", message_id="m1", phone=PHONE, body="CRM", received_at=NOW)
    rules = Rules(program="Acme Votes", help_contact="help@acme.org")
    result = step(flows, conv, event, NOW, SequentialIds(), rules)
    [call] = [e for e in result.effects if isinstance(e, RunAction)]
    assert call.params == {"to": "crm", "source": "Acme Votes", "help": "help@acme.org",
                           "again": "CRM"}


CRM_FLOW = """\
name: crm
keywords: [CRM]
start: post
states:
  post:
    action:
      type: webhook
      params: {to: crm, source: "{program}", help: "{help_contact}", again: "{join_en}"}
    on_success: done
    on_failure: done
  done:
    end: true
"""


ZIP_FLOW = """\
name: zips
keywords: [ZIP]
start: ask
states:
  ask:
    say: "Your ZIP?"
    on:
      - when: zip
        save: zip5
        goto: route
    timeout: {after: 60, goto: done}
  route:
    say: "Checking"
    on:
      - when: {var: zip5, in: [02134, 02135]}
        goto: boston
      - when: any
        goto: done
    timeout: {after: 60, goto: done}
  boston:
    say: "Boston!"
    end: true
  done:
    end: true
"""


def test_a_zip_with_a_leading_zero_is_the_zip_staff_wrote(tmp_path: Path) -> None:
    """YAML 1.1 reads 02134 as the octal number 1116: the route would never match."""
    (tmp_path / "zips.yaml").write_text(ZIP_FLOW)
    flows = load_flow_set(tmp_path, ACTIONS)
    [test] = [t.when for t in flows.flows["zips"].spec.states["route"].on[:1]]
    assert getattr(test, "in_", None) == ["02134", "02135"]
    conv = Conversation(phone=PHONE)
    for n, body in enumerate(["ZIP", "02134", "ok"]):
        event = Inbound(provider="t", message_id=f"m{n}", phone=PHONE, body=body,
                        received_at=NOW)
        result = step(flows, conv, event, NOW, SequentialIds(), Rules())
        conv = result.conversation
    assert [e.body for e in result.effects if isinstance(e, SendSms)] == ["Boston!"]


def test_a_time_written_with_a_colon_is_not_silently_seconds(tmp_path: Path) -> None:
    """YAML 1.1 reads `after: 1:30` as 90 (seconds, base 60); here it is refused."""
    (tmp_path / "zips.yaml").write_text(ZIP_FLOW.replace("after: 60, goto: done}\n  route",
                                                         "after: 1:30, goto: done}\n  route"))
    [issue] = check_flows(tmp_path, ACTIONS).errors
    assert (issue.line, issue.message) == (
        11, "states.ask.timeout.after: a whole number is needed here, found '1:30'")
