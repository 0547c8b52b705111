"""What one committed step adds to the funnel and to the subscriber index: pure.

The store writes both inside the step's own commit (the Lua script), so the numbers staff
read can never drift from what the conversations did: there is no second write path.

Funnel fields (counted per day and in all-time totals, one hash per shard):

- `f|<flow>|<state>`: a conversation entered the state (each entry counts);
- `f|<flow>|@<milestone>`: opted_in, opted_out, verified, picked_campaign,
  found_legislators, connected (see `MILESTONES`);
- `c|<campaign>|<state>` and `c|<campaign>|@<milestone>`: the same per campaign, once the
  voter has picked one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.models import Conversation, Step
from bot.usregion import us_state

#: Per flow, the states whose entry is a named funnel milestone (the shipped advocacy
#: flow's; every flow still gets each state counted under the state's own name).
MILESTONES: dict[str, dict[str, str]] = {
    "advocacy": {
        "confirmed": "verified",
        "save_advocate": "picked_campaign",
        "pick_target": "found_legislators",
        "calling": "connected",
    },
}
JOINED = "?"
"""Owner of a consent change made outside any flow (a STOP after the flow ended): the
commit script counts it under the flow and campaign the subscriber joined."""
ORDER = ("opted_in", "verified", "picked_campaign", "found_legislators", "connected",
         "opted_out")
"""The milestones in the order a voter reaches them (how `stats` prints the funnel)."""

CAMPAIGN_VAR = "campaign_id"
ZIP_VAR = "zip5"


def day_of(at: float) -> str:
    """The UTC day an event is counted under (`2026-12-01`)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def funnel_fields(before: Conversation, step: Step) -> list[str]:
    """The funnel counters this step increments (possibly none)."""
    conv = step.conversation
    flow = step.flow or conv.flow or before.flow
    campaign = conv.vars.get(CAMPAIGN_VAR) or before.vars.get(CAMPAIGN_VAR)
    milestones = MILESTONES.get(flow or "", {})
    marks: list[str] = []
    for state in step.entered:
        marks.append(state)
        if state in milestones:
            marks.append("@" + milestones[state])
    consent = ["@opted_out" if c.opted_out else "@opted_in" for c in step.consent]
    fields = [f"f|{flow or '-'}|{mark}" for mark in marks]
    fields += [f"f|{flow or JOINED}|{mark}" for mark in consent]
    if campaign not in (None, ""):
        fields += [f"c|{campaign}|{mark}" for mark in marks + consent]
    elif flow is None:
        fields += [f"c|{JOINED}|{mark}" for mark in consent]
    return fields


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
