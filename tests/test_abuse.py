"""Abuse and cost in the engine: phones outside SMS_COUNTRIES get one short answer and
never a flow (so never a code); a phone texting faster than a person is answered only a
few times a minute, its texts still recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import SequentialIds
from bot.engine import Rules, step
from bot.flow import FlowSet, load_flow_set
from bot.models import Conversation, Inbound, RunAction, SendSms, Step
from bot.phone import region_of

NOW = 1_764_000_000.0
GERMAN = "+4915112345678"
US = "+15555550100"


@pytest.fixture(scope="module")
def flows() -> FlowSet:
    return load_flow_set(Path(__file__).parent / "flows", {"lookup": None, "consent_sync": None})


class Phone:
    def __init__(self, flows: FlowSet, phone: str, rules: Rules | None = None) -> None:
        self.flows, self.rules = flows, rules or Rules(program="Acme")
        self.conv = Conversation(phone=phone)
        self.ids = SequentialIds()
        self.n = 0

    def text(self, body: str, at: float = NOW) -> Step:
        self.n += 1
        event = Inbound(provider="t", message_id=f"m{self.n}", phone=self.conv.phone,
                        body=body, received_at=at)
        result = step(self.flows, self.conv, event, at, self.ids, self.rules)
        self.conv = result.conversation
        return result


def _texts(result: Step) -> list[str]:
    return [e.body for e in result.effects if isinstance(e, SendSms)]


@pytest.mark.parametrize(("phone", "region"), [
    ("+15555550100", "US"), ("+12025550123", "US"), ("+16042345678", "CA"),
    (GERMAN, "DE"), ("+442071234567", "GB"),
])
def test_region_of(phone: str, region: str) -> None:
    assert region_of(phone) == region


def test_a_text_from_elsewhere_gets_one_short_answer_and_no_flow(flows: FlowSet) -> None:
    phone = Phone(flows, GERMAN)
    first = phone.text("JOIN")
    [answer] = _texts(first)
    assert "only for phones in US" in answer and len(answer) <= 160
    assert not any(isinstance(e, RunAction) for e in first.effects)
    for body in ("JOIN", "YES", "HELP", "123456", "START"):
        later = phone.text(body)
        assert later.effects == [] and later.note == "ignored"
    assert phone.conv.flow is None and phone.conv.texts_in == 6


def test_a_stop_from_elsewhere_is_recorded_without_a_second_answer(flows: FlowSet) -> None:
    phone = Phone(flows, GERMAN)
    phone.text("JOIN")
    stopped = phone.text("STOP")
    assert phone.conv.opted_out and stopped.consent and _texts(stopped) == []


def test_sms_countries_lets_other_countries_in(flows: FlowSet) -> None:
    phone = Phone(flows, GERMAN, Rules(program="Acme", countries=frozenset({"US", "DE"})))
    assert phone.text("JOIN").note == "start"


def test_a_phone_texting_faster_than_a_person_is_answered_a_few_times(
        flows: FlowSet) -> None:
    phone = Phone(flows, US)
    answered = [bool(_texts(phone.text("HELP", NOW + i * 0.5))) for i in range(60)]
    assert all(answered[:30])  # a person's pace: every text answered
    assert sum(answered[30:]) == 3  # past 30 a minute: three answers, the rest recorded
    assert phone.conv.texts_in == 60 and phone.conv.flooding
    # The next minute, still flooding: again only three answers.
    next_minute = [bool(_texts(phone.text("HELP", NOW + 61 + i))) for i in range(40)]
    assert sum(next_minute) == 3
    # A whole minute at a person's pace (still capped while it lasts) ends the flood.
    calm = [bool(_texts(phone.text("HELP", NOW + 200 + i * 10))) for i in range(6)]
    assert sum(calm) == 3
    assert _texts(phone.text("HELP", NOW + 300)) and not phone.conv.flooding
