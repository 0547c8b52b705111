"""Keep phones and secrets out of log lines and exception texts.

`mask_phone` is `bot.phone.mask` (`+1******0100`); `redact_text` masks any phone-like digit
run in free text an upstream sent back (error messages echo numbers) with the same rule
(`bot.phone.mask_in_text`), and cuts the text short.
"""

from __future__ import annotations

from bot.phone import mask, mask_in_text


def mask_phone(e164: str) -> str:
    """`+12025550100` -> `+1******0100`: the project's one masking rule (`bot.phone.mask`)."""
    return mask(e164)


def redact_text(text: str, limit: int = 200) -> str:
    """Mask phone-like digit runs (keep the country code and the last 4) and cut to `limit`
    characters."""
    cleaned = mask_in_text(text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
