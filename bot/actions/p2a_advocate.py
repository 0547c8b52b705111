"""`p2a_advocate`: create or update the voter's Phone2Action advocate, opted in to SMS.

    join_campaign:
      action:
        type: p2a_advocate
        params: {campaign_id: "{campaign_id}", address1: "{address1}", zip5: "{zip5}",
                 field_5365: "signed"}
      on_success: ask_address
      on_failure:
        - {when: unsupported_phone, goto: us_only}
        - {goto: try_later}

P2A requires a campaign on every advocate, so the flow calls this once a campaign is chosen
(`campaign_id`), not at opt-in. The advocate is found by phone first and updated, else
created (`upsert_advocate`), with `phone` (10 digits), `campaigns[]`, `smsOptin=1`,
`smsOptinConfirmed=1` (the voter confirmed by text), and `address1`/`zip5` when given
(a `zip5` that is not 5 digits is left out), and each `field_<ID>` param as the custom
field `fields[ID]` (IDs from P2A's Organization Settings page; empty values left out).
Safe to repeat.

Data on success: `advocate_id`.
Reasons (ok=False): `unsupported_phone` (not a US number: P2A is US only), `invalid`
(`campaign_id` is not a number), `rejected`. P2A down: retried by the worker.
"""

from __future__ import annotations

import re
from typing import ClassVar

import structlog
from pydantic import ConfigDict, model_validator

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, to_int, zip5_or_empty
from bot.actions.p2a_common import save_advocate

log = structlog.get_logger("bot.actions.p2a_advocate")
CUSTOM_FIELD = re.compile(r"^field_[0-9]{1,9}$")


class P2AAdvocateParams(LenientParams):
    """The chosen campaign, the address when the flow already has it, and custom fields
    as `field_<ID>` (P2A's numeric custom field IDs)."""

    model_config = ConfigDict(extra="allow")

    campaign_id: str
    address1: str = ""
    zip5: str = ""

    @model_validator(mode="after")
    def _only_custom_fields(self) -> P2AAdvocateParams:
        bad = [k for k in self.model_extra or {} if not CUSTOM_FIELD.match(k)]
        if bad:
            raise ValueError(f"p2a_advocate takes campaign_id, address1, zip5 and field_<ID>; "
                             f"not {bad}")
        return self

    def custom_fields(self) -> dict[int, str]:
        """`field_5365: "yes"` -> {5365: "yes"}; empty values are left out."""
        return {int(k.removeprefix("field_")): str(v).strip()
                for k, v in (self.model_extra or {}).items() if str(v).strip()}


class P2AAdvocate(Action[P2AAdvocateParams]):
    """Upsert the advocate by phone."""

    name: ClassVar[str] = "p2a_advocate"
    Params = P2AAdvocateParams

    async def run(self, params: P2AAdvocateParams, ctx: ActionContext) -> ActionOutcome:
        campaign_id = to_int(params.campaign_id)
        if campaign_id is None or campaign_id <= 0:
            return ActionOutcome(ok=False, reason="invalid")
        advocate_id = await save_advocate(ctx, campaign_id, address1=params.address1,
                                          zip5=zip5_or_empty(params.zip5),
                                          fields=params.custom_fields())
        if isinstance(advocate_id, ActionOutcome):
            return advocate_id
        return ActionOutcome(ok=True, data={"advocate_id": advocate_id})
