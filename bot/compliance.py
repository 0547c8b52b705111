"""Carrier and TCPA keywords: STOP, HELP and START, recognised before any flow runs.

Pure and table-driven (the vocabulary is in `bot.compliance_words`). The rules, in order:

1. The whole text, once case, accents, spaces and punctuation are dropped, is a keyword:
   "STOP!!!", "End", "ayuda", "Si".
2. A plain revocation, at any length: "please stop texting me", "take me off this list",
   "ya no quiero mensajes". (Twilio allows 1,600 characters; all of them are read.)
3. A text built around a per-se word (47 CFR 64.1200(a)(10): stop, quit, end, revoke, opt
   out, cancel, unsubscribe; and the Spanish ones) that is not negated: when every other
   word is filler ("stop please", "I'd like to opt out", "por favor paren") it opts out.
   When other words come after a leading per-se word ("Stop the Cuts", "Stop this
   nonsense") the whole text decides: it is the answer when the flow waits for a reply and
   the text is one (a menu item it quotes, a street for an address, a reply the state
   accepts), and an opt-out otherwise (ambiguous texts lean to opt-out: a lost subscriber
   costs less than an unwanted text). A per-se word in the middle of a sentence ("123 End
   St", "when does it end") is not an opt-out, nor one after a negation ("don't stop, I
   love these").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from bot.compliance_words import (
    FILLER,
    HELP_WORDS,
    JOINED,
    NEGATIONS,
    PER_SE,
    REVOCATION_PATTERNS,
    SPANISH_HINTS,
    START_WORDS,
    STOP_WORDS,
    STREET_WORDS,
    YES_WORDS,
)

__all__ = ["DEFAULT_LISTS", "STOP_WORDS", "AnswerCheck", "Keyword", "KeywordLists",
           "classify", "language_hint", "looks_like_street", "normalise", "quotes"]

NEGATION_REACH = 3  # a negation this many words before a per-se word turns it around


class Keyword(StrEnum):
    """What a compliance text asks for."""

    STOP = "STOP"
    HELP = "HELP"
    START = "START"
    YES = "YES"  # opts back in only for a phone that is opted out


Reading = Keyword | Literal["leading"] | None
"""What a text is without the conversation: a keyword, none, or "leading" (a per-se word
opens it and other words follow: `classify` asks whether it is the awaited reply)."""


_PUNCT = re.compile(r"[^\w\s-]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_CLAUSE = re.compile(r"[,.;:!?\n()]+")
_ITEM_NUMBER = re.compile(r"^\d+ ")
_JOINED = re.compile(r"\b(" + "|".join(JOINED) + r")\b")


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """Upper case, accents dropped, punctuation dropped, spaces folded: `' Stop! '` -> `STOP`."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = plain.replace("'", "").replace("\u2019", "")
    plain = _PUNCT.sub(" ", plain.upper()).replace("_", " ")
    return _SPACES.sub(" ", plain).strip(" -")


@dataclass(frozen=True)
class KeywordLists:
    """The keyword sets in force; a flow may extend them (`compliance:` in its YAML)."""

    stop: frozenset[str] = STOP_WORDS
    help: frozenset[str] = HELP_WORDS
    start: frozenset[str] = START_WORDS
    yes: frozenset[str] = YES_WORDS
    revocations: tuple[re.Pattern[str], ...] = field(default=REVOCATION_PATTERNS)
    per_se: frozenset[str] = PER_SE
    #: What `classify` found for a text with these lists (bounded: cleared when full).
    _seen: dict[str, Reading] = field(default_factory=dict, init=False, repr=False,
                                      compare=False, hash=False)

    def extended(
        self, stop: Iterable[str] = (), help_: Iterable[str] = (), start: Iterable[str] = ()
    ) -> KeywordLists:
        """A copy with extra words (normalised the same way as texts are)."""
        return KeywordLists(
            stop=self.stop | {normalise(w) for w in stop},
            help=self.help | {normalise(w) for w in help_},
            start=self.start | {normalise(w) for w in start},
            yes=self.yes,
            revocations=self.revocations,
            per_se=self.per_se,
        )


DEFAULT_LISTS = KeywordLists()


SEEN_MAX = 4096  # texts remembered per lists
SEEN_LENGTH = 64  # longer texts are sentences, seldom sent twice

AnswerCheck = Callable[[str], bool]
"""Whether a text is the reply the conversation waits for (asked only when it matters)."""


def classify(body: str, lists: KeywordLists = DEFAULT_LISTS, *,
             answering: bool | AnswerCheck = False) -> Keyword | None:
    """Which compliance keyword a text is, or None for an ordinary reply.

    `answering`: whether (or a check of whether) the text is the reply the conversation
    waits for; a sentence that merely opens with a per-se word ("Stop the Cuts" quoted from
    a menu, "End St" for an address) is then read as that reply.
    """
    reading = _reading(body, lists)
    if reading is None or isinstance(reading, Keyword):
        return reading
    is_answer = answering(body) if callable(answering) else answering
    return None if is_answer else Keyword.STOP


def _reading(body: str, lists: KeywordLists) -> Reading:
    """`_read`, remembered per lists for short texts: the same few come again and again
    (JOIN, YES, STOP), and reading one costs a dozen regular expressions."""
    if len(body) > SEEN_LENGTH:
        return _read(body, lists)
    seen = lists._seen
    try:
        return seen[body]
    except KeyError:
        if len(seen) >= SEEN_MAX:
            seen.clear()
        reading = seen[body] = _read(body, lists)
        return reading


def _read(body: str, lists: KeywordLists) -> Reading:
    """`classify` up to the one question about the conversation: a pure function of the
    text and the lists."""
    text = normalise(body)
    if not text:
        return None
    if text in lists.stop:
        return Keyword.STOP
    if text in lists.help:
        return Keyword.HELP
    if text in lists.start:
        return Keyword.START
    if text in lists.yes:
        return Keyword.YES
    if any(p.search(text) for p in lists.revocations):
        return Keyword.STOP
    built_around = _built_around_per_se(body, lists.per_se)
    if built_around == "only":
        return Keyword.STOP
    if built_around == "leading":
        return "leading"
    return None


def _built_around_per_se(body: str, per_se: frozenset[str]) -> str | None:
    """"only": per-se words and filler only; "leading": a per-se word opens a clause (after
    filler at most) but other words follow; None: no per-se word stands as an opt-out."""
    clauses = [_tokens(c) for c in _CLAUSE.split(body)]
    leading = False
    for words in clauses:
        for index, word in enumerate(words):
            if word not in per_se or _negated(words, index):
                continue
            others = [w for ws in clauses for w in ws if w not in per_se]
            if all(w in FILLER for w in others):
                return "only"
            leading = leading or all(w in FILLER for w in words[:index])
    return "leading" if leading else None


def _tokens(clause: str) -> list[str]:
    return _JOINED.sub(lambda m: JOINED[m.group(1)], normalise(clause)).split()


def _negated(words: list[str], index: int) -> bool:
    return any(w in NEGATIONS for w in words[max(0, index - NEGATION_REACH):index])


def looks_like_street(body: str) -> bool:
    """A free-text reply that reads as an address: a number, or a street word ("End St")."""
    text = normalise(body)
    return any(c.isdigit() for c in text) or any(w in STREET_WORDS for w in text.split())


def quotes(body: str, offered: Iterable[object]) -> bool:
    """Whether the text repeats an item the bot offered: a line of a menu ("2) Stop the
    Cuts") or a stored name, compared without case, punctuation or the item's number."""
    text = normalise(body)
    if not text:
        return False
    for value in offered:
        if isinstance(value, str):
            for line in value.splitlines():
                if _ITEM_NUMBER.sub("", normalise(line)) == text:
                    return True
    return False


def language_hint(body: str) -> str | None:
    """"es" when a text shows its writer uses Spanish (AYUDA, HOLA...), else None."""
    return "es" if normalise(body) in SPANISH_HINTS else None
