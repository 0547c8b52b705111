"""Phone2Action request and answer models (REFERENCE section 3).

Answers accept unknown fields: P2A envelopes differ by endpoint and change over time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.upstream.base import flag
from bot.upstream.phone_formats import p2a_phone


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AdvocateInput(BaseModel):
    """The fields we create or update an advocate with (phone given as E.164)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    campaigns: list[int] = Field(min_length=1)
    phone: str | None = None
    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    zip5: str | None = Field(None, pattern=r"^\d{5}$")
    sms_optin: bool | None = None
    sms_optin_confirmed: bool | None = None
    sms_optout: bool | None = None
    p2asource: str | None = None
    tags: list[str] = Field(default_factory=list)
    fields: dict[int, str] = Field(default_factory=dict)
    """Custom fields by their numeric ID (Organization Settings), sent as `fields[ID]`."""

    def form(self, advocate_id: int | None = None) -> list[tuple[str, str]]:
        """The documented form encoding: `campaigns[]=`, `phone` as 10 digits, 1/0 flags."""
        items: list[tuple[str, str]] = []
        if advocate_id is not None:
            items.append(("advocateid", str(advocate_id)))
        items += [("campaigns[]", str(c)) for c in self.campaigns]
        if self.phone:
            items.append(("phone", p2a_phone(self.phone)))
        plain = {
            "email": self.email, "firstname": self.firstname, "lastname": self.lastname,
            "address1": self.address1, "address2": self.address2, "city": self.city,
            "state": self.state, "zip5": self.zip5, "p2asource": self.p2asource,
            "smsOptin": flag(self.sms_optin), "smsOptinConfirmed": flag(self.sms_optin_confirmed),
            "smsOptout": flag(self.sms_optout),
        }  # fmt: skip
        items += [(k, v) for k, v in plain.items() if v is not None]
        items += [("tags[]", t) for t in self.tags]
        items += [(f"fields[{k}]", v) for k, v in sorted(self.fields.items())]
        return items


class AdvocateSaved(_Answer):
    """`POST /advocates` answer: `{success, error, type, advocateid}`."""

    success: int
    error: str | None = None
    type: str | None = None
    advocateid: int | None = None


class AdvocatePhone(_Answer):
    """One `phones[]` entry of an advocate."""

    id: int | None = None
    address: str | None = None
    subscribed: bool | None = None


class Membership(_Answer):
    """One `memberships[]` entry: the advocate belongs to `campaignid`."""

    campaignid: int


class Advocate(_Answer):
    """An advocate as `GET /advocates` lists it."""

    id: int
    firstname: str | None = None
    lastname: str | None = None
    address: dict[str, Any] | None = None
    phones: list[AdvocatePhone] = Field(default_factory=list)
    memberships: list[Membership] = Field(default_factory=list)


class AdvocatePage(_Answer):
    """`{data: [advocate...], pagination: {...}}`."""

    data: list[Advocate]


class CampaignContent(_Answer):
    """A campaign's texts (HTML in production)."""

    summary: str | None = None
    call_to_action: str | None = None
    thank_you: str | None = None


class Campaign(_Answer):
    """One element of the bare `GET /campaigns` array."""

    id: int
    name: str
    display_name: str | None = None
    subtitle: str | None = None
    type: str | None = None
    link: str | None = None
    content: CampaignContent = Field(default_factory=CampaignContent)


class Legislator(_Answer):
    """A legislator, shaped like `data.leg` of a connection."""

    id: int
    level: str | None = None
    chamber: str | None = None
    state: str | None = None
    district: str | None = None
    title: str | None = None
    name_full: str
    name_first: str | None = None
    name_last: str | None = None
    party: str | None = None


class ConnectionData(_Answer):
    """`data` of a connection answer: new connection ids and the legislators called."""

    ids: list[int] = Field(default_factory=list)
    leg: dict[str, Legislator] = Field(default_factory=dict)


class ConnectionCreated(_Answer):
    """`POST /connections` answer: `{success, error, data: {ids, leg}}`."""

    success: int
    error: str | None = None
    data: ConnectionData | None = None


class Connection(_Answer):
    """One connection as `GET /connections` lists it (keyed by its id)."""

    id: int = 0
    campaign_id: int
    advocate_id: int
    legislator_id: int | None = None
    legislator_name: str | None = None
    type: str
    status: str | None = None
    created_at: int | None = None
    updated_at: int | None = None

    @field_validator("type")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()
