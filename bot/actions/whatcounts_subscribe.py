"""`whatcounts_subscribe`: add the voter's phone to the WhatCounts SMS list (sender code).

    subscribe:
      action: {type: whatcounts_subscribe}
      on_success: next_step        # also reached with tag `skipped`
      on_failure: next_step        # the list is a nice-to-have: carry on

WhatCounts answers a repeated subscribe with "already exists": that counts as success. When
WhatCounts is not configured (real credentials without WHATCOUNTS_API_BASE or
WHATCOUNTS_SENDER_CODE) nothing is called and the result is ok with tag `skipped`.

Data on success: `whatcounts_subscribed` (true), `whatcounts_already` (true when the phone
was already on the list).
Tags: `skipped` (ok=True); `rejected` (ok=False: a WhatCounts business error, bad
credentials, or a phone it cannot take). WhatCounts down: retried by the worker.
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams
from bot.phone import mask
from bot.upstream.errors import UpstreamRejected

log = structlog.get_logger("bot.actions.whatcounts_subscribe")


class WhatCountsSubscribeParams(LenientParams):
    """No params."""


class WhatCountsSubscribe(Action[WhatCountsSubscribeParams]):
    """Subscribe the phone to the configured WhatCounts sender code (and group)."""

    name: ClassVar[str] = "whatcounts_subscribe"
    Params = WhatCountsSubscribeParams

    async def run(self, params: WhatCountsSubscribeParams, ctx: ActionContext) -> ActionOutcome:
        whatcounts = ctx.upstreams.whatcounts
        if whatcounts is None:
            return ActionOutcome(ok=True, reason="skipped")
        try:
            subscribed = await whatcounts.subscribe(ctx.phone,
                                                    idempotency_key=ctx.idempotency_key)
        except UpstreamRejected as exc:
            log.warning("whatcounts subscribe refused", phone=mask(ctx.phone),
                        error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="rejected")
        return ActionOutcome(ok=True, data={"whatcounts_subscribed": True,
                                      "whatcounts_already": bool(subscribed.already)})
