"""Phone parsing to E.164 and masking for logs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.phone import mask, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+12025550123", "+12025550123"),
        ("(202) 555-0123", "+12025550123"),
        ("202.555.0123", "+12025550123"),
        ("1 202 555 0123", "+12025550123"),
        ("+15555550100", "+15555550100"),  # fictional 555-01XX: accepted for trying flows
        ("+447911123456", "+447911123456"),
        ("+15555551234", None),  # area code 555 outside the fictional range
        ("12345", None),
        ("not a number", None),
        ("", None),
        ("+1" + "2" * 40, None),
    ],
    ids=repr,
)
def test_to_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw) == expected


def test_mask_keeps_country_code_and_last_four() -> None:
    assert mask("+15555550100") == "+1******0100"
    assert mask("+447911123456") == "+44******3456"
    assert mask("1234") == "****"


@given(st.from_regex(r"\+1[2-9]\d{2}[2-9]\d{6}", fullmatch=True))
def test_mask_never_shows_the_whole_number(number: str) -> None:
    masked = mask(number)
    assert masked != number
    assert masked.endswith(number[-4:])
    assert number[2:8] not in masked
