"""`consent_sync`: push a phone's opt-out (or renewed opt-in) to every upstream list.

The engine emits it on STOP, on a carrier opt-out and on START; flows do not name it.
Phone2Action gets `smsOptout=1` on the advocate it already has (an opt-out there cannot be
undone, so a renewed opt-in is not pushed to it); WhatCounts gets `stopSubscriberSend`, or
`addPhoneToSenderCode` on a renewed opt-in, when it is configured. A number Phone2Action
cannot hold (it is US-only) is skipped there, and still reaches WhatCounts.

    # not written in flows; emitted by the engine as
    action: {type: consent_sync, params: {opted_in: false}}
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.upstream.errors import UnsupportedPhone
from bot.upstream.phone2action_models import AdvocateInput


class ConsentSyncParams(BaseModel):
    """Whether the phone is now opted in (START) or out (STOP)."""

    model_config = ConfigDict(extra="forbid")
    opted_in: bool


class ConsentSync(Action[ConsentSyncParams]):
    """Mirror a consent change upstream; runs after the change is committed locally."""

    name: ClassVar[str] = "consent_sync"
    replies: ClassVar[bool] = False
    Params = ConsentSyncParams

    async def run(self, params: ConsentSyncParams, ctx: ActionContext) -> ActionOutcome:
        pushed: dict[str, str] = {}
        if not params.opted_in:
            await self._p2a_optout(ctx, pushed)
        whatcounts = ctx.upstreams.whatcounts
        if whatcounts is not None:
            if params.opted_in:
                await whatcounts.subscribe(ctx.phone, idempotency_key=ctx.idempotency_key)
            else:
                await whatcounts.stop(ctx.phone, idempotency_key=ctx.idempotency_key)
            pushed["whatcounts"] = "ok"
        return ActionOutcome(ok=True, data=pushed)

    @staticmethod
    async def _p2a_optout(ctx: ActionContext, pushed: dict[str, str]) -> None:
        p2a = ctx.upstreams.p2a
        try:
            advocate = await p2a.find_advocate(ctx.phone)
        except UnsupportedPhone:  # P2A is US-only: a non-US phone never had an advocate
            pushed["p2a"] = "not a P2A number"
            return
        if advocate is None:
            pushed["p2a"] = "no advocate"
            return
        campaigns = [m.campaignid for m in advocate.memberships] or [0]
        await p2a.save_advocate(
            AdvocateInput(campaigns=campaigns, phone=ctx.phone, sms_optout=True),
            advocate_id=advocate.id, idempotency_key=ctx.idempotency_key)
        pushed["p2a"] = "ok"
