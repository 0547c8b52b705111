"""The closed registry of actions a flow may call, built explicitly (no import side effects)."""

from __future__ import annotations

from typing import Any

from bot.actions.base import Action, ActionContext, ActionOutcome, ActionRetry, Registry
from bot.actions.consent_sync import ConsentSync
from bot.actions.p2a_advocate import P2AAdvocate
from bot.actions.p2a_call import P2ACall
from bot.actions.p2a_campaigns import P2ACampaigns
from bot.actions.p2a_legislators import P2ALegislators
from bot.actions.p2a_pick_campaign import P2APickCampaign
from bot.actions.verify_check import VerifyCheck
from bot.actions.verify_common import VerifySettings
from bot.actions.verify_send import VerifySend
from bot.actions.webhook import Webhook
from bot.actions.whatcounts_subscribe import WhatCountsSubscribe
from bot.config import Settings

__all__ = ["Action", "ActionContext", "ActionOutcome", "ActionRetry", "Registry",
           "build_registry"]


def build_registry(settings: Settings) -> Registry:
    """Every action, registered once (a duplicate name raises), each given only the
    settings it needs."""
    verify = VerifySettings.from_settings(settings)
    registry = Registry()
    actions: tuple[Action[Any], ...] = (
        ConsentSync(),
        VerifySend(verify),
        VerifyCheck(verify),
        WhatCountsSubscribe(),
        P2ACampaigns(per_page=settings.campaigns_per_page),
        P2APickCampaign(),
        P2AAdvocate(),
        P2ALegislators(),
        P2ACall(),
        Webhook(),
    )
    for action in actions:
        registry.register(action)
    return registry
