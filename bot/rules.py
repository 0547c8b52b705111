"""The deployment-wide facts the engine needs: names for texts, who answers keywords,
which numbers are ours, which countries are served, and the run-time bounds."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rules:
    """Built once from `Settings` (tests build their own)."""

    program: str = "civictext"
    help_contact: str | None = None  # HELP_CONTACT: a phone, e-mail or URL; None: unset
    provider_handles_keywords: bool = False
    consent_sync: bool = True  # push opt-outs/opt-ins upstream with the `consent_sync` action
    quiet_start: int = 21  # local hour quiet hours begin (timers marked quiet_hours wait)
    quiet_end: int = 8
    countries: frozenset[str] = frozenset({"US"})  # SMS_COUNTRIES: where texts may go
    flood_texts: int = 30  # more texts than this in a minute: faster than a person types
    flood_answers: int = 3  # answers a minute to a phone that floods
    max_auto_steps: int = 25  # states entered between two voter texts (bot/safety.py)
    max_actions_per_hour: int = 30  # actions one conversation may call in an hour
    own_numbers: frozenset[str] = field(default_factory=frozenset)  # SMS_FROM, E.164
