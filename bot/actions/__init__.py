"""The closed registry of actions a flow may call, built explicitly (no import side effects)."""

from __future__ import annotations

from bot.actions.base import Action, ActionContext, ActionRetry, Outcome, Registry
from bot.actions.consent_sync import ConsentSync

__all__ = ["Action", "ActionContext", "ActionRetry", "Outcome", "Registry", "build_registry"]


def build_registry() -> Registry:
    """Every action, registered once; a duplicate name raises."""
    registry = Registry()
    for action in (ConsentSync(),):
        registry.register(action)
    return registry
