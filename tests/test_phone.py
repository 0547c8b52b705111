"""Phone parsing to E.164 and masking for logs."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.phone import mask, mask_in_text, region_of, to_e164


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The To number +1 202-555-0100 is invalid", "The To number +1******0100 is invalid"),
        ("call (202) 555-0123", "call (******0123"),
        ("To +447911123456.", "To +44******3456."),
        ("local 555-0100", "local ***0100"),
        ("/2010-04-01/Accounts/AC1/Messages.json", "/2010-04-01/Accounts/AC1/Messages.json"),
        ("on 2024/03/01 at 10:00", "on 2024/03/01 at 10:00"),
        ("ZIP 64108, code 21211, HTTP 503", "ZIP 64108, code 21211, HTTP 503"),
    ],
)
def test_mask_in_text(text: str, expected: str) -> None:
    assert mask_in_text(text) == expected


@given(st.from_regex(r"\+1[2-9]\d{2}[2-9]\d{6}", fullmatch=True), st.sampled_from(
    ["{} is invalid", "To: {}.", "sent to {} (twice)"]))
def test_mask_in_text_never_shows_a_whole_number(number: str, template: str) -> None:
    masked = mask_in_text(template.format(number))
    assert number not in masked and number[2:8] not in masked
    assert number[-4:] in masked


@given(st.sampled_from(["+1", "+44", "+49", "+52", "+1242", "+1876", "+33", "+61"]),
       st.text(alphabet="0123456789", min_size=6, max_size=11))
def test_the_country_to_e164_keeps_is_the_parsers(prefix: str, digits: str) -> None:
    """`region_of` answers from what `to_e164` found on the way: the same as parsing anew,
    and `to_e164` accepts exactly what `is_valid_number` calls valid (and the fictional
    555-01XX numbers, counted as US)."""
    raw = prefix + digits
    e164 = to_e164(raw)
    if e164 is not None and re.fullmatch(r"\+1\d{3}55501\d{2}", e164):
        assert region_of(e164) == "US"
        return
    try:
        parsed = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        assert e164 is None
        return
    assert (e164 is not None) == phonenumbers.is_valid_number(parsed)
    if e164 is not None:
        assert region_of(e164) == phonenumbers.region_code_for_number(
            phonenumbers.parse(e164, None))


def _example_numbers() -> list[str]:
    """Every country's example numbers of every type (valid by construction), and each
    with one of three digits changed (often invalid): both sides of every country's
    patterns."""
    numbers: set[str] = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):  # every PhoneNumberType but UNKNOWN
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            numbers.add(e164)
            for at in (-1, -5, -7):  # a digit changed: often outside the patterns
                if -at < len(e164) - 1:
                    numbers.add(e164[:at] + str((int(e164[at]) + 3) % 10)
                                + e164[at:][1:])
    return sorted(numbers)


def test_validity_and_country_match_the_parser_for_every_countrys_examples() -> None:
    """`to_e164` finds a number's type once where `is_valid_number` does it twice (for a
    calling code several countries share); the answers must stay the parser's."""
    to_e164.cache_clear()
    numbers = _example_numbers()
    assert len(numbers) > 3000
    for raw in numbers:
        try:
            parsed = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:  # a changed digit of the calling code
            assert to_e164(raw) is None, raw
            continue
        valid = phonenumbers.is_valid_number(parsed) or bool(
            re.fullmatch(r"\+1\d{3}55501\d{2}", raw))
        assert (to_e164(raw) is not None) == valid, raw
        if valid:
            assert region_of(raw) == (phonenumbers.region_code_for_number(parsed)
                                      if not raw.startswith("+1555") else "US"), raw
