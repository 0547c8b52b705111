"""Run-time bounds no flow can get around: whatever the check misses, one conversation never
loops on its own nor hammers an upstream.

Counted in the conversation itself (so every process agrees, and a retry of a step counts
the same): states entered since the voter's last text, and actions called in the current
hour. Past a bound the engine ends the conversation with an apology (`halted` text), and
the core counts it (`civictext_conversations_halted_total`) and logs it.
"""

from __future__ import annotations

from bot.models import Conversation

HOUR = 3600.0
AUTO_STEPS = "auto_steps"
ACTIONS_PER_HOUR = "actions_per_hour"


def voter_texted(conv: Conversation) -> None:
    """A text from the voter: the automatic steps start counting again."""
    conv.auto = 0


def entering_state(conv: Conversation, limit: int) -> str | None:
    """Count one state entry; the bound broken, or None."""
    conv.auto += 1
    return AUTO_STEPS if conv.auto > limit else None


def calling_action(conv: Conversation, now: float, limit: int) -> str | None:
    """Count one action in the hour's window; the bound broken, or None."""
    if now - conv.acts_at >= HOUR:
        conv.acts_at, conv.acts = now, 1
    else:
        conv.acts += 1
    return ACTIONS_PER_HOUR if conv.acts > limit else None
