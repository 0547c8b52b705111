"""The longest value each known `{placeholder}` can take, so `flows check` counts the SMS
segments a text really costs at worst (a legislator list, a campaign name), not as written.

Every bound comes from where the value is made: the action modules' cut-off constants and
the settings. A placeholder nobody bounds is counted as written and named in the report.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.actions.p2a_common import CTA_MAX, MENU_MAX, NAME_MAX
from bot.config import Settings
from bot.flow.schema import FlowSpec
from bot.texts import Vars

PARTY_MAX = len(" (XXX)")  # `legislator_label` keeps at most 3 letters of the party
REPLY_TEXT_MAX = 160  # `when: text` keeps at most this much of a reply


def _menu(lines: int, width: int) -> int:
    """`1) first\\n2) second`: a number, ") ", the line, and a newline between lines."""
    return sum(len(f"{n}) ") + width for n in range(1, lines + 1)) + (lines - 1)


def longest_lengths(settings: Settings, spec: FlowSpec) -> dict[str, int]:
    """Placeholder name -> the most characters its value can have."""
    keywords = [w for ws in spec.keywords_by_language().values() for w in ws] or ["JOIN"]
    legislator = NAME_MAX + PARTY_MAX
    return {
        "program": len(settings.program_name),
        "help_contact": len(settings.help_contact or ""),
        "join_en": max(map(len, keywords)),
        "join_es": max(map(len, keywords)),
        "campaign_name": NAME_MAX,
        "campaign_cta": CTA_MAX,
        "campaigns_menu": _menu(max(1, settings.campaigns_per_page), NAME_MAX),
        "targets_menu": _menu(MENU_MAX, legislator),
        "targets_list": MENU_MAX * legislator + 2 * (MENU_MAX - 1),
        "call_with": CTA_MAX,
        "call_chosen": CTA_MAX,
        "verify_wait": len(str(settings.verify_resend_cooldown)),
        "verify_tries_left": len(str(settings.verify_max_tries)),
        "address": REPLY_TEXT_MAX,
    }


class _Longest(Vars):
    """Renders a known placeholder as its longest value and remembers unknown ones."""

    def __init__(self, lengths: Mapping[str, int]) -> None:
        super().__init__()
        self.lengths = lengths
        self.unknown: set[str] = set()

    def __missing__(self, key: str) -> str:
        if key in self.lengths:
            return "x" * self.lengths[key]
        self.unknown.add(key)
        return "{" + key + "}"


def at_longest(template: str, lengths: Mapping[str, int]) -> tuple[str, set[str]]:
    """The text with every known placeholder at its longest, and the unknown names."""
    values = _Longest(lengths)
    return template.format_map(values), values.unknown
