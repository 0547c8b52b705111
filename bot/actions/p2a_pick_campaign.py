"""`p2a_pick_campaign`: turn the voter's menu number into the chosen campaign's details.

    pick_campaign:
      say: "Which campaign? {campaigns_menu}"
      on:
        - {when: number, save: choice, goto: campaign_picked}
    campaign_picked:
      action:
        type: p2a_pick_campaign
        params: {choice: "{choice}", ids: "{campaigns_ids}"}
      on_success: campaign_chosen
      on_failure:
        - {when: no_such_choice, goto: pick_campaign}
        - {goto: try_later}

`ids` is `campaigns_ids` of the page the voter saw ("1001,1002,..."); `choice` counts from 1.
The details are read fresh from P2A's campaign list (a campaign that left the list since the
menu was shown is `no_such_choice` too, so the voter picks again).

Data on success: `campaign_id`, `campaign_name`, `campaign_cta` (plain text, at most 160
characters), `campaign_zip_ok` (see `p2a_common.STREET_TARGET_WORDS`).
Reasons (ok=False): `no_such_choice` (not a number, out of range, or gone), `rejected`.
P2A down: retried by the worker.
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, id_list, to_int
from bot.actions.p2a_common import campaign_data, open_campaigns

log = structlog.get_logger("bot.actions.p2a_pick_campaign")


class P2APickCampaignParams(LenientParams):
    """The voter's number and the ids of the menu it refers to."""

    choice: str
    ids: str


class P2APickCampaign(Action[P2APickCampaignParams]):
    """The campaign behind a menu number."""

    name: ClassVar[str] = "p2a_pick_campaign"
    Params = P2APickCampaignParams

    async def run(self, params: P2APickCampaignParams, ctx: ActionContext) -> ActionOutcome:
        ids = id_list(params.ids)
        choice = to_int(params.choice)
        if choice is None or not 1 <= choice <= len(ids):
            return ActionOutcome(ok=False, reason="no_such_choice")
        wanted = ids[choice - 1]
        campaigns = await open_campaigns(ctx)
        if isinstance(campaigns, ActionOutcome):
            return campaigns
        campaign = next((c for c in campaigns if c.id == wanted), None)
        if campaign is None:
            return ActionOutcome(ok=False, reason="no_such_choice")
        return ActionOutcome(ok=True, data=campaign_data(campaign))
