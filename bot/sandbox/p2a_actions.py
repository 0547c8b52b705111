"""Phone2Action sandbox, part two: campaigns, a campaign's legislators, call connections."""

from __future__ import annotations

import time

from aiohttp import web

from bot.sandbox import data
from bot.sandbox.p2a_state import P2A, digits, fields, refuse


def _targets(campaign: data.SandboxCampaign, zip5: str, address1: str | None) -> list[dict[
        str, object]]:  # fmt: skip
    """The legislators of an address that a campaign targets."""
    return [leg for leg in data.legislators_for(zip5, address1) if leg["level"] in campaign.levels]


async def list_campaigns(request: web.Request) -> web.Response:
    """GET /campaigns?campaignid=&state=&zip=&includeGeneric=&includePrivate= (a bare array)."""
    query = request.query
    state = query.get("state") or data.ZIP_STATES.get(query.get("zip", ""), "")
    filtered = "state" in query or "zip" in query
    generic = query.get("includeGeneric", "false").lower() == "true"
    private = query.get("includePrivate", "false").lower() == "true"
    found = []
    for campaign in request.app[P2A].campaigns:
        if not campaign.public and not private:
            continue
        if "campaignid" in query and str(campaign.id) != query["campaignid"]:
            continue
        if filtered and not (campaign.state == state or (generic and campaign.state is None)):
            continue
        found.append(campaign.as_json())
    return web.json_response(found)


async def list_legislators(request: web.Request) -> web.Response:
    """GET /legislators?campaignid=&zip5=&address1=: all three required (REFERENCE 8)."""
    query = request.query
    campaign = request.app[P2A].campaign(int(digits(query.get("campaignid")) or 0))
    zip5 = query.get("zip5", "")
    if campaign is None:
        return refuse(400, "Invalid campaign ID")
    if len(zip5) != 5 or not zip5.isdigit():
        return refuse(422, "zip5 must be a 5-digit ZIP code")
    if not query.get("address1", "").strip():
        return refuse(422, "address1 is required")
    try:
        return web.json_response(_targets(campaign, zip5, query.get("address1")))
    except data.AddressRequired:
        return refuse(422, f"address1 is required: ZIP {zip5} spans more than one district")


async def create_connection(request: web.Request) -> web.Response:
    """POST /connections: needs a member advocate with a phone for `call`."""
    state = request.app[P2A]
    body = await fields(request)
    advocate = state.advocates.get(int(digits(body.get("advocateid")) or 0))
    campaign = state.campaign(int(digits(body.get("campaignid")) or 0))
    types = body.get("type") or []
    types = [types] if isinstance(types, str) else types
    if advocate is None:
        return refuse(400, "Advocate not found")
    if campaign is None or campaign.id not in [m["campaignid"] for m in advocate["memberships"]]:
        return refuse(400, "The advocate has no membership for this campaign")
    if not types or any(t not in ("call", "email", "tweet") for t in types):
        return refuse(400, "type must be one or more of: tweet, email, call")
    if "call" in types and not advocate["phones"]:
        return refuse(400, "A valid phone number is required for call connections")
    address = advocate["address"]
    try:
        legs = _targets(campaign, str(address.get("zip5", "")), address.get("street1"))
    except data.AddressRequired:
        legs = []
    if not legs:
        return refuse(400, "No legislators found for this advocate's address")
    now, ids = int(time.time()), []
    for leg in legs:
        for kind in types:
            state.next_id += 1
            ids.append(state.next_id)
            state.connections[state.next_id] = {
                "campaign_id": campaign.id, "advocate_id": advocate["id"],
                "advocate_name": f"{advocate['firstname']} {advocate['lastname']}".strip(),
                "legislator_id": leg["id"], "legislator_name": leg["name_full"],
                "type": kind.upper(), "status": "INITIATED", "updated_at": now, "created_at": now,
            }  # fmt: skip
    if "call" in types:
        state.calls.append(advocate["id"])
    leg_map = {str(leg["id"]): leg for leg in legs}
    return web.json_response({"success": 1, "error": None, "data": {"ids": ids, "leg": leg_map}})


async def list_connections(request: web.Request) -> web.Response:
    """GET /connections?campaign_id=&updated_at=&page=&per_page= (a map keyed by id)."""
    query = request.query
    missing = [k for k in ("campaign_id", "updated_at", "page", "per_page") if k not in query]
    if missing:
        return refuse(422, f"Missing required parameter: {missing[0]}")
    per_page, page = int(digits(query["per_page"]) or 0), int(digits(query["page"]) or 0)
    if not 25 <= per_page <= 100 or page < 1:
        return refuse(422, "per_page must be 25-100 and page at least 1")
    cid, since = int(digits(query["campaign_id"]) or 0), int(digits(query["updated_at"]) or 0)
    rows = [(k, v) for k, v in request.app[P2A].connections.items()
            if v["campaign_id"] == cid and v["updated_at"] >= since]  # fmt: skip
    chunk = rows[(page - 1) * per_page : page * per_page]
    return web.json_response({str(k): v for k, v in chunk})


def add_routes(app: web.Application) -> None:
    """Register this module's routes on the P2A sub-app."""
    app.router.add_get("/campaigns", list_campaigns)
    app.router.add_get("/legislators", list_legislators)
    app.router.add_post("/connections", create_connection)
    app.router.add_get("/connections", list_connections)
