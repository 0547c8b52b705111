"""The US state a phone number's area code belongs to (for broadcast segments): pure."""

from __future__ import annotations

import phonenumbers

from bot.phone import is_fictional, to_e164
from bot.us_area_codes import AREA_CODES


def us_state(e164: str) -> str | None:
    """Two-letter state (or province: NANP includes Canada) of a valid +1 number from its
    area code, or None (not +1, not a valid number, an area code with no one place).

    Validity is `to_e164`'s (cached: the webhook has just asked it for this number); the
    fictional 555-01XX numbers it also accepts count only where the parser calls them valid."""
    if len(e164) != 12 or not e164.startswith("+1") or to_e164(e164) != e164:
        return None
    if is_fictional(e164) and not _parser_valid(e164):
        return None
    return AREA_CODES.get(int(e164[2:5]))


def _parser_valid(e164: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(e164, None)))
    except phonenumbers.NumberParseException:
        return False
