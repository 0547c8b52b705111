"""The pure engine: keywords, replies, re-prompts, actions, timers and compliance."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import SequentialIds
from bot.engine import Rules, step
from bot.flow import FlowSet, load_flow_set
from bot.models import (
    ActionResult,
    CarrierOptOut,
    Conversation,
    Inbound,
    RunAction,
    SendSms,
    SetTimer,
    Step,
    TimerFired,
)

PHONE = "+15555550100"
NOW = 1_764_000_000.0


@pytest.fixture(scope="module")
def flows() -> FlowSet:
    return load_flow_set(Path(__file__).parent / "flows", {"lookup": None, "consent_sync": None})


class Phone:
    """Drives one conversation through `step`, keeping what came out."""

    def __init__(self, flows: FlowSet, rules: Rules | None = None) -> None:
        self.flows = flows
        self.rules = rules or Rules(program="Acme")
        self.conv = Conversation(phone=PHONE)
        self.ids = SequentialIds()
        self.n = 0
        self.last: Step | None = None

    def text(self, body: str) -> Step:
        self.n += 1
        event = Inbound(provider="t", message_id=f"m{self.n}", phone=PHONE, body=body,
                        received_at=NOW)
        return self._apply(event)

    def _apply(self, event: object) -> Step:
        result = step(self.flows, self.conv, event, NOW, self.ids, self.rules)  # type: ignore[arg-type]
        self.conv = result.conversation
        self.last = result
        return result

    def result(self, ok: bool, reason: str | None = None, **data: object) -> Step:
        assert self.conv.pending
        return self._apply(ActionResult(effect_id=self.conv.pending, phone=PHONE,
                                        action="lookup", ok=ok, reason=reason, data=data))

    def texts(self, result: Step | None = None) -> list[str]:
        return [e.body for e in (result or self.last).effects if isinstance(e, SendSms)]  # type: ignore[union-attr]


def test_unknown_text_from_new_phone_gets_the_idle_hint(flows: FlowSet) -> None:
    phone = Phone(flows)
    assert phone.texts(phone.text("hello")) == [  # the default flow's keywords, both languages
        "Acme: Text DEMO to get started (DEMOSTRAR en espanol). Reply HELP for help, STOP to "
        "cancel."]
    assert phone.conv.flow is None


def test_keyword_starts_flow_case_and_punctuation_ignored(flows: FlowSet) -> None:
    phone = Phone(flows)
    result = phone.text("  demo! ")
    assert phone.conv.flow == "demo" and phone.conv.state == "ask_zip"
    assert phone.texts(result) == ["Your ZIP?"]
    timers = [e for e in result.effects if isinstance(e, SetTimer)]
    assert timers[0].due == NOW + 600 and timers[0].token == phone.conv.token


def test_spanish_keyword_picks_spanish(flows: FlowSet) -> None:
    phone = Phone(flows)
    assert phone.texts(phone.text("demostrar")) == ["Su codigo postal?"]
    assert phone.conv.lang == "es"


def test_reply_saved_and_action_requested_with_filled_params(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    result = phone.text("my zip is 20001-1234")
    actions = [e for e in result.effects if isinstance(e, RunAction)]
    assert [(a.action, a.params) for a in actions] == [("lookup", {"zip": "20001"})]
    assert phone.conv.pending == actions[0].id
    assert phone.conv.state == "lookup"


def test_action_success_data_feeds_the_next_message(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    phone.text("20001")
    assert phone.texts(phone.result(True, count=2)) == [
        "Found 2 for 20001. Reply 1 or 2, or MENU."]
    result = phone.text("#2")
    assert phone.texts(result) == ["You picked two.", "Bye!"]
    assert phone.conv.flow is None and phone.conv.vars == {"picked": "two"}  # forget: count, zip


def test_action_failure_routes_by_reason(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    phone.text("20001")
    assert phone.texts(phone.result(False, reason="not_found")) == ["Your ZIP?"]
    phone.text("20002")
    assert phone.texts(phone.result(False, reason="unavailable")) == ["Sorry, try later."]


def test_stale_action_result_is_ignored(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    phone.text("20001")
    stale = ActionResult(effect_id="old", phone=PHONE, action="lookup", ok=True)
    result = step(flows, phone.conv, stale, NOW, phone.ids, phone.rules)
    assert result.note == "stale" and result.effects == []


def test_text_while_action_runs_gets_a_holding_answer(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    phone.text("20001")
    assert phone.texts(phone.text("hello?")) == ["One moment please, we are working on it."]
    assert phone.conv.state == "lookup"


def test_unexpected_reply_reprompts_with_what_is_expected_then_gives_up(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    assert phone.texts(phone.text("dunno")) == [
        "Sorry, I did not understand. Reply with your 5-digit ZIP code.", "Your ZIP?"]
    assert phone.conv.attempts == 1
    assert phone.texts(phone.text("still dunno")) == ["Bye!"]
    assert phone.conv.flow is None


def test_timer_fires_only_while_still_in_that_state(flows: FlowSet) -> None:
    phone = Phone(flows)
    start = phone.text("DEMO")
    timer = next(e for e in start.effects if isinstance(e, SetTimer))
    fired = TimerFired(timer_id=timer.id, phone=PHONE, name=timer.name, token=timer.token)
    live = step(flows, phone.conv, fired, NOW, phone.ids, phone.rules)
    assert [e.body for e in live.effects if isinstance(e, SendSms)] == ["Timed out."]
    phone.text("20001")  # moved on: the old timer is stale now
    stale = step(flows, phone.conv, fired, NOW, phone.ids, phone.rules)
    assert stale.note == "stale" and stale.effects == []


def test_help_answers_without_moving(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    before = (phone.conv.state, phone.conv.token, phone.conv.attempts)
    texts = phone.texts(phone.text("help"))
    assert len(texts) == 1 and "Acme" in texts[0] and "STOP" in texts[0]
    assert (phone.conv.state, phone.conv.token, phone.conv.attempts) == before


def test_stop_from_anywhere_confirms_once_then_silence(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    result = phone.text("Stop.")
    sends = [e for e in result.effects if isinstance(e, SendSms)]
    assert len(sends) == 1 and sends[0].stop_confirmation
    assert [e.params for e in result.effects if isinstance(e, RunAction)] == [
        {"opted_in": False}]
    assert [(c.keyword, c.text, c.message_id, c.opted_out) for c in result.consent] == [
        ("STOP", "Stop.", "m2", True)]
    assert phone.conv.opted_out and phone.conv.flow is None
    for body in ("DEMO", "20001", "stop", "why?"):  # DEMO opens with no opt-in question
        assert phone.text(body).effects == [], body
        assert phone.last is not None and phone.last.note == "ignored"
    [help_answer] = phone.text("help").effects  # HELP is always answered, once
    assert isinstance(help_answer, SendSms) and help_answer.asked_while_out


def test_yes_reopts_in_only_when_opted_out(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("JOIN")
    assert phone.text("yes").note == "reply"  # an ordinary answer to the opt-in question
    phone.text("stop")
    result = phone.text("YES")
    assert not phone.conv.opted_out
    assert "subscribed again" in phone.texts(result)[0]
    assert [c.opted_out for c in result.consent] == [False]


def test_start_after_stop_opts_in(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("stop")
    phone.text("UNSTOP")
    assert not phone.conv.opted_out


def test_provider_handles_keywords_means_no_confirmation_of_ours(flows: FlowSet) -> None:
    phone = Phone(flows, Rules(provider_handles_keywords=True))
    phone.text("DEMO")
    result = phone.text("STOP")
    assert phone.texts(result) == [] and phone.conv.opted_out
    assert result.consent and any(isinstance(e, RunAction) for e in result.effects)
    assert phone.texts(phone.text("START")) == [] and not phone.conv.opted_out
    assert phone.texts(phone.text("HELP")) == []


def test_carrier_optout_opts_out_without_confirmation(flows: FlowSet) -> None:
    phone = Phone(flows)
    phone.text("DEMO")
    result = step(flows, phone.conv, CarrierOptOut(phone=PHONE, message_id="SMx",
                                                   provider="twilio"), NOW, phone.ids,
                  phone.rules)
    assert result.conversation.opted_out
    assert not [e for e in result.effects if isinstance(e, SendSms)]


def test_join_optin_records_consent(flows: FlowSet) -> None:
    phone = Phone(flows)
    first = phone.texts(phone.text("JOIN"))[0]
    for needed in ("Acme", "Msg frequency varies", "Msg & data rates may apply", "HELP", "STOP"):
        assert needed in first
    result = phone.text("Yes")
    assert [c.keyword for c in result.consent] == ["OPT-IN:join"]
    assert phone.conv.flow is None
