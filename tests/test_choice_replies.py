"""`when: choice` forgives what people type at a numbered menu: digits, number words in
English and Spanish, filler, and the name (or a unique part of the name) of an item."""

from __future__ import annotations

import pytest

from bot.flow.predicates import match_menu_item, match_number

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
