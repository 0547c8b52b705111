"""The sandbox's Phone2Action data: campaigns, and legislators by ZIP (names are fictional).

| ZIP   | state | legislators                                                              |
|-------|-------|--------------------------------------------------------------------------|
| 64108 | MO    | 2 US senators, 1 US representative, 1 state senator                      |
| 94110 | CA    | 2 US senators, 1 US representative, 1 state senator                      |
| 10001 | NY    | 2 US senators, 1 US representative                                       |
| 20001 | DC    | SPLIT: the delegate, plus the Ward 2 member (NW addresses) or the Ward 6  |
|       |       | member (addresses with "NE"); `address1` is required for this ZIP       |
| other | -     | none (e.g. 99999): an empty list                                         |

Campaigns target levels: 1001 (generic, federal), 1002 (DC, local), 1003 (CA, state),
1004 (MO, federal and state), 1005 (private, generic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxCampaign:
    """A campaign and the legislator levels it targets."""

    id: int
    name: str
    call_to_action: str
    levels: tuple[str, ...]
    state: str | None = None  # None: unrestricted ("generic")
    public: bool = True

    def as_json(self) -> dict[str, object]:
        """The element shape of `GET /campaigns`."""
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.name,
            "subtitle": f"Sandbox campaign {self.id}",
            "public": int(self.public),
            "topic": "sandbox",
            "type": "CAMPAIGN",
            "link": f"https://p2a.co/sandbox{self.id}",
            "restrict_allow": self.state or "",
            "content": {
                "summary": f"<p>{self.name}.</p>",
                "introduction": "",
                "call_to_action": self.call_to_action,
                "thank_you": "<p>Thanks for taking action!</p>",
                "background_image": None,
            },
            "updated_at": "2024-01-02T03:04:05Z",
        }


CAMPAIGNS: tuple[SandboxCampaign, ...] = (
    SandboxCampaign(1001, "Clean Water Now", "Call your members of Congress: pass the "
                    "Clean Water Act.", ("FEDERAL",)),
    SandboxCampaign(1002, "Fund DC Libraries", "Call your councilmember: keep libraries "
                    "open on Sundays.", ("LOCAL",), state="DC"),
    SandboxCampaign(1003, "California Transit", "Call your state senator: fund the bus "
                    "lines.", ("STATE",), state="CA"),
    SandboxCampaign(1004, "Missouri Rural Health", "Call your legislators: keep rural "
                    "clinics open.", ("FEDERAL", "STATE"), state="MO"),
    SandboxCampaign(1005, "Staff Test Campaign", "Internal test.", ("FEDERAL",), public=False),
)  # fmt: skip


def _leg(id_: int, *spec: str) -> dict[str, object]:
    """A legislator from (level, chamber, state, district, title, first, last, party)."""
    level, chamber, state, district, title, first, last, party = spec
    return {
        "id": id_, "level": level, "chamber": chamber, "country": "US", "state": state,
        "district": district, "title": title, "name_full": f"{first} {last}",
        "name_first": first, "name_last": last, "party": party,
        "contact_mailing_addresses": None, "tweet_url": "",
    }  # fmt: skip


_ALL = (
    _leg(3001, "FEDERAL", "SENATE", "MO", "", "Senator", "Jordan", "Avery", "R"),
    _leg(3002, "FEDERAL", "SENATE", "MO", "", "Senator", "Casey", "Morgan", "D"),
    _leg(3003, "FEDERAL", "HOUSE", "MO", "5", "Representative", "Riley", "Chen", "D"),
    _leg(3004, "STATE", "SENATE", "MO", "7", "State Senator", "Morgan", "Ellis", "D"),
    _leg(3101, "FEDERAL", "SENATE", "CA", "", "Senator", "Dana", "Flores", "D"),
    _leg(3102, "FEDERAL", "SENATE", "CA", "", "Senator", "Sam", "Okafor", "D"),
    _leg(3103, "FEDERAL", "HOUSE", "CA", "11", "Representative", "Lee", "Park", "D"),
    _leg(3104, "STATE", "SENATE", "CA", "11", "State Senator", "Ari", "Novak", "D"),
    _leg(3201, "FEDERAL", "SENATE", "NY", "", "Senator", "Pat", "Quinn", "D"),
    _leg(3202, "FEDERAL", "SENATE", "NY", "", "Senator", "Robin", "Shah", "D"),
    _leg(3203, "FEDERAL", "HOUSE", "NY", "12", "Representative", "Kim", "Baptiste", "D"),
    _leg(3301, "FEDERAL", "HOUSE", "DC", "AL", "Delegate", "Terry", "Wallace", "D"),
    _leg(3302, "LOCAL", "OTHER", "DC", "WARD 2", "Councilmember", "Jesse", "Ortiz", "D"),
    _leg(3303, "LOCAL", "OTHER", "DC", "WARD 6", "Councilmember", "Avery", "Brooks", "D"),
)
LEGISLATORS: dict[int, dict[str, object]] = {int(str(leg["id"])): leg for leg in _ALL}

ZIP_STATES = {"64108": "MO", "94110": "CA", "10001": "NY", "20001": "DC"}
ZIP_LEGISLATORS: dict[str, tuple[int, ...]] = {
    "64108": (3001, 3002, 3003, 3004),
    "94110": (3101, 3102, 3103, 3104),
    "10001": (3201, 3202, 3203),
}
SPLIT_ZIP = "20001"
_NE = re.compile(r"\bNE\b", re.IGNORECASE)


class AddressRequired(Exception):
    """The ZIP spans districts: a street address is needed to choose."""


def legislators_for(zip5: str, address1: str | None) -> list[dict[str, object]]:
    """Every legislator of an address (all levels); raises `AddressRequired` for 20001."""
    if zip5 == SPLIT_ZIP:
        if not address1:
            raise AddressRequired(zip5)
        ids: tuple[int, ...] = (3301, 3303 if _NE.search(address1) else 3302)
    else:
        ids = ZIP_LEGISLATORS.get(zip5, ())
    return [LEGISLATORS[i] for i in ids]


def campaign(campaign_id: int) -> SandboxCampaign | None:
    """A campaign by id."""
    return next((c for c in CAMPAIGNS if c.id == campaign_id), None)
