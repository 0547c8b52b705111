"""What one committed step adds to the funnel and to the subscriber index: pure.

The store writes both inside the step's own commit (the Lua script), so the numbers staff
read can never drift from what the conversations did: there is no second write path.

Funnel fields (one hash per shard per UTC day, and one of all-time totals), each counting
phones, not entries (`bot.reached` keeps what each phone has reached):

- `f|<flow>|<state>`: phones that entered the state;
- `f|<flow>|@<milestone>`: opted_in, opted_out, verified, picked_campaign,
  found_legislators, connected (see `MILESTONES`);
- `c|<campaign>|<state>` and `c|<campaign>|@<milestone>`: the same per campaign, once the
  voter has picked one.

A day's hash counts each phone once per field that day; the totals count it once ever. A
field the phone reached before, but not yet today, goes to the day only: it is sent to the
commit script as `.<field>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from bot.models import Conversation, Firsts, Step
from bot.usregion import us_state

#: Per flow, the states whose entry is a named funnel milestone (the shipped advocacy
#: flow's; every flow still gets each state counted under the state's own name).
MILESTONES: dict[str, dict[str, str]] = {
    "advocacy": {
        "confirmed": "verified",
        "save_advocate": "picked_campaign",
        "confirm_call": "found_legislators",
        "calling": "connected",
    },
}
JOINED = "?"
"""Owner of a consent change made outside any flow (a STOP after the flow ended): the
commit script counts it under the flow and campaign the subscriber joined."""
DAY_ONLY = "."
"""Prefix of a field counted in the day's hash but not in the totals (reached before)."""
ORDER = ("opted_in", "verified", "picked_campaign", "found_legislators", "connected",
         "opted_out")
"""The milestones in the order a voter reaches them (how `stats` prints the funnel)."""

CAMPAIGN_VAR = "campaign_id"
ZIP_VAR = "zip5"


def day_of(at: float) -> str:
    """The UTC day an event is counted under (`2026-12-01`)."""
    return _day_name(int(at // 86400))


@lru_cache(maxsize=64)
def _day_name(day: int) -> str:
    """Formatting a date is most of `day_of`'s cost: once per day number, not per step."""
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


def funnel_fields(before: Conversation, step: Step) -> list[str]:
    """The funnel counters this step increments (possibly none): each mark the phone
    reaches for the first time today, once (`.` first when it reached it on an earlier
    day: not again in the totals)."""
    conv = step.conversation
    flow = step.flow or conv.flow or before.flow
    campaign = conv.vars.get(CAMPAIGN_VAR) or before.vars.get(CAMPAIGN_VAR)
    milestones = MILESTONES.get(flow or "", {})
    consent = ["@opted_out" if c.opted_out else "@opted_in" for c in step.consent]
    scopes = [("f", f"f|{flow or '-'}|")]
    if campaign not in (None, ""):
        scopes.append(("c", f"c|{campaign}|"))
    fields: dict[str, None] = {}  # ordered, each once
    for scope, prefix in scopes:
        for state in step.entered:
            mark = _counted(step.firsts, f"{scope}:{state}")
            if mark is not None:
                fields[mark + prefix + state] = None
                if state in milestones:
                    fields[mark + prefix + "@" + milestones[state]] = None
    consent_owners = [f"f|{flow or JOINED}|"]
    if campaign not in (None, ""):
        consent_owners.append(f"c|{campaign}|")
    elif flow is None:
        consent_owners.append(f"c|{JOINED}|")
    for name in consent:
        mark = _counted(step.firsts, name)
        if mark is not None:
            for prefix in consent_owners:
                fields[mark + prefix + name] = None
    return list(fields)


def _counted(firsts: Firsts | None, mark: str) -> str | None:
    """`""` (count today and in the totals), `DAY_ONLY`, or None (counted already today)."""
    if firsts is None or mark in firsts.ever:
        return ""
    return DAY_ONLY if mark in firsts.today else None


PROFILE_FIELDS = ("flow", "lang", "campaign", "zip", "state")
"""The subscriber profile's fields, in the order of its stored form."""


def encode_profile(profile: dict[str, str]) -> str:
    """`flow|lang|campaign|zip|state`, trailing empty places left out; an empty place means
    "unknown" (or "keep", in an update: the commit script fills only the places given)."""
    text = "|".join(profile.get(name, "").replace("|", "/") for name in PROFILE_FIELDS)
    return text.rstrip("|")  # trailing unknowns cost nothing


def decode_profile(text: str) -> dict[str, str]:
    return {name: value for name, value in zip(PROFILE_FIELDS, text.split("|"), strict=False)
            if value}


@dataclass(frozen=True)
class SubscriptionChange:
    """What a step does to the phone's entry in the subscriber index."""

    op: str  # "in" (opted in: add), "out" (opted out: remove), "upd" (refresh if present), ""
    profile: dict[str, str]


def profile_of(conv: Conversation) -> dict[str, str]:
    """What a broadcast segment can select on that a conversation can change; only known
    values (an update never blanks one). The US state comes from the number: it is added
    once, at opt-in (`subscription_change`), not looked up on every step."""
    values = {
        "flow": conv.flow or "",
        "lang": conv.lang,
        "campaign": str(conv.vars.get(CAMPAIGN_VAR) or ""),
        "zip": str(conv.vars.get(ZIP_VAR) or ""),
    }
    return {k: v for k, v in values.items() if v}


def subscription_change(before: Conversation, step: Step) -> SubscriptionChange:
    """An opt-in adds the phone with its profile, an opt-out removes it, and a step that
    learns something new about a subscriber (a campaign, a ZIP) refreshes the profile."""
    after = profile_of(step.conversation)
    if step.consent:
        last = step.consent[-1]
        if last.opted_out:
            return SubscriptionChange("out", {})
        joined = step.conversation.flow or before.flow  # an opt-in may end the flow
        extra = {"flow": joined} if joined else {}
        region = us_state(step.conversation.phone)
        if region:
            extra["state"] = region
        return SubscriptionChange("in", {**after, **extra})
    before_profile = profile_of(before)
    changed = {k: v for k, v in after.items() if before_profile.get(k) != v}
    if changed:
        return SubscriptionChange("upd", changed)
    return SubscriptionChange("", {})
