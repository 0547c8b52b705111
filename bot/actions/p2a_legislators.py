"""`p2a_legislators`: find the campaign's targets for the address the voter typed, and save
that address on the voter's advocate.

    ask_address:
      say: "Reply with your street address and ZIP."
      on:
        - {when: text, save: address, goto: find_targets}
    find_targets:
      action:
        type: p2a_legislators
        params:
          campaign_id: "{campaign_id}"
          address: "{address}"
          zip5: "{zip5}"               # optional: a ZIP given before (street-only replies)
      on_success: confirm_call         # say "A call will connect you with {targets_list}"
      on_failure:
        - {when: no_zip, goto: ask_address}
        - {when: need_street, goto: ask_street}
        - {when: bad_address, goto: ask_address}
        - {when: none_found, goto: no_targets}
        - {goto: try_later}

Parsing the free text: the ZIP is the last 5-digit group (a ZIP+4 `20001-1234` counts as
`20001`); the street is the rest with commas and spaces trimmed ("1600 Main St NW,
Washington DC"). When the text has no ZIP, the optional `zip5` param (a ZIP the voter gave
earlier) is used, so after `need_street` the voter may answer with the street alone.

Order: no ZIP -> `no_zip` (a street without a ZIP keeps asking for the ZIP); no street ->
`need_street` (a ZIP alone, or words with no house number, asks for the street: P2A's
lookup requires `address1`, REFERENCE 8); then `GET /legislators` with `address1` and
`zip5`. A refusal -> `bad_address`; an empty list -> `none_found`. (`zip_ok` is still
accepted and ignored.)
Then the advocate is upserted with `address1` and `zip5` (P2A calls the targets of the
advocate's address, so it must be saved before `p2a_call`). At most 9 targets are offered.

Data on success: `targets_menu` ("1) Sen. Jordan Avery (R)\\n2) ..."), `targets_list`
("Sen. Jordan Avery (R), Rep. Riley Chen (D)": whom a call connects), `targets_ids`
("3001,3002"), `targets_count`, `targets_names` ("Sen. Jordan Avery|Rep. Riley Chen"),
`advocate_id`, `zip5`, `address1`. `need_street` carries `zip5` too.
Reasons (ok=False): `no_zip`, `need_street`, `bad_address`, `none_found`,
`unsupported_phone`, `invalid` (campaign_id not a number), `rejected`. P2A down: retried.
"""

from __future__ import annotations

import re
from typing import ClassVar

import structlog

from bot.actions.base import Action, ActionContext, ActionOutcome
from bot.actions.lenient import LenientParams, to_int, zip5_or_empty
from bot.actions.p2a_common import (
    ADDRESS_MAX,
    MENU_MAX,
    legislator_label,
    legislator_name,
    menu,
    save_advocate,
)
from bot.phone import mask
from bot.upstream.errors import UnexpectedAnswer, UpstreamAuthFailed, UpstreamRejected

log = structlog.get_logger("bot.actions.p2a_legislators")

_ZIP = re.compile(r"(?<![0-9])([0-9]{5})(?:-[0-9]{4})?(?![0-9])")
_SPACES = re.compile(r"\s+")
_HOUSE_NUMBER = re.compile(r"[0-9]")
_LETTER = re.compile(r"[^\W\d_]")


def split_address(text: str) -> tuple[str, str]:
    """(zip5, street) from free text: the last 5-digit group, and the rest trimmed."""
    found = list(_ZIP.finditer(text))
    if not found:
        return "", _clean(text)
    last = found[-1]
    return last.group(1), _clean(f"{text[: last.start()]} {text[last.end():]}")


def looks_like_street(text: str) -> bool:
    """A house number and a name ("12 Main St"): "help me" or "?" is not a street, and
    looking it up would answer with legislators for the ZIP alone, as if it were."""
    return _HOUSE_NUMBER.search(text) is not None and _LETTER.search(text) is not None


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip(" ,;.\t")[:ADDRESS_MAX]


class P2ALegislatorsParams(LenientParams):
    """The campaign, the voter's free-text address, and whether a bare ZIP may do."""

    campaign_id: str
    address: str
    zip_ok: str = "true"
    zip5: str = ""


class P2ALegislators(Action[P2ALegislatorsParams]):
    """The campaign's legislators for an address, as a menu."""

    name: ClassVar[str] = "p2a_legislators"
    Params = P2ALegislatorsParams

    async def run(self, params: P2ALegislatorsParams, ctx: ActionContext) -> ActionOutcome:
        zip5, street = split_address(params.address)
        zip5 = zip5 or zip5_or_empty(params.zip5)
        if not zip5:
            return ActionOutcome(ok=False, reason="no_zip")
        if not looks_like_street(street):  # P2A requires address1 (REFERENCE 8): never
            return ActionOutcome(ok=False, data={"zip5": zip5}, reason="need_street")
        campaign_id = to_int(params.campaign_id)
        if campaign_id is None or campaign_id <= 0:
            return ActionOutcome(ok=False, reason="invalid")
        try:
            legislators = await ctx.upstreams.p2a.list_legislators(
                campaign_id, zip5=zip5, address1=street)
        except (UpstreamAuthFailed, UnexpectedAnswer) as exc:
            log.warning("p2a legislators failed", error=str(exc)[:200])
            return ActionOutcome(ok=False, reason="rejected")
        except UpstreamRejected as exc:
            log.info("p2a address refused", phone=mask(ctx.phone), street=bool(street),
                     status=exc.status)
            return ActionOutcome(ok=False, data={"zip5": zip5}, reason="bad_address")
        targets = list({leg.id: leg for leg in legislators}.values())[:MENU_MAX]
        if not targets:
            return ActionOutcome(ok=False, data={"zip5": zip5}, reason="none_found")
        advocate_id = await save_advocate(ctx, campaign_id, address1=street, zip5=zip5)
        if isinstance(advocate_id, ActionOutcome):
            return advocate_id
        return ActionOutcome(ok=True, data={
            "targets_menu": menu([legislator_label(leg) for leg in targets]),
            "targets_list": ", ".join(legislator_label(leg) for leg in targets),
            "targets_ids": ",".join(str(leg.id) for leg in targets),
            "targets_count": len(targets),
            "targets_names": "|".join(legislator_name(leg) for leg in targets),
            "advocate_id": advocate_id,
            "zip5": zip5,
            "address1": street,
        })
