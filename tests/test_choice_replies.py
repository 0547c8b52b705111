"""`when: choice` forgives what people type at a numbered menu: digits, number words in
English and Spanish, filler, and the name (or a unique part of the name) of an item."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import SequentialIds
from bot.engine import Rules, step
from bot.flow import load_flow_set
from bot.flow.predicates import match_menu_item, match_no, match_number, match_yes
from bot.models import Conversation, Inbound, SendSms

MENU = {"campaigns_menu": "1) Clean Water Now\n2) Fund DC Libraries\n3) Clean Air Act",
        "name": "Ana"}


@pytest.mark.parametrize(("reply", "number"), [
    ("2", "2"), ("#2", "2"), (" 2. ", "2"), ("2)", "2"), ("two", "2"), ("Two!", "2"),
    ("dos", "2"), ("the second one", "2"), ("number 2", "2"), ("option three please", "3"),
    ("el uno", "1"), ("primero", "1"), ("one", "1"), ("10th", "10"),
])
def test_a_number_as_people_type_it(reply: str, number: str) -> None:
    assert match_number(reply) == number


@pytest.mark.parametrize("reply", ["", "no", "two or three", "2 people", "123 Main St",
                                   "20001", "stop", "yes"])
def test_not_a_number(reply: str) -> None:
    assert match_number(reply) is None


@pytest.mark.parametrize(("reply", "number"), [
    ("Clean Water Now", "1"), ("clean water", "1"), ("fund dc libraries!", "2"),
    ("libraries", "2"), ("DC", None), ("air", "3"), ("Fund DC", "2"),
])
def test_an_item_named_by_its_words(reply: str, number: str | None) -> None:
    assert match_menu_item(reply, MENU) == number


@pytest.mark.parametrize("reply", ["clean", "water now please", "something else", "Ana",
                                   "no"])
def test_an_unclear_or_unknown_name_is_not_a_choice(reply: str) -> None:
    """"clean" fits two items, "Ana" is a stored value but no menu line, "no" is too short."""
    assert match_menu_item(reply, MENU) is None


SHIFTS = """name: shifts
keywords: [SHIFT]
start: pick
states:
  pick:
    say: "Which shift?\\n1) Saturday morning\\n2) Saturday afternoon\\n3) Sunday morning"
    on:
      - {when: choice, save: shift, goto: done}
    timeout: {after: 86400, goto: done}
  done:
    say: "Shift {shift}."
    end: true
"""


@pytest.mark.parametrize(("reply", "said"), [
    ("sunday", "Shift 3."), ("Saturday afternoon!", "Shift 2."), ("two", "Shift 2."),
])
def test_a_menu_written_in_the_flow_is_answered_by_name(
        tmp_path: Path, reply: str, said: str) -> None:
    (tmp_path / "shifts.yaml").write_text(SHIFTS)
    flows = load_flow_set(tmp_path, {})
    conv = Conversation(phone="+15555550100")
    ids = SequentialIds()
    for n, body in enumerate(["SHIFT", reply]):
        event = Inbound(provider="t", message_id=f"m{n}", phone=conv.phone, body=body,
                        received_at=0.0)
        result = step(flows, conv, event, 0.0, ids, Rules(program="Acme"))
        conv = result.conversation
    assert [e.body for e in result.effects if isinstance(e, SendSms)] == [said]


def test_saturday_alone_fits_two_shifts_and_is_not_a_choice(tmp_path: Path) -> None:
    (tmp_path / "shifts.yaml").write_text(SHIFTS)
    flows = load_flow_set(tmp_path, {})
    conv = Conversation(phone="+15555550100")
    ids = SequentialIds()
    for n, body in enumerate(["SHIFT", "saturday"]):
        event = Inbound(provider="t", message_id=f"m{n}", phone=conv.phone, body=body,
                        received_at=0.0)
        result = step(flows, conv, event, 0.0, ids, Rules(program="Acme"))
        conv = result.conversation
    assert conv.state == "pick"


@pytest.mark.parametrize(("reply", "kind"), [
    ("yes", "yes"), ("Yes please", "yes"), ("sí claro", "yes"), ("Si!", "yes"),
    ("ok sure", "yes"), ("yeah ok", "yes"), ("claro que si", "yes"),
    ("yes but no", None), ("si no", None), ("ok not now", None), ("yesterday", None),
    ("no", "no"), ("no thanks", "no"), ("No gracias", "no"), ("nope, not now", "no"),
    ("not now", "no"), ("nothing", None),
    # held or doubled letters, and the short forms people text
    ("yess", "yes"), ("YESSS!", "yes"), ("siii", "yes"), ("okk", "yes"), ("k", "yes"),
    ("yup", "yes"), ("yea", "yes"), ("nooo", "no"), ("noo thanks", "no"),
    ("yessir", None), ("keep", None), ("noon", None), ("book", None),
])
def test_yes_and_no_as_people_type_them(reply: str, kind: str | None) -> None:
    said = "yes" if match_yes(reply) else "no" if match_no(reply) else None
    assert said == kind
