"""Reply matchers: pure functions from a voter's reply to "matched, and the value kept".

Each `when:` of a flow compiles to one of these. They forgive what people type: "Yes!",
"si", " 20001-1234 ", "#2", "code is 123456".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from bot.compliance import normalise
from bot.flow.schema import BuiltinMatch, ChoiceMatch, KeywordMatch, ReplyMatch, VarMatch

Matcher = Callable[[str], str | None]
"""Returns the value to keep (normalised) when the reply matches, else None."""
VarTest = Callable[[Mapping[str, object]], bool]
"""True when the stored values meet a `when: {var: ...}`."""

YES = frozenset({"YES", "Y", "YEP", "YEAH", "SURE", "OK", "OKAY", "SI", "CLARO", "VALE"})
NO = frozenset({"NO", "N", "NOPE", "NAH", "NOT NOW"})
_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
_CODE = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")
#: A space or dash between two digit groups of a code, as people copy it ("339 373", "339-373").
_CODE_GAP = re.compile(r"(?<=\d)[ -](?=\d)")
_NUMBER = re.compile(r"^\s*#?\s*(\d{1,3})\s*[.)]?\s*$")


def match_yes(reply: str) -> str | None:
    text = normalise(reply)
    return "yes" if text in YES or text.startswith("YES ") else None


def match_no(reply: str) -> str | None:
    text = normalise(reply)
    return "no" if text in NO or text.startswith("NO ") else None


def match_zip(reply: str) -> str | None:
    found = _ZIP.findall(reply)
    return found[-1] if len(found) >= 1 else None


def match_code(reply: str) -> str | None:
    found = _CODE.findall(reply) or _CODE.findall(_CODE_GAP.sub("", reply))
    return found[0] if len(found) == 1 else None


def match_number(reply: str) -> str | None:
    found = _NUMBER.match(reply)
    return str(int(found.group(1))) if found else None


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
