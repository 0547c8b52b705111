"""How many SMS segments a text costs: GSM-7 when every character fits, else UCS-2.

GSM 03.38: the basic set costs one septet a character, the extension set (`^{}\\[~]|€`)
two. A single GSM-7 SMS holds 160 septets, a part of a longer one 153. Any other character
(a curly quote, an emoji) turns the whole text into UCS-2: 70 UTF-16 units alone, 67 a part.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    """The encoding a text needs, its length in that encoding, and its segment count."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int
    count: int
    ucs2_chars: str = ""  # the characters that forced UCS-2, for a warning


def count_segments(text: str) -> Segments:
    """Segments of `text` as a carrier bills them."""
    forcing = "".join(dict.fromkeys(c for c in text
                                    if c not in GSM7_BASIC and c not in GSM7_EXTENDED))
    if not forcing:
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return Segments("GSM-7", units, 1 if units <= 160 else -(-units // 153))
    units = len(text.encode("utf-16-le")) // 2
    return Segments("UCS-2", units, 1 if units <= 70 else -(-units // 67), forcing)
