"""The deployment-wide facts the engine needs: names for texts, who answers keywords, which
numbers are ours and which countries the flow's services serve."""

from __future__ import annotations

from dataclasses import dataclass, field

import phonenumbers

#: NANP numbers reserved for fiction (`+1 NPA 555-01XX`): staff try flows with them, so they
#: count as US numbers although the parser finds no region for them.
_FICTIONAL_US = ("55501",)


@dataclass(frozen=True)
class Rules:
    """Built once from `Settings` (tests build their own)."""

    program: str = "civictext"
    help_contact: str | None = None  # HELP_CONTACT: a phone, e-mail or URL; None: unset
    provider_handles_keywords: bool = False
    consent_sync: bool = True  # push opt-outs/opt-ins upstream with the `consent_sync` action
    quiet_start: int = 21  # local hour quiet hours begin (timers marked quiet_hours wait)
    quiet_end: int = 8
    max_auto_steps: int = 25  # states entered between two voter texts (bot/safety.py)
    max_actions_per_hour: int = 30  # actions one conversation may call in an hour
    own_numbers: frozenset[str] = field(default_factory=frozenset)  # SMS_FROM, E.164
    countries: frozenset[str] = frozenset({"US"})  # SMS_COUNTRIES: regions the flow serves

    def serves(self, phone: str) -> bool:
        """Whether the flow's services can serve this number (Phone2Action is US-only)."""
        return region_of(phone) in self.countries


def region_of(phone: str) -> str | None:
    """The ISO region of an E.164 number ("US", "GB"...), None when unknown."""
    if phone.startswith("+1") and phone[5:10] in _FICTIONAL_US:
        return "US"
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(parsed)
    return region
