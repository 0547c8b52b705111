"""Phone2Action sandbox: advocates (upsert, find by phone), campaigns, legislators, call
connections; Basic auth `APP_ID:APP_KEY`; errors as `{success: 0, error}` like the real API.

State: `P2AState.advocates` (id -> advocate JSON), `.connections` (id -> connection JSON).
Accepts form bodies (`campaigns[]=`, `type[]=`) and JSON bodies, as the real service does.
"""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from bot.sandbox import p2a_actions
from bot.sandbox.common import CallLog, middleware
from bot.sandbox.p2a_state import (
    P2A,
    SERVICE,
    P2AState,
    check_auth,
    digits,
    fail,
    fields,
    find_by_phone,
    refuse,
)

__all__ = ["P2A", "P2AState", "create_app"]


def validate(state: P2AState, body: dict[str, Any]) -> str | None:
    """The documented field rules of `POST /advocates`; an error text or None."""
    campaigns = body.get("campaigns") or []
    phone, email = body.get("phone"), body.get("email")
    error = None
    if not campaigns and not body.get("advocateid"):
        error = "campaigns is required"
    elif any(state.campaign(int(c)) is None for c in campaigns if str(c).isdigit()):
        error = "Invalid campaign ID"
    elif not phone and not email and not body.get("advocateid"):
        error = "One of email or phone is required"
    elif phone and len(digits(phone)) != 10:
        error = "phone must be a 10-digit US number"
    elif body.get("zip5") and not str(body["zip5"]).isdigit():
        error = "zip5 must be a 5-digit ZIP code"
    elif str(body.get("smsOptin", "0")) == "1" and not (phone and campaigns):
        error = "smsOptin requires phone and campaigns"
    return error


CUSTOM_FIELD = re.compile(r"^fields\[([0-9]+)\]$")


def apply(state: P2AState, advocate: dict[str, Any], body: dict[str, Any]) -> None:
    """Write the posted fields onto an advocate (the documented update semantics)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for key in ("firstname", "lastname", "prefix"):
        if key in body:
            advocate[key] = body[key]
    address = advocate["address"]
    for src, dst in (("address1", "street1"), ("address2", "street2"), ("city", "city"),
                     ("state", "state"), ("zip5", "zip5")):  # fmt: skip
        if src in body:
            address[dst] = body[src]
    if body.get("phone"):
        advocate["phones"] = [{"id": advocate["id"], "address": f"+1{digits(body['phone'])}",
                               "subscribed": False, "valid": True}]  # fmt: skip
    members = {m["campaignid"] for m in advocate["memberships"]}
    for cid in (int(c) for c in body.get("campaigns", [])):
        if cid not in members:
            campaign = state.campaign(cid)
            name = campaign.name if campaign else ""
            advocate["memberships"].append(
                {"id": state.next_id + cid, "campaignid": cid, "name": name, "created_at": now}
            )
    custom = {int(m.group(1)): str(v) for k, v in body.items()
              if (m := CUSTOM_FIELD.match(k))}
    if custom:  # `fields[ID]=value`: custom fields, kept as the advocate's `fields[]`
        kept = {f["id"]: f["value"] for f in advocate.get("fields", [])} | custom
        advocate["fields"] = [{"id": i, "value": v} for i, v in sorted(kept.items())]
    if str(body.get("smsOptout", "0")) == "1":
        state.opted_out.add(advocate["id"])
    subscribed = str(body.get("smsOptin", "0")) == "1" and advocate["id"] not in state.opted_out
    for phone in advocate["phones"]:
        phone["subscribed"] = False if advocate["id"] in state.opted_out else (
            subscribed or phone["subscribed"])  # fmt: skip
    advocate["updated_at"] = now


async def save_advocate(request: web.Request) -> web.Response:
    """POST /advocates: create, or update by `advocateid` (or an existing phone)."""
    state = request.app[P2A]
    body = await fields(request)
    error = validate(state, body)
    if error:
        return refuse(400, error)
    if body.get("advocateid"):
        advocate = state.advocates.get(int(digits(body["advocateid"]) or 0))
        if advocate is None:
            return refuse(400, "Advocate not found")
        kind = "update"
    else:
        advocate = find_by_phone(state, body["phone"]) if body.get("phone") else None
        kind = "update" if advocate else "create"
    if advocate is None:
        state.next_id += 1
        advocate = {"id": state.next_id, "firstname": "", "lastname": "", "stage": "Lead",
                    "address": {}, "phones": [], "emails": [], "memberships": [],
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        state.advocates[advocate["id"]] = advocate
    apply(state, advocate, body)
    return web.json_response(
        {"success": 1, "error": "", "type": kind, "advocateid": advocate["id"]}
    )


async def list_advocates(request: web.Request) -> web.Response:
    """GET /advocates?phone=&email=&campaignid=&page=: one page of 100."""
    state = request.app[P2A]
    found = list(state.advocates.values())
    if "phone" in request.query:
        match = find_by_phone(state, request.query["phone"])
        found = [match] if match else []
    if "campaignid" in request.query:
        cid = int(digits(request.query["campaignid"]) or 0)
        found = [a for a in found if any(m["campaignid"] == cid for m in a["memberships"])]
    page = {"count": len(found), "per_page": 100, "current_page": 1, "next_url": None}
    return web.json_response({"data": found[:100], "pagination": page})


def create_app(state: P2AState, log: CallLog, delay: float) -> web.Application:
    """The P2A sub-app (mounted at `/p2a`)."""
    guard = middleware(SERVICE, state, log=log, delay=delay, check_auth=check_auth, fail=fail)
    app = web.Application(middlewares=[guard])
    app[P2A] = state
    app.router.add_post("/advocates", save_advocate)
    app.router.add_get("/advocates", list_advocates)
    p2a_actions.add_routes(app)
    return app
