"""Every service's phone format, produced from our E.164 number in ONE place.

| service    | format                                   | example (from +12025550100) |
|------------|------------------------------------------|-----------------------------|
| Twilio     | E.164                                    | +12025550100                |
| TeleSign   | digits with country code, no `+`         | 12025550100                 |
| P2A        | 10 US digits (US/NANP only)              | 2025550100                  |
| WhatCounts | digits only: 10 for NANP, else with CC   | 2025550100                  |
| WeVote     | E.164 (WeVote parses it with region US)  | +12025550100                |
| Quorum     | E.164 in the supporter lookup filter     | +12025550100                |
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from bot.phone import is_nanp_e164
from bot.upstream.errors import UnsupportedPhone


def _parse(e164: str, service: str) -> phonenumbers.PhoneNumber:
    """Parse an E.164 string; anything else is a programming error upstream of us."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise UnsupportedPhone(service, "not an E.164 number") from exc
    if not phonenumbers.is_possible_number(number):
        raise UnsupportedPhone(service, "not a possible phone number")
    return number


@lru_cache(maxsize=16384)
def e164(phone: str, service: str = "twilio") -> str:
    """Normalised E.164 (`+12025550100`): Twilio, WeVote and Quorum take it as is."""
    if is_nanp_e164(phone):  # already what parsing would give back (40 us a send saved)
        return phone
    return phonenumbers.format_number(_parse(phone, service), phonenumbers.PhoneNumberFormat.E164)


def telesign_phone(phone: str) -> str:
    """TeleSign `phone_number`: digits starting with the country code, no `+`."""
    return e164(phone, "telesign")[1:]


def nanp_10(phone: str, service: str = "p2a") -> str:
    """10 US digits (P2A `phone`): refuses numbers outside the North American plan."""
    if is_nanp_e164(phone):  # what the parse below would give, without it
        return phone[2:]
    number = _parse(phone, service)
    if number.country_code != 1:
        raise UnsupportedPhone(service, "only US (+1) numbers are supported")
    national = str(number.national_number)
    if len(national) != 10:
        raise UnsupportedPhone(service, "a US number needs 10 digits")
    return national


def p2a_phone(phone: str) -> str:
    """Phone2Action `phone`: a 10-digit US number."""
    return nanp_10(phone, "p2a")


def whatcounts_phone(phone: str) -> str:
    """WhatCounts path `{phone}`: digits only; NANP numbers as 10 digits like the docs' example."""
    if is_nanp_e164(phone) or _parse(phone, "whatcounts").country_code == 1:
        return nanp_10(phone, "whatcounts")
    return e164(phone, "whatcounts")[1:]


def wevote_phone(phone: str) -> str:
    """WeVote `sms_phone_number`: E.164 (WeVote only delivers to NANP numbers itself)."""
    return e164(phone, "wevote")


def quorum_phone(phone: str) -> str:
    """Quorum supporter lookup value: E.164."""
    return e164(phone, "quorum")
