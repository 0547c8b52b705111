"""The monthly frequency cap, read from the opt-in text itself, so what the voter agreed to
("Up to 4 msgs/month") is what the broadcasts keep to. An opt-in text that names no number
("Msg frequency varies") promises none: then `BROADCAST_MONTHLY_CAP`, or a conservative
`DEFAULT_MONTHLY_CAP`, holds."""

from __future__ import annotations

import re

from bot.flow import FlowSet

_PER_MONTH = re.compile(
    r"(\d+)\s*(?:msgs?|messages?|texts?|msjs?|mensajes?)\s*(?:/|per|a|al|por)\s*"
    r"(?:month|mo|mes)\b", re.IGNORECASE)


DEFAULT_MONTHLY_CAP = 4


def caps_in(text: str) -> list[int]:
    """The numbers of every "N msgs/month" in a text."""
    return [int(m.group(1)) for m in _PER_MONTH.finditer(text)]


def monthly_cap(flows: FlowSet) -> int | None:
    """The smallest "N msgs/month" of any state a voter opts in from (None: none says)."""
    found: list[int] = []
    for flow in flows.flows.values():
        for state in flow.spec.states.values():
            if not any(t.opt_in for t in state.on) or state.say is None:
                continue
            texts = state.say.values() if isinstance(state.say, dict) else [state.say]
            for text in texts:
                found += caps_in(str(text))
    return min(found) if found else None


def resolve_cap(configured: int | None, flows: FlowSet) -> tuple[int, str]:
    """The cap in force and where it comes from (for the dry run): the opt-in texts' own
    number wins over the setting when it is smaller, since that is what voters read."""
    promised = monthly_cap(flows)
    if promised is not None and (configured is None or promised <= configured):
        return promised, "the opt-in text"
    if configured is not None:
        return configured, "BROADCAST_MONTHLY_CAP"
    return DEFAULT_MONTHLY_CAP, "default (the opt-in texts name no number)"
