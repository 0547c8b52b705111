"""Keep phones and secrets out of log lines and exception texts.

`mask_phone` is the one masking rule for upstream logs (`+1******0100`); `redact_text` masks
any phone-like digit run in free text an upstream sent back (error messages echo numbers).
"""

from __future__ import annotations

import re

import phonenumbers

_PHONE_RUN = re.compile(r"\+?\d[\d\-\s().]{5,}\d")


def mask_phone(e164: str) -> str:
    """`+12025550100` -> `+1******0100`: country code and last four digits only."""
    digits = "".join(ch for ch in e164 if ch.isdigit())
    if len(digits) <= 4:
        return "*" * len(digits)
    try:
        country = str(phonenumbers.parse(e164 if e164.startswith("+") else "+" + digits).country_code)
    except phonenumbers.NumberParseException:
        country = digits[:1]
    if not digits.startswith(country):
        country = ""
    hidden = len(digits) - len(country) - 4
    return f"+{country}{'*' * hidden}{digits[-4:]}"


def redact_text(text: str, limit: int = 200) -> str:
    """Mask phone-like digit runs (keep the last 4) and cut to `limit` characters."""

    def _mask(match: re.Match[str]) -> str:
        run = match.group(0)
        digits = [ch for ch in run if ch.isdigit()]
        if len(digits) < 7:
            return run
        return "*" * (len(digits) - 4) + "".join(digits[-4:])

    cleaned = _PHONE_RUN.sub(_mask, text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
