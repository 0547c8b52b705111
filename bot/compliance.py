"""Carrier and TCPA keywords: STOP, HELP and START, recognised before any flow runs.

Pure and table-driven. Exact keywords are matched on the whole text once case, accents,
surrounding spaces and punctuation are dropped; plain-language revocations ("please stop
texting me", "no más") are matched by phrase patterns, because a reasonable person reads
them as an opt-out and the TCPA says so too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class Keyword(StrEnum):
    """What a compliance text asks for."""

    STOP = "STOP"
    HELP = "HELP"
    START = "START"
    YES = "YES"  # opts back in only for a phone that is opted out


STOP_WORDS = frozenset(
    {
        "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
        "OPTOUT", "OPT OUT", "OPT-OUT",
        # Spanish
        "PARAR", "ALTO", "CANCELAR", "NO MAS", "DETENER", "BASTA", "BAJA",
    }
)
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})
START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE", "EMPEZAR", "REANUDAR"})
YES_WORDS = frozenset({"YES", "Y", "SI"})

#: Revocations in plain words. Each pattern needs both a "stop"-like verb and a word about
#: messages or a list, so "don't stop fighting" is not an opt-out.
REVOCATION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"\b(STOP|QUIT|CEASE|NO MORE)\b.*\b(TEXT|TEXTS|TEXTING|MESSAGE|MESSAGES|MESSAGING|SMS|"
        r"CONTACT|CONTACTING|SPAM|SPAMMING)\b",
        r"\b(DONT|DO NOT|NEVER)\b (TEXT|MESSAGE|SMS|CONTACT) (ME|THIS NUMBER)\b",
        r"\b(REMOVE|TAKE|DELETE|UNSUBSCRIBE|OPT)\b.*\b(ME|MY NUMBER|THIS NUMBER)\b.*"
        r"\b(OFF|FROM|OUT)\b",
        r"\b(REMOVE|DELETE|UNSUBSCRIBE) (ME|MY NUMBER|THIS NUMBER)\b",
        r"\bLEAVE ME ALONE\b",
        # Spanish: "no más", "dejen de enviarme", "no me manden", "bórrenme", "quítenme"
        r"\bNO MAS (MENSAJES|TEXTOS|SMS)\b",
        r"\bDEJE?N? DE (ENVIAR|MANDAR|ESCRIBIR|TEXTEAR)",
        r"\bNO ME (ENVIEN|MANDEN|ESCRIBAN|TEXTEEN|CONTACTEN)\b",
        r"\b(BORRENME|QUITENME|SACAME|SAQUENME|ELIMINENME)\b",
    )
)

_PUNCT = re.compile(r"[^\w\s-]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


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
        )


DEFAULT_LISTS = KeywordLists()


def classify(body: str, lists: KeywordLists = DEFAULT_LISTS) -> Keyword | None:
    """Which compliance keyword a text is, or None for an ordinary reply."""
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
    if len(text) <= 160 and any(p.search(text) for p in lists.revocations):
        return Keyword.STOP
    return None
