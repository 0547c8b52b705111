"""The monthly frequency cap, read from the opt-in text itself, so what the voter agreed to
("Up to 4 msgs/month") is what the broadcasts keep to."""

from __future__ import annotations

import re

from bot.flow import FlowSet

_PER_MONTH = re.compile(
    r"(\d+)\s*(?:msgs?|messages?|texts?|msjs?|mensajes?)\s*(?:/|per|a|al|por)\s*"
    r"(?:month|mo|mes)\b", re.IGNORECASE)


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
