""""Did you mean ...?" for names staff misspell: states, actions, keys, placeholders."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` Did you mean 'x'?` when one candidate is close to `word`, else ""."""
    pool = sorted({c for c in candidates if c != word})
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" Did you mean {close[0]!r}?" if close else ""


def listing(names: Iterable[str], limit: int = 12) -> str:
    """`a, b, c` (and `... (N more)` past the limit), for a fix hint."""
    items = sorted(set(names))
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
