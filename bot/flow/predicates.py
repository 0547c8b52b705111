"""Reply matchers: pure functions from a voter's reply to "matched, and the value kept".

Each `when:` of a flow compiles to one of these. They forgive what people type: "Yes!",
"si", " 20001-1234 ", "#2", "code is 123456".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from bot.compliance import normalise
from bot.flow.schema import BuiltinMatch, ChoiceMatch, KeywordMatch, ReplyMatch, VarMatch

Matcher = Callable[[str], str | None]
"""Returns the value to keep (normalised) when the reply matches, else None."""
VarTest = Callable[[Mapping[str, object]], bool]
"""True when the stored values meet a `when: {var: ...}`."""

YES = frozenset({"YES", "Y", "YEP", "YEA", "YEAH", "YUP", "SURE", "OK", "OKAY", "K", "SI",
                 "CLARO", "VALE"})
NO = frozenset({"NO", "N", "NOPE", "NAH", "NOT NOW"})
_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
_CODE = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")
#: A space or dash between two digit groups of a code, as people copy it ("339 373", "339-373").
_CODE_GAP = re.compile(r"(?<=\d)[ -](?=\d)")
_NUMBER = re.compile(r"^\s*#?\s*(\d{1,3})\s*[.)]?\s*$")
#: Number words people text instead of digits, English and Spanish ("two", "dos", "the 2nd").
NUMBER_WORDS = {
    word: str(n) for n, words in enumerate((
        (), ("ONE", "FIRST", "1ST", "UNO", "UNA", "PRIMERO", "PRIMERA"),
        ("TWO", "SECOND", "2ND", "DOS", "SEGUNDO", "SEGUNDA"),
        ("THREE", "THIRD", "3RD", "TRES", "TERCERO", "TERCERA"),
        ("FOUR", "FOURTH", "4TH", "CUATRO", "CUARTO", "CUARTA"),
        ("FIVE", "FIFTH", "5TH", "CINCO", "QUINTO", "QUINTA"),
        ("SIX", "SIXTH", "6TH", "SEIS", "SEXTO", "SEXTA"),
        ("SEVEN", "SEVENTH", "7TH", "SIETE", "SEPTIMO", "SEPTIMA"),
        ("EIGHT", "EIGHTH", "8TH", "OCHO", "OCTAVO", "OCTAVA"),
        ("NINE", "NINTH", "9TH", "NUEVE", "NOVENO", "NOVENA"),
        ("TEN", "TENTH", "10TH", "DIEZ", "DECIMO", "DECIMA"),
    )) for word in words
}
#: Words around a number that add nothing ("number 2", "option two please", "el 2").
_NUMBER_FILLER = frozenset({"NUMBER", "NO", "NUM", "OPTION", "CHOICE", "PLEASE", "PLS", "THE",
                            "NUMERO", "OPCION", "EL", "LA", "POR", "FAVOR", "I", "PICK", "WANT"})
#: One line of a numbered menu the bot sent: "2) Fund DC Libraries".
_MENU_LINE = re.compile(r"^\s*(\d{1,3})\)\s+(.+?)\s*$")


#: Words after which a YES is no longer one ("yes but no", "si no", "ok not now").
_TURNS = frozenset({"NO", "NOT", "NOPE", "NUNCA", "DONT", "BUT", "PERO", "STOP"})


#: A letter held down or typed twice ("yesss", "siii", "okk", "nooo"): one of it.
_HELD = re.compile(r"(\w)\1+")


def _words(reply: str) -> list[str]:
    return [_HELD.sub(r"\1", word) for word in normalise(reply).split()]


@lru_cache(maxsize=4096)  # the opt-in answer: the same few texts (YES, Y, si) all day
def match_yes(reply: str) -> str | None:
    """YES, or a text that opens with a yes word and does not turn ("yes please", "si
    claro", "ok sure"); accents, punctuation and held letters ignored ("Sí!", "yesss")."""
    words = _words(reply)
    if words and words[0] in YES and not _TURNS.intersection(words[1:]):
        return "yes"
    return None


@lru_cache(maxsize=4096)
def match_no(reply: str) -> str | None:
    """NO, or a text that opens with one ("no thanks", "no gracias", "nope, not now",
    "nooo")."""
    words = _words(reply)
    return "no" if words and (" ".join(words) in NO or words[0] in NO) else None


def match_zip(reply: str) -> str | None:
    found = _ZIP.findall(reply)
    return found[-1] if len(found) >= 1 else None


def match_code(reply: str) -> str | None:
    found = _CODE.findall(reply) or _CODE.findall(_CODE_GAP.sub("", reply))
    return found[0] if len(found) == 1 else None


def match_number(reply: str) -> str | None:
    """A number as digits ("2", "#2", "2.") or as a word, maybe among filler ("number two
    please", "el dos")."""
    found = _NUMBER.match(reply)
    if found:
        return str(int(found.group(1)))
    words = [w for w in normalise(reply).split() if w not in _NUMBER_FILLER]
    if len(words) > 1:  # "the second one"
        words = [w for w in words if w != "ONE"]
    if len(words) != 1:
        return None
    word = words[0]
    return str(int(word)) if word.isdigit() and len(word) <= 3 else NUMBER_WORDS.get(word)


def match_menu_item(reply: str, stored: Mapping[str, object]) -> str | None:
    """The number of the menu item the reply names ("clean water" for "1) Clean Water Now"),
    read from the menus stored in the conversation; only when exactly one item fits: its
    whole name, or a name that starts with the reply or contains it as whole words."""
    text = normalise(reply)
    if len(text) < 3:
        return None
    exact: set[str] = set()
    partial: set[str] = set()
    for value in stored.values():
        if not isinstance(value, str) or ")" not in value:
            continue
        for line in value.splitlines():
            item = _MENU_LINE.match(line)
            if item is None:
                continue
            name = normalise(item.group(2))
            if name == text:
                exact.add(item.group(1))
            elif f" {text} " in f" {name} ":
                partial.add(item.group(1))
    found = exact or partial
    return next(iter(found)) if len(found) == 1 else None


def match_text(reply: str) -> str | None:
    text = reply.strip()
    return text[:160] if text else None


def match_any(reply: str) -> str | None:
    return reply.strip()[:160]


BUILTIN: dict[str, Matcher] = {
    "yes": match_yes,
    "no": match_no,
    "zip": match_zip,
    "code": match_code,
    "number": match_number,
    "choice": match_number,
    "text": match_text,
    "any": match_any,
}

#: What the re-prompt says is expected, per matcher and language.
HINTS: dict[str, dict[str, str]] = {
    "yes": {"en": "Reply YES or NO.", "es": "Responda SI o NO."},
    "no": {"en": "Reply YES or NO.", "es": "Responda SI o NO."},
    "zip": {
        "en": "Reply with your 5-digit ZIP code.",
        "es": "Responda con su codigo postal de 5 digitos.",
    },
    "code": {
        "en": "Reply with the code we texted you.",
        "es": "Responda con el codigo que le enviamos.",
    },
    "number": {"en": "Reply with a number.", "es": "Responda con un numero."},
    "choice": {
        "en": "Reply with the number of your choice.",
        "es": "Responda con el numero de su opcion.",
    },
    "text": {"en": "Reply with a short text.", "es": "Responda con un texto corto."},
}


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def compile_var_test(when: VarMatch) -> VarTest:
    """Turn a `when: {var: ...}` into a test over the stored values (a closure, no strings
    resolved at run time). Values compare as text with case ignored."""
    values: list[object] = list(when.in_) if when.in_ is not None else [when.equals]
    wanted = frozenset(_as_text(v) for v in values if v is not None)

    def test(values: Mapping[str, object]) -> bool:
        value = values.get(when.var)
        present = value is not None and value != ""
        if when.exists is not None:
            return present == when.exists
        return present and _as_text(value) in wanted

    return test


def compile_match(when: BuiltinMatch | KeywordMatch | ChoiceMatch) -> Matcher:
    """Turn a `when:` into a matcher closure (never a string resolved at run time)."""
    if isinstance(when, KeywordMatch):
        words = frozenset(normalise(w) for w in when.keyword)

        def match_keyword(reply: str) -> str | None:
            text = normalise(reply)
            return text if text in words else None

        return match_keyword
    if isinstance(when, ChoiceMatch):
        wanted = str(when.choice)

        def match_choice(reply: str) -> str | None:
            return wanted if match_number(reply) == wanted else None

        return match_choice
    return BUILTIN[when]


def hint_for(when: ReplyMatch, lang: str) -> str | None:
    """The expectation a re-prompt states for this matcher, in `lang` (English fallback)."""
    if isinstance(when, VarMatch):
        return None
    if isinstance(when, KeywordMatch):
        if lang == "es":
            return f"Responda {' o '.join(w.upper() for w in when.keyword)}."
        return f"Reply {' or '.join(w.upper() for w in when.keyword)}."
    key = "choice" if isinstance(when, ChoiceMatch) else when
    hints = HINTS.get(key)
    if hints is None:
        return None
    return hints.get(lang, hints["en"])
