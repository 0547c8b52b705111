"""What one phone has reached, kept in its conversation, so the funnel counts phones, not
entries: pure.

The funnel counts a phone once per UTC day for each state and milestone it reaches (a
second CALL on the same day, or a state entered again, adds nothing) and once ever in the
all-time totals. To know what is new, each conversation keeps a small record (`reached`,
stored as `m`): per flow and per campaign, a bitmask of the flow's states reached ever and
today, and per phone, whether it opted in and out ever and today. The engine updates it in
the step (`reach`), and the same commit writes the record and the counters, so they cannot
disagree.

Stored form, made to cost a few bytes (every phone pays for them, docs/performance.md):
`<day>.<consent>[.<entry>]...`, numbers in base 36: `day` is days since 1970 (UTC) of the
record's "today"; `consent` and each entry's masks are `ever[/today]` (`/today` left out
when today's mask equals ever's; every today mask is 0 once the day has passed); an entry
is `<flow key>[#<campaign>]:<masks>`. A flow's key is 3 characters derived from its name and
its list of states, and bit i of its masks is its i-th state (in the file's order), so a
reload that adds, removes, renames or moves a state gives the flow a new key: its phones
count once more for that flow (the old entry is dropped). A conversation without a record
(older than this, or expired) reads as one that has reached nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.flow import FlowSet
from bot.funnel import CAMPAIGN_VAR
from bot.models import Conversation, Firsts, Step

DAY = 86400
KEY_CHARS = 3
CAMPAIGNS_KEPT = 4
"""Campaign entries kept per phone (the most recently reached): an older campaign the
phone comes back to counts it once more."""
CONSENT_BITS = {"@opted_in": 1, "@opted_out": 2}
_CAMPAIGN_SAFE = re.compile(r"[0-9A-Za-z_-]{1,16}")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(n: int) -> str:
    if n < 36:
        return _DIGITS[n]  # most masks of a day, and every consent mask
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return out


@dataclass(slots=True)
class Masks:
    ever: int = 0
    today: int = 0

    def add(self, bits: int) -> tuple[int, int]:
        """Set `bits`; the ones new today and the ones new ever."""
        new_today, new_ever = bits & ~self.today, bits & ~self.ever
        self.today |= bits
        self.ever |= bits
        return new_today, new_ever

    def encode(self) -> str:
        if self.today == self.ever:
            return b36(self.ever)
        return f"{b36(self.ever)}/{b36(self.today)}"


@dataclass(slots=True)
class Record:
    """A conversation's `reached`, decoded; `today` masks are of day `day`."""

    day: int = 0
    consent: Masks = field(default_factory=Masks)
    entries: dict[str, Masks] = field(default_factory=dict)  # oldest first

    @classmethod
    def decode(cls, text: str, day: int) -> Record:
        """The record as of `day` (today masks cleared when the record is older); a
        malformed one (it never is) reads as empty rather than failing the step."""
        try:
            head, consent, *entries = text.split(".")
            stored_day = int(head, 36)
            record = cls(day=day, consent=_masks(consent, stored_day == day))
            for entry in entries:
                key, _, masks = entry.rpartition(":")
                record.entries[key] = _masks(masks, stored_day == day)
            return record
        except ValueError:
            return cls(day=day)

    def encode(self) -> str:
        parts = [b36(self.day), self.consent.encode()]
        parts += [f"{key}:{masks.encode()}" for key, masks in self.entries.items()]
        return ".".join(parts)

    def touch(self, key: str) -> Masks:
        """The entry of `key`, moved to the end (most recently reached)."""
        masks = self.entries.pop(key, None) or Masks()
        self.entries[key] = masks
        return masks


def _masks(text: str, same_day: bool) -> Masks:
    ever, _, today = text.partition("/")
    value = int(ever, 36)
    if not same_day:
        return Masks(ever=value)
    return Masks(ever=value, today=int(today, 36) if today else value)


@lru_cache(maxsize=64)
def _flow_key(name: str, states: tuple[str, ...]) -> str:
    digest = hashlib.blake2b("\n".join((name, *states)).encode(), digest_size=8).digest()
    return b36(int.from_bytes(digest, "big") % 36**KEY_CHARS).rjust(KEY_CHARS, "0")


def flow_keys(flows: FlowSet) -> dict[str, str]:
    """Each loaded flow's key; two flows whose keys clash get longer ones."""
    return {name: key for name, (key, _) in _layout(flows).items()}


Layout = dict[str, tuple[str, dict[str, int]]]
#: The last flow set asked about: (flows, layout, live keys, generation).
_LAST: list[tuple[FlowSet, Layout, frozenset[str], int]] = []
_GENERATIONS = itertools.count(1)  # one per layout worked out: a cache key never reused


def _layout(flows: FlowSet) -> Layout:
    """Per flow, its key and each state's bit; worked out once per loaded flow set."""
    if _LAST and _LAST[0][0] is flows:
        return _LAST[0][1]
    keys = {name: _flow_key(name, tuple(flow.spec.states)) for name, flow in flows.flows.items()}
    if len(set(keys.values())) < len(keys):
        keys = {name: key + _flow_key(key + name, ())[:2] for name, key in keys.items()}
    layout = {name: (keys[name], {state: i for i, state in enumerate(flow.spec.states)})
              for name, flow in flows.flows.items()}
    _LAST[:] = [(flows, layout, frozenset(key for key, _ in layout.values()),
                 next(_GENERATIONS))]
    return layout


def _campaign_key(flow_key: str, campaign: str) -> str:
    if not _CAMPAIGN_SAFE.fullmatch(campaign):
        campaign = "~" + _flow_key(campaign, ())
    return f"{flow_key}#{campaign}"


def reach(flows: FlowSet, before: Conversation, step: Step) -> Step:
    """Mark what the step reached in the conversation's record, and tell the funnel which
    of its marks are new today and new ever (`step.firsts`)."""
    conv = step.conversation
    if not step.entered and not step.consent:
        return step  # nothing to count: the record stays as it is (the usual text)
    consent = tuple(["@opted_out" if c.opted_out else "@opted_in" for c in step.consent])
    day = int((conv.updated_at or before.updated_at) // DAY)
    layout = _layout(flows)
    flow = step.flow if step.flow in layout and step.entered else None
    campaign: str | None = None
    if flow is not None:
        value = conv.vars.get(CAMPAIGN_VAR) or before.vars.get(CAMPAIGN_VAR)
        campaign = None if value in (None, "") else str(value)
    conv.reached, step.firsts = _marked(_LAST[0][3], conv.reached, day, consent, flow,
                                        tuple(step.entered) if flow is not None else (),
                                        campaign)
    return step


@lru_cache(maxsize=4096)
def _marked(generation: int, reached: str, day: int, consent: tuple[str, ...],
            flow: str | None, entered: tuple[str, ...], campaign: str | None
            ) -> tuple[str, Firsts]:
    """The record after these marks, and which are new: a pure function of its arguments
    (`generation` names the flow layout it was worked out with, the current one), so it
    is remembered: at a rally most phones bring the same record to the same step."""
    del generation  # (a key only: a new layout is a new generation)
    _, layout, live, _ = _LAST[0]
    record = Record.decode(reached, day) if reached else Record(day=day)
    today: set[str] = set()
    ever: set[str] = set()
    for mark in consent:
        new_today, new_ever = record.consent.add(CONSENT_BITS[mark])
        if new_today:
            today.add(mark)
        if new_ever:
            ever.add(mark)
    if flow is not None:
        _reach_states(record, layout[flow], campaign, list(entered), today, ever)
    _prune(record, live)
    return record.encode(), Firsts(frozenset(today), frozenset(ever))


def _reach_states(record: Record, flow: tuple[str, dict[str, int]], campaign: str | None,
                  entered: list[str], today: set[str], ever: set[str]) -> None:
    """Mark the states entered in the flow's entry and the campaign's; collect the new."""
    flow_key, bits = flow
    entered = [state for state in entered if state in bits]  # always, unless misused
    mask = 0
    for state in entered:
        mask |= 1 << bits[state]
    scopes = [("f", flow_key)]
    if campaign is not None:
        scopes.append(("c", _campaign_key(flow_key, campaign)))
    for scope, key in scopes:
        new_today, new_ever = record.touch(key).add(mask)
        if not new_today:
            continue
        for state in entered:
            bit = 1 << bits[state]
            if new_today & bit:
                today.add(f"{scope}:{state}")
            if new_ever & bit:
                ever.add(f"{scope}:{state}")


def _prune(record: Record, live: frozenset[str]) -> None:
    """Drop entries of flows no longer loaded (or changed), and the oldest campaigns."""
    if len(record.entries) == 1 and next(iter(record.entries)) in live:
        return  # the usual record: one flow, no campaign
    record.entries = {k: m for k, m in record.entries.items() if k.split("#")[0] in live}
    campaigns = [k for k in record.entries if "#" in k]
    for key in campaigns[:-CAMPAIGNS_KEPT]:
        del record.entries[key]
