"""Warnings for an opt-in question that lacks what carriers require of it.

The CTIA's messaging principles (and every US carrier's 10DLC and short-code review) expect
the message that asks for consent to name the program and say how often messages come,
that message and data rates may apply, and how to get help and how to stop. A flow whose
opt-in question (a state with a reply marked `opt_in: true`) leaves one out still works, so
`flows check` warns, per state and language, naming what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.compliance import normalise
from bot.compliance_words import HELP_WORDS, STOP_WORDS
from bot.flow.checks import Path_, Problem
from bot.flow.schema import FlowSpec

#: Words (upper case, accents dropped) that state a disclosure, in English or Spanish.
RATES = ("RATES", "TARIFAS", "CHARGES", "CARGOS")
FREQUENCY = ("FREQ", "FRECUENCIA", "MSGS MO", "MSG MO", "PER MONTH", "A MONTH", "AL MES",
             "POR MES", "PER WEEK", "A WEEK", "POR SEMANA", "RECURRING", "RECURRENTES")


def missing_disclosures(text: str) -> list[str]:
    """What an opt-in question `text` leaves out (empty when nothing)."""
    plain = f" {normalise(text)} "
    words = set(plain.split())
    missing = []
    if "{program}" not in text:
        missing.append("the program's name ({program})")
    if not any(word in plain for word in FREQUENCY):
        missing.append('how often messages come ("Msg frequency varies")')
    if not any(word in plain for word in RATES):
        missing.append('"Msg & data rates may apply"')
    if not words & HELP_WORDS:
        missing.append("how to get help (HELP)")
    if not words & STOP_WORDS:
        missing.append("how to stop (STOP)")
    return missing


def check_consent_texts(spec: FlowSpec) -> Iterator[Problem]:
    """A warning for each language of each opt-in question that lacks a disclosure."""
    for name, state in spec.states.items():
        if state.say is None or not any(t.opt_in for t in state.on):
            continue
        variants = state.say.items() if isinstance(state.say, dict) else [("", state.say)]
        for lang, text in variants:
            missing = missing_disclosures(text)
            if missing:
                path: Path_ = ["states", name, "say", lang] if lang else ["states", name, "say"]
                yield Problem(path, f"the opt-in question of {name!r}"
                              f"{f' ({lang})' if lang else ''} does not say "
                              + "; ".join(missing),
                              "carriers expect the program, the message frequency, \"Msg & "
                              "data rates may apply\", HELP and STOP in it (flows/README.md)",
                              warning=True)
