"""Each service's phone format comes from our E.164 number in one place."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.upstream.errors import UnsupportedPhone, UpstreamRejected
from bot.upstream.phone_formats import (
    e164,
    p2a_phone,
    quorum_phone,
    telesign_phone,
    wevote_phone,
    whatcounts_phone,
)
from bot.upstream.redact import mask_phone, redact_text


@pytest.mark.parametrize(
    ("fmt", "phone", "expected"),
    [
        pytest.param(e164, "+12025550100", "+12025550100", id="twilio-e164"),
        pytest.param(telesign_phone, "+12025550100", "12025550100", id="telesign-us"),
        pytest.param(telesign_phone, "+442071838750", "442071838750", id="telesign-uk"),
        pytest.param(p2a_phone, "+12025550100", "2025550100", id="p2a-10-digits"),
        pytest.param(whatcounts_phone, "+12025550100", "2025550100", id="whatcounts-us"),
        pytest.param(whatcounts_phone, "+442071838750", "442071838750", id="whatcounts-uk"),
        pytest.param(wevote_phone, "+18089358555", "+18089358555", id="wevote-e164"),
        pytest.param(quorum_phone, "+12025550100", "+12025550100", id="quorum-e164"),
    ],
)
def test_formats(fmt: object, phone: str, expected: str) -> None:
    assert callable(fmt)
    assert fmt(phone) == expected


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_a_nanp_number_comes_back_as_the_parser_formats_it(digits: str) -> None:
    """`e164` answers `+1` and ten digits without parsing: what parsing would give."""
    phone = "+1" + digits
    try:
        number = phonenumbers.parse(phone, None)
        fmt = phonenumbers.PhoneNumberFormat.E164
        parsed: str | None = (phonenumbers.format_number(number, fmt)
                              if phonenumbers.is_possible_number(number) else None)
    except phonenumbers.NumberParseException:
        parsed = None
    try:
        mine: str | None = e164(phone)
    except UnsupportedPhone:
        mine = None
    assert mine == parsed


def _by_parser(phone: str) -> str | None:
    """10 US digits as the parser finds them, None where it refuses the number."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    national = str(number.national_number)
    if (not phonenumbers.is_possible_number(number) or number.country_code != 1
            or len(national) != 10):
        return None
    return national


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_ten_us_digits_are_what_the_parser_finds(digits: str) -> None:
    """P2A's and WhatCounts' ten digits skip the parse for `+1` and ten digits: the same
    answer, and the same refusals, as parsing."""
    phone = "+1" + digits
    for fmt in (p2a_phone, whatcounts_phone):
        try:
            mine: str | None = fmt(phone)
        except UnsupportedPhone:
            mine = None
        assert mine == _by_parser(phone), fmt


def test_p2a_refuses_non_us_numbers_as_a_permanent_error() -> None:
    with pytest.raises(UnsupportedPhone) as info:
        p2a_phone("+442071838750")
    assert isinstance(info.value, UpstreamRejected)
    assert info.value.service == "p2a"


@pytest.mark.parametrize("bad", ["2025550100", "not a phone", "+1"])
def test_non_e164_input_is_refused(bad: str) -> None:
    with pytest.raises(UnsupportedPhone):
        telesign_phone(bad)


def test_mask_keeps_country_code_and_last_four() -> None:
    assert mask_phone("+12025550100") == "+1******0100"


def test_redact_text_masks_phone_runs_and_cuts() -> None:
    text = redact_text("The 'To' number +1 202-555-0100 is invalid (code 21211)")
    assert "202" not in text
    assert text.endswith("0100 is invalid (code 21211)")
    assert len(redact_text("x" * 500)) == 200
