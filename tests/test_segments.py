"""Segment counting: GSM-7 vs UCS-2 and multipart boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.segments import GSM7_BASIC, count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("[" * 81, "GSM-7", 162, 2),
        ("it\u2019s", "UCS-2", 4, 1),
        ("x" * 70 + "\u201c", "UCS-2", 71, 2),
        ("\U0001f600" * 35, "UCS-2", 70, 1),
        ("\U0001f600" * 36, "UCS-2", 72, 2),
    ],
    ids=lambda v: str(v)[:12],
)
def test_count(text: str, encoding: str, units: int, count: int) -> None:
    result = count_segments(text)
    assert (result.encoding, result.units, result.count) == (encoding, units, count)


def test_names_the_characters_that_force_ucs2() -> None:
    assert count_segments("Don\u2019t forget \U0001f5f3").ucs2_chars == "\u2019\U0001f5f3"


@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=1000))
def test_plain_gsm_text_fits_its_segments(text: str) -> None:
    result = count_segments(text)
    assert result.encoding == "GSM-7"
    capacity = 160 if result.count == 1 else 153 * result.count
    assert len(text) <= capacity
