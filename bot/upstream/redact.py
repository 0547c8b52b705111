"""Keep phones and secrets out of log lines and exception texts.

`mask_phone` is `bot.phone.mask` (`+1******0100`); `redact_text` masks
any phone-like digit run in free text an upstream sent back (error messages echo numbers).
"""

from __future__ import annotations

import re

from bot.phone import mask

_PHONE_RUN = re.compile(r"\+?\d[\d\-\s().]{5,}\d")


def mask_phone(e164: str) -> str:
    """`+12025550100` -> `+1******0100`: the project's one masking rule (`bot.phone.mask`)."""
    return mask(e164)


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
