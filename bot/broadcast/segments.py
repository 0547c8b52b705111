"""Who a broadcast goes to: a segment of the subscribers, written as a short expression.

`all`, or filters joined by commas (all must match): `flow:advocacy`, `campaign:101`,
`lang:es`, `state:CA`, `zip:200` (a ZIP prefix), or `csv:PATH` (a file of phone numbers, one
per line or in the first column; each must be a subscriber: the others are skipped and
counted). Pure, apart from reading the CSV file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from bot.phone import to_e164

FIELDS = ("flow", "campaign", "lang", "state", "zip")


class SegmentError(ValueError):
    """The segment expression cannot be understood (the reason is for staff)."""


@dataclass(frozen=True)
class Segment:
    """Filters on the subscriber profile, and/or an explicit list of phones."""

    text: str
    filters: dict[str, str] = field(default_factory=dict)
    phones: tuple[str, ...] | None = None  # from a CSV: only these
    invalid: int = 0  # CSV rows that were not phone numbers

    def matches(self, profile: dict[str, str]) -> bool:
        for name, wanted in self.filters.items():
            have = profile.get(name, "")
            if name == "zip":
                if not have.startswith(wanted):
                    return False
            elif have.casefold() != wanted.casefold():
                return False
        return True


def parse_segment(text: str, region: str = "US") -> Segment:
    """`lang:es,state:CA` -> a `Segment`; raises `SegmentError` with the reason."""
    text = text.strip()
    if not text:
        raise SegmentError("empty segment: say `all`, or filters like `lang:es`")
    if text.lower() == "all":
        return Segment(text="all")
    filters: dict[str, str] = {}
    phones: tuple[str, ...] | None = None
    invalid = 0
    for part in text.split(","):
        name, sep, value = part.strip().partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep or not value:
            raise SegmentError(f"{part.strip()!r}: write name:value (e.g. lang:es)")
        if name == "csv":
            phones, invalid = read_phones(Path(value), region)
        elif name in FIELDS:
            filters[name] = value.upper() if name == "state" else value
        else:
            raise SegmentError(f"unknown filter {name!r}: use {', '.join(FIELDS)} or csv")
    return Segment(text=text, filters=filters, phones=phones, invalid=invalid)


def read_phones(path: Path, region: str = "US") -> tuple[tuple[str, ...], int]:
    """The distinct valid phones of a CSV (first column; a header row is fine), and how
    many rows were not phone numbers."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SegmentError(f"cannot read {path}: {exc.strerror}") from exc
    return phones_from_csv(text, region)


def phones_from_csv(text: str, region: str = "US") -> tuple[tuple[str, ...], int]:
    seen: dict[str, None] = {}
    invalid = 0
    for row in csv.reader(text.splitlines()):
        if not row or not row[0].strip():
            continue
        phone = to_e164(row[0], region)
        if phone is None:
            invalid += 1
        else:
            seen[phone] = None
    return tuple(seen), invalid
