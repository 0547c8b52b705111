"""`p2a_campaigns`: list the Phone2Action campaigns as a numbered menu, one page at a time.

    campaigns:
      action:
        type: p2a_campaigns
        params: {page: "{campaigns_next_page}"}    # "" or "0": the first page
      on_success:
        - {when: single, goto: campaign_chosen}    # exactly one campaign: no menu
        - {goto: pick_campaign}                    # say "{campaigns_menu}"
      on_failure:
        - {when: none, goto: no_campaigns}
        - {goto: try_later}

The page size is CAMPAIGNS_PER_PAGE. Numbers count from 1 on every page, so the voter always
answers "1".."n" and `p2a_pick_campaign` reads `campaigns_ids` of the page shown. A page past
the end (the list shrank since) shows the first page again.

Data, several campaigns: `campaigns_menu` ("1) Clean Water Now\\n2) ..."), `campaigns_ids`
("1001,1002", the same order), `campaigns_count` (on this page), `campaigns_page`,
`campaigns_next_page` (page + 1, or 0 when this is the last page), `campaigns_more` (bool);
tag `last_page` when no page follows, so the flow does not offer MORE there.
Data, exactly one campaign (tag `single`, ok=True): `campaign_id`, `campaign_name`,
`campaign_cta` (plain text, at most 160 characters), `campaign_zip_ok` (see
`p2a_common.STREET_TARGET_WORDS` for the rule).
Reasons (ok=False): `none` (no campaign is listed), `rejected`. P2A down: retried.
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, to_int
from bot.actions.p2a_common import campaign_data, campaign_name, menu, open_campaigns

log = structlog.get_logger("bot.actions.p2a_campaigns")


class P2ACampaignsParams(LenientParams):
    """`page`: which page to show ("" = 1)."""

    page: str = ""


class P2ACampaigns(Action[P2ACampaignsParams]):
    """The campaign menu (or the one campaign), `per_page` campaigns a page."""

    name: ClassVar[str] = "p2a_campaigns"
    Params = P2ACampaignsParams

    def __init__(self, per_page: int) -> None:
        self.per_page = max(1, per_page)

    async def run(self, params: P2ACampaignsParams, ctx: ActionContext) -> ActionOutcome:
        campaigns = await open_campaigns(ctx)
        if isinstance(campaigns, ActionOutcome):
            return campaigns
        if not campaigns:
            return ActionOutcome(ok=False, reason="none")
        if len(campaigns) == 1:
            return ActionOutcome(ok=True, data=campaign_data(campaigns[0]), reason="single")
        size = self.per_page
        pages = -(-len(campaigns) // size)
        page = to_int(params.page) or 1
        if not 1 <= page <= pages:
            page = 1
        shown = campaigns[(page - 1) * size : page * size]
        more = page < pages
        return ActionOutcome(ok=True, reason=None if more else "last_page", data={
            "campaigns_menu": menu([campaign_name(c) for c in shown]),
            "campaigns_ids": ",".join(str(c.id) for c in shown),
            "campaigns_count": len(shown),
            "campaigns_page": page,
            "campaigns_next_page": page + 1 if more else 0,
            "campaigns_more": more,
        })
