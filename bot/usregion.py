"""The US state a phone number's area code belongs to (for broadcast segments): pure."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from bot.us_area_codes import AREA_CODES


@lru_cache(maxsize=8192)
def us_state(e164: str) -> str | None:
    """Two-letter state (or province: NANP includes Canada) of a valid +1 number from its
    area code, or None (not +1, not a valid number, an area code with no one place)."""
    if not e164.startswith("+1"):
        return None
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return AREA_CODES.get(int(str(number.national_number)[:3]))
