"""`p2a_call`: ask Phone2Action to ring the voter and connect them to their legislators.

    confirm_call:
      say: "A call will connect you with {targets_list}. Reply CALL to get it now."
      on:
        - {when: {keyword: [CALL, LLAMAR]}, goto: call}
    call:
      action:
        type: p2a_call
        params:
          campaign_id: "{campaign_id}"
          advocate_id: "{advocate_id}"
          choice: ALL
          names: "{targets_names}"
      on_success: calling            # say "Your phone will ring now: {call_with}."
      on_failure: try_later

What P2A does: `POST /connections` with `type[]=call` makes P2A call the advocate's phone at
once and connect them to EVERY target of the campaign for the advocate's saved address. The
documented connection API has NO parameter for choosing a target, so a flow never asks the
voter to pick one: it lists the targets and asks for CALL, passing `choice: ALL`. The
choice is still checked against the menu (`call_chosen`), and `call_with` names exactly
the legislators P2A's answer lists (`data.leg`), or "your legislators" when it lists none.

Not idempotent (it rings the phone). On an unclear end (`OutcomeUnknown`: a timeout, 500 or
504 after the request left) the action looks the call up with `find_calls(advocate,
campaign, since=now - 300)`: a CALL connection found means it started (ok, from the lookup;
`call_with` names the legislators the connections list, else the menu's `names`: the
campaign's targets). An empty list is NOT proof that no call happened (P2A may list it
late), and a failed lookup proves nothing either: both give `unclear` and no retry, so the
flow can say "if your phone did not ring, reply CALL" instead of ringing the voter twice.
A call the same voter started in those 5 minutes counts as this one.
P2A down before the request (connect error, 502/503): retried by the worker; while P2A's
circuit breaker is open: `unavailable` at once.

Data on success: `call_with` (the names P2A's answer lists, joined with ", "),
`call_chosen` (what the voter picked), `call_ids` ("5101,5102": connection ids),
`call_count`.
Reasons (ok=False): `no_such_choice` (not 1..n of `names`, nor ALL), `invalid` (ids not
numbers), `unclear` (see above: the call may or may not have started), `unavailable` (P2A
down: nothing was started), `rejected` (e.g. P2A finds no legislator at the advocate's
address).
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from bot.actions.base import UNCLEAR, Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, to_int
from bot.actions.p2a_common import CTA_MAX, legislator_name, plain
from bot.phone import mask
from bot.upstream.errors import OutcomeUnknown, UpstreamError, UpstreamRejected
from bot.upstream.phone2action import Phone2ActionClient

log = structlog.get_logger("bot.actions.p2a_call")

ALL_WORDS = frozenset({"all", "todos", "todas"})
#: `call_with` when P2A's answer names nobody (we never guess whom it dials).
UNNAMED = {"en": "your legislators", "es": "sus legisladores"}
#: How far back the lookup after an unclear `create_call` looks (seconds).
LOOKUP_WINDOW = 300


class P2ACallParams(LenientParams):
    """The campaign, the advocate, the voter's pick and the menu's names (`targets_names`)."""

    campaign_id: str
    advocate_id: str
    choice: str
    names: str


class P2ACall(Action[P2ACallParams]):
    """Start a P2A call connection for the advocate."""

    name: ClassVar[str] = "p2a_call"
    Params = P2ACallParams

    async def run(self, params: P2ACallParams, ctx: ActionContext) -> ActionOutcome:
        names = [n.strip() for n in params.names.split("|") if n.strip()]
        chosen = _chosen(params.choice, names)
        if chosen is None:
            return ActionOutcome(ok=False, reason="no_such_choice")
        campaign_id, advocate_id = to_int(params.campaign_id), to_int(params.advocate_id)
        if not campaign_id or not advocate_id or campaign_id < 0 or advocate_id < 0:
            return ActionOutcome(ok=False, reason="invalid")
        p2a = ctx.upstreams.p2a
        try:
            created = await p2a.create_call(advocate_id, campaign_id,
                                            idempotency_key=ctx.idempotency_key)
        except OutcomeUnknown:
            return await self._look_up(p2a, advocate_id, campaign_id, chosen, names, ctx)
        except UpstreamRejected as exc:
            log.warning("p2a call refused", phone=mask(ctx.phone), error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="rejected")
        called = [legislator_name(leg) for leg in created.leg.values()]
        ids = [str(i) for i in created.ids]
        log.info("p2a call started", phone=mask(ctx.phone), connections=len(ids))
        return _success(chosen, called, ids, ctx.lang)

    @staticmethod
    async def _look_up(p2a: Phone2ActionClient, advocate_id: int, campaign_id: int,
                       chosen: list[str], names: list[str], ctx: ActionContext
                       ) -> ActionOutcome:
        """After an unclear `create_call`: did P2A start it?"""
        try:
            found = await p2a.find_calls(advocate_id, campaign_id,
                                         since=int(ctx.now) - LOOKUP_WINDOW)
        except UpstreamError as exc:
            log.warning("p2a call unclear and lookup failed", phone=mask(ctx.phone),
                        error=str(exc)[:200])
            return ActionOutcome(ok=False, reason=UNCLEAR)
        if not found:  # not proof: never ring the voter again on our own
            log.warning("p2a call unclear and not listed", phone=mask(ctx.phone))
            return ActionOutcome(ok=False, reason=UNCLEAR)
        called = [_known(c.legislator_name or "", names) for c in found if c.legislator_name]
        log.info("p2a call unclear, found by lookup", phone=mask(ctx.phone),
                 connections=len(found))
        return _success(chosen, list(dict.fromkeys(called)) or names,
                        [str(c.id) for c in found], ctx.lang)


def _chosen(choice: str, names: list[str]) -> list[str] | None:
    """The names the voter picked: one, or all for ALL; None when the pick is not valid."""
    if choice.strip().lower() in ALL_WORDS:
        return names
    number = to_int(choice)
    if number is None or not 1 <= number <= len(names):
        return None
    return [names[number - 1]]


def _known(raw: str, names: list[str]) -> str:
    """A lookup's bare legislator name in the menu's form ("Jordan Avery" -> "Sen. ...")."""
    return next((n for n in names if n.endswith(raw)), raw)


def _success(chosen: list[str], called: list[str], ids: list[str], lang: str
             ) -> ActionOutcome:
    """`call_with` names exactly whom P2A's answer lists (it dials every target of the
    campaign; there is no per-legislator choice); no names in the answer: no names said."""
    with_whom = ", ".join(called) if called else UNNAMED.get(lang, UNNAMED["en"])
    return ActionOutcome(ok=True, data={
        "call_with": plain(with_whom, CTA_MAX),
        "call_chosen": plain(", ".join(chosen), CTA_MAX),
        "call_ids": ",".join(ids),
        "call_count": len(ids),
    })
