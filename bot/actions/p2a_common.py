"""What the Phone2Action actions share: campaign and legislator summaries, the advocate
upsert, and the rule that says whether a campaign can find targets from a bare ZIP.

Everything returned here is short, flat and GSM-7 friendly (no HTML, no typographic quotes),
because it lands in the conversation's vars (under 1 KiB in Redis) and then in a text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import structlog

from bot.actions.base import ActionContext, ActionOutcome
from bot.phone import mask
from bot.upstream.errors import UnsupportedPhone, UpstreamRejected
from bot.upstream.phone2action_models import AdvocateInput, Campaign, Legislator

log = structlog.get_logger("bot.actions.p2a")

CTA_MAX = 160
NAME_MAX = 40
ADDRESS_MAX = 100
MENU_MAX = 9  # legislators offered in one menu ("1".."9", and ALL)

#: The zip_ok rule: a campaign whose name or call to action names a state or local target
#: needs a street address (state and local districts split ZIP codes far more often than
#: congressional ones); any other campaign tries a bare ZIP first. P2A's campaign listing
#: carries no target levels, and a federal ZIP that still spans districts is caught later:
#: `p2a_legislators` answers `need_street` when P2A refuses the bare ZIP.
STREET_TARGET_WORDS = (
    "state senat", "state rep", "state legislat", "state assembl", "assemblymember",
    "house of delegates", "council", "mayor", "alder", "commissioner", "supervisor",
    "senador estatal", "representante estatal", "concejal", "alcalde",
)  # fmt: skip

#: Short forms of P2A legislator titles, for menus.
TITLE_SHORT = {
    "senator": "Sen.", "representative": "Rep.", "state senator": "State Sen.",
    "state representative": "State Rep.", "delegate": "Del.", "assemblymember": "Asm.",
    "councilmember": "Councilmember",
}  # fmt: skip

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                        "\u2013": "-", "\u2014": "-", "\u00a0": " ", "\u2026": "..."})


def plain(text: str | None, limit: int) -> str:
    """HTML to one line of plain text, cut at a word boundary to `limit` characters."""
    if not text:
        return ""
    flat = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text)).translate(_ASCII)).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 3].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return f"{cut}..."


def zip_ok(campaign: Campaign) -> bool:
    """Whether a bare ZIP is worth trying for this campaign (see STREET_TARGET_WORDS)."""
    cta = plain(campaign.content.call_to_action, 2000)
    lowered = f"{campaign.name} {campaign.display_name or ''} {cta}".lower()
    return not any(word in lowered for word in STREET_TARGET_WORDS)


def campaign_name(campaign: Campaign) -> str:
    """The campaign's short name."""
    return plain(campaign.name or campaign.display_name, NAME_MAX)


def campaign_data(campaign: Campaign) -> dict[str, str | int | bool]:
    """The vars a flow needs about one chosen campaign."""
    return {
        "campaign_id": campaign.id,
        "campaign_name": campaign_name(campaign),
        "campaign_cta": plain(campaign.content.call_to_action, CTA_MAX),
        "campaign_zip_ok": zip_ok(campaign),
    }


def legislator_name(leg: Legislator) -> str:
    """`Sen. Jordan Avery`: the short title and the full name."""
    title = TITLE_SHORT.get((leg.title or "").strip().lower(), (leg.title or "").strip())
    if not title:
        chamber = (leg.chamber or "").upper()
        title = {"SENATE": "Sen.", "HOUSE": "Rep."}.get(chamber, "")
        if title and (leg.level or "").upper() == "STATE":
            title = f"State {title}"
    return plain(f"{title} {leg.name_full}", NAME_MAX)


def legislator_label(leg: Legislator) -> str:
    """`Sen. Jordan Avery (R)`: the menu line of a legislator."""
    party = (leg.party or "").strip()[:3]
    return f"{legislator_name(leg)} ({party})" if party else legislator_name(leg)


def menu(lines: list[str]) -> str:
    """`1) first\\n2) second`: numbered from 1."""
    return "\n".join(f"{n}) {line}" for n, line in enumerate(lines, start=1))


async def upsert_advocate(ctx: ActionContext, campaign_id: int, *, address1: str = "",
                          zip5: str = "", fields: Mapping[int, str] | None = None) -> int:
    """Create or update the voter's advocate (found by phone), opted in to SMS, a member of
    the campaign (P2A requires a campaign on every advocate), with the address and custom
    fields when given."""
    advocate = AdvocateInput(
        campaigns=[campaign_id], phone=ctx.phone, sms_optin=True, sms_optin_confirmed=True,
        address1=address1[:ADDRESS_MAX] or None, zip5=zip5 or None, fields=dict(fields or {}),
    )
    advocate_id: int = await ctx.upstreams.p2a.upsert_advocate(
        advocate, idempotency_key=ctx.idempotency_key)
    return advocate_id


async def save_advocate(ctx: ActionContext, campaign_id: int, *, address1: str = "",
                        zip5: str = "", fields: Mapping[int, str] | None = None
                        ) -> int | ActionOutcome:
    """`upsert_advocate`, or the failed outcome to return (a passing failure propagates)."""
    try:
        return await upsert_advocate(ctx, campaign_id, address1=address1, zip5=zip5,
                                     fields=fields)
    except UnsupportedPhone:
        return ActionOutcome(ok=False, reason="unsupported_phone")
    except UpstreamRejected as exc:
        log.warning("p2a advocate refused", phone=mask(ctx.phone), error=str(exc)[:200])
        return ActionOutcome(ok=False, reason="rejected")


async def open_campaigns(ctx: ActionContext) -> list[Campaign] | ActionOutcome:
    """P2A's campaigns, or the failed outcome to return (a passing failure propagates)."""
    try:
        campaigns: list[Campaign] = await ctx.upstreams.p2a.list_campaigns()
    except UpstreamRejected as exc:
        log.warning("p2a campaigns refused", error=str(exc)[:200])
        return ActionOutcome(ok=False, reason="rejected")
    return campaigns
