"""Lenient params for flow actions: everything arrives as text, possibly empty.

A flow fills `{placeholders}` from the conversation's vars, so an action sees strings: "" for
a var nobody set, "True"/"False" for a saved bool, "1764000600" for a saved number. A flow may
also write a literal (`resend: true`, `page: 2`). `LenientParams` turns any of those into a
stripped string; the helpers below read them without raising.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "si"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})
_INT = re.compile(r"^[#\s]*([+-]?[0-9]+)(?:\.0+)?\s*[.)]?\s*$")
_ZIP5 = re.compile(r"^[0-9]{5}$")


class LenientParams(BaseModel):
    """Base of every action's params: unknown keys refused, values coerced to text."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(int(value)) if float(value).is_integer() else str(value)
        if isinstance(value, str):
            return value.strip()
        return value


def to_bool(text: str, default: bool) -> bool:
    """"true"/"True"/"yes"/"1" -> True, "false"/"False"/"0" -> False; "" or anything else
    -> `default` (an unset var keeps the action's default)."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return default


def to_int(text: str) -> int | None:
    """An integer from "12", " #2 ", "2)", "1764000600.0"; None when there is none."""
    found = _INT.match(text)
    return int(found.group(1)) if found else None


def digits(text: str) -> str:
    """Only the ASCII digits of `text`."""
    return "".join(ch for ch in text if "0" <= ch <= "9")


def zip5_or_empty(text: str) -> str:
    """`text` when it is a 5-digit ZIP, else ""."""
    return text if _ZIP5.match(text) else ""


def id_list(text: str) -> list[int]:
    """ "1001,1002" -> [1001, 1002]; anything that is not a number is dropped."""
    return [int(part) for part in (p.strip() for p in text.split(",")) if part.isdigit()]
