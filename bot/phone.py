"""Phone numbers: parse anything a provider sends into E.164, and mask numbers for logs.

`mask` and `mask_in_text` are the project's one masking rule: the log processor and the
upstream clients' error texts both use them.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

#: NANP numbers `+1 NPA 555-01XX` are reserved for fictional use (docs, tests, `bot chat`);
#: phonenumbers calls them invalid, we accept them so staff can try a flow without a real phone.
_FICTIONAL = re.compile(r"^\+1\d{3}55501\d{2}$")
_NANP_E164 = re.compile(r"\+1[2-9]\d{9}")
_E164_SHAPE = re.compile(r"^\+[1-9]\d{7,14}$")
#: A phone-like run in free text: digits with the separators people and providers write.
_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\-\s().]{5,}\d")
#: ...unless it is a calendar date, such as Twilio's API version `2010-04-01` in a path.
_DATE = re.compile(r"\d{4}([-/.])\d{2}\1\d{2}")
#: Fewer digits than this is not a phone number (a status code, a count, a ZIP).
MIN_PHONE_DIGITS = 7


@lru_cache(maxsize=65536)
def to_e164(raw: str, region: str = "US") -> str | None:
    """Normalise `raw` to E.164 (`+15555550100`), or None when it is not a valid number.

    Cached: a provider sends the same few thousand numbers over and over, and parsing is
    the most expensive pure step on the inbound path. The number's country, found on the
    way, is kept for `region_of` (the engine asks it next, for every text).
    """
    text = raw.strip()
    if not text or len(text) > 32:
        return None
    if is_nanp_e164(text):
        # What providers send for US/Canada numbers: the parser would find exactly this
        # (country code 1, no national prefix to strip), at ten times the cost.
        parsed = phonenumbers.PhoneNumber(country_code=1, national_number=int(text[2:]))
    else:
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if _FICTIONAL.match(e164):
        return e164
    country = _valid_country(parsed)
    if country is None:
        return None
    if len(_COUNTRY_SEEN) >= _COUNTRY_SEEN_MAX:
        _COUNTRY_SEEN.clear()
    _COUNTRY_SEEN[e164] = country
    return e164


def _valid_country(parsed: phonenumbers.PhoneNumber) -> str | None:
    """The number's country when `is_valid_number` holds, else None.

    `is_valid_number` is `region_code_for_number` then `is_valid_number_for_region`. For a
    calling code shared by several countries (+1, +7, +44...) the first already matches
    the number against each country's patterns in turn, and the second matched it again
    against the one found: here the first match that holds is the answer (for a country
    found by its leading digits, as the parser does, its patterns are still checked)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code or 0)
    if not regions:
        return None
    if len(regions) > 1:
        national = phonenumbers.national_significant_number(parsed)
        for country in regions:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(country, None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if _leading_digits(metadata.leading_digits).match(national):
                    return _if_valid(parsed, country)
            elif phonenumbers.is_valid_number_for_region(parsed, country):
                return country
        return None
    return _if_valid(parsed, regions[0])


def _if_valid(parsed: phonenumbers.PhoneNumber, country: str) -> str | None:
    return country if phonenumbers.is_valid_number_for_region(parsed, country) else None


@lru_cache(maxsize=256)
def _leading_digits(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_COUNTRY_SEEN: dict[str, str] = {}
"""The country of numbers `to_e164` just validated (bounded: cleared when full)."""
_COUNTRY_SEEN_MAX = 65536


def is_nanp_e164(text: str) -> bool:
    """`+1` and ten digits, the first 2-9: a US/Canada number already in the E.164 form the
    parser would give back (what providers send, and every number the bot texts)."""
    return bool(_NANP_E164.fullmatch(text))


def is_fictional(e164: str) -> bool:
    """A NANP number reserved for fictional use (`+1 NPA 555-01XX`): no real phone."""
    return bool(_FICTIONAL.match(e164))


def mask(value: str) -> str:
    """Keep the country code and the last four digits: `+15555550100` -> `+1******0100`.

    Works on anything (a half-parsed number, a short code) so a log line never carries the
    whole number, whatever it was given.
    """
    if not value:
        return value
    digits_only = value.lstrip("+")
    if len(digits_only) <= 4:
        return "*" * len(value)
    cc = _country_code_len(value) if value.startswith("+") else 0
    head = value[: cc + 1] if cc else ""
    tail = value[-4:]
    return head + "*" * (len(value) - len(head) - 4) + tail


def mask_in_text(text: str) -> str:
    """Mask every phone-like run of at least `MIN_PHONE_DIGITS` digits in free text (an
    error message echoing a number, a log line), as `mask` does; dates are left alone."""
    return _PHONE_IN_TEXT.sub(_mask_run, text)


def _mask_run(found: re.Match[str]) -> str:
    run = found.group(0)
    compact = re.sub(r"[^\d+]", "", run)
    if len(compact.lstrip("+")) < MIN_PHONE_DIGITS or _DATE.fullmatch(run):
        return run
    return mask(compact)


def _country_code_len(e164: str) -> int:
    if _E164_SHAPE.match(e164):
        # The parser's own rule (the shortest known 1-3 digit prefix), without parsing.
        digits = e164[1:]
        for size in (1, 2, 3):
            if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                return size
        return 1
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return 1
    return len(str(number.country_code))


def region_of(e164: str) -> str | None:
    """The ISO country of an E.164 number (`US`, `CA`, `DE`), None when unknown. The
    fictional `+1 NPA 555-01XX` numbers count as `US`."""
    try:
        return _COUNTRY_SEEN[e164]
    except KeyError:
        return _region_of(e164)


@lru_cache(maxsize=65536)
def _region_of(e164: str) -> str | None:
    if _FICTIONAL.match(e164):
        return "US"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region


def us_area_code(e164: str) -> str | None:
    """The three-digit area code of a NANP number (`+1AAA...`), else None."""
    if e164.startswith("+1") and len(e164) == 12:
        return e164[2:5]
    return None
