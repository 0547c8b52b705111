"""WeVote sandbox: deviceIdGenerate, voterCreate, voterSMSPhoneNumberSave (sign-in code),
voterVerifySecretCode and voterSMSPhoneNumberRetrieve, as WeVote's code behaves (REFERENCE 1).

Always HTTP 200 with `success`/`status` tokens, except an unparseable phone (HTTP 500, as the
real view crashes) and magic kinds `500`/`502`/`503`/`504`/`429` (infrastructure answers);
kind `twilio` makes the code send fail (`TWILIO_ERROR_...`). WeVote checks no `api_key`
(REFERENCE 1.1), so neither does this sandbox. State: `WeVoteState.last_code[E.164]`.
"""

from __future__ import annotations

import phonenumbers
from aiohttp import web

from bot.sandbox.common import CallLog, middleware
from bot.sandbox.wevote_state import (
    TRIES_ALL_TIME,
    TRUTHY,
    WEVOTE,
    Device,
    WeVoteState,
    device_id,
    new_device_id,
    public_row,
    reply,
    valid_device_id,
)
from bot.sandbox.wevote_verify import retrieve, verify

SERVICE = "wevote"
__all__ = ["WEVOTE", "WeVoteState", "create_app"]


def fail(request: web.Request, kind: str) -> web.Response | None:
    """Infrastructure errors (not WeVote's own JSON), a failing Twilio send (`twilio`), and
    a device locked after too many failures (`locked`)."""
    if kind in ("429", "500", "502", "503", "504"):
        return html_error(int(kind))
    if kind == "twilio" and request.path.endswith("/voterSMSPhoneNumberSave/"):
        return reply("TWILIO_ERROR_21211 MSG_invalid_to COULD_NOT_SEND_VIA_TWILIO ", False,
                     sign_in_code_sms_sent=False)  # fmt: skip
    if kind == "locked" and request.path.endswith("/voterSMSPhoneNumberSave/"):
        # What WeVote answers once a device failed too often (REFERENCE 1.5).
        return reply("SECRET_CODE_SYSTEM_LOCKED-SMS_SEND ", True, sign_in_code_sms_sent=False,
                     secret_code_system_locked_for_this_voter_device_id=True)
    return None


def html_error(status: int) -> web.Response:
    """An infrastructure (or crash) page: not WeVote's JSON."""
    return web.Response(status=status, text=f"<h1>Error {status}</h1>", content_type="text/html")


def no_auth(request: web.Request, raw: bytes) -> web.Response | None:
    """WeVote reads no api_key anywhere (REFERENCE 1.1)."""
    return None


async def generate(request: web.Request) -> web.Response:
    """deviceIdGenerate: a device id, no voter."""
    return reply("DEVICE_ID_GENERATE_VALUE_DOES_NOT_EXIST", True, voter_device_id=new_device_id())


async def create_voter(request: web.Request) -> web.Response:
    """voterCreate: a voter for the device (generating a device id when none is sent)."""
    state = request.app[WEVOTE]
    device = device_id(request) or new_device_id()
    if not valid_device_id(device):
        return reply("VALID_VOTER_DEVICE_ID_MISSING ", False, voter_device_id="", voter_id=0)
    link = state.devices.setdefault(device, Device())
    status = "VOTER_ALREADY_EXISTS"
    if link.voter_id is None:
        link.voter_id = len(state.voters) + 1
        state.voters[link.voter_id] = f"wv02voter{link.voter_id}"
        status = "VOTER_CREATED"
    return reply(status, True, voter_device_id=device, voter_id=link.voter_id,
                 voter_we_vote_id=state.voters[link.voter_id])  # fmt: skip


async def save_phone(request: web.Request) -> web.Response:  # noqa: PLR0911
    """voterSMSPhoneNumberSave: a NEW row per call without `sms_we_vote_id`; sends the
    sign-in code when `send_sign_in_code_sms` is truthy."""
    state, query = request.app[WEVOTE], request.query
    device = device_id(request)
    base = {"voter_device_id": device, "sms_phone_number": query.get("sms_phone_number", ""),
            "sign_in_code_sms_sent": False, "link_to_sign_in_sms_sent": False,
            "verification_sms_sent": False, "sms_phone_number_created": False}  # fmt: skip
    if not valid_device_id(device):
        return reply("VALID_VOTER_DEVICE_ID_MISSING ", False, **base)
    link = state.devices.get(device)
    if link is None or link.voter_id is None:
        return reply("VOTER_NOT_FOUND_FROM_VOTER_DEVICE_ID ", False, **base)
    voter = state.voters[link.voter_id]
    status, created = "", False
    if query.get("sms_we_vote_id"):
        wanted = query["sms_we_vote_id"]
        row = next((r for r in state.sms_rows if r["sms_we_vote_id"] == wanted), None)
        if row is None:
            return reply("SMS_NOT_FOUND_FROM_SMS_WE_VOTE_ID ", False, **base)
    elif query.get("sms_phone_number"):
        try:
            number = phonenumbers.parse(query["sms_phone_number"], "US")
        except phonenumbers.NumberParseException:
            return html_error(500)  # the real view does not catch NumberParseException
        if not phonenumbers.is_valid_number(number):
            return reply("VOTER_SMS_PHONE_NUMBER_SAVE_MISSING_VALID_SMS ", False, **base)
        international = phonenumbers.PhoneNumberFormat.INTERNATIONAL
        normalized = phonenumbers.format_number(number, international)
        row = {"sms_we_vote_id": f"wv02sms{len(state.sms_rows) + 1}", "normalized": normalized,
               "voter_we_vote_id": voter, "verified": False}  # fmt: skip
        state.sms_rows.append(row)
        status, created = "SMS_PHONE_NUMBER_FOR_VOTER_CREATED ", True
    else:
        return reply("VOTER_SMS_PHONE_NUMBER_SAVE_MISSING_SMS ", False, **base)
    owned = any(r["verified"] and r["normalized"] == row["normalized"] and
                r["voter_we_vote_id"] != voter for r in state.sms_rows)  # fmt: skip
    sent, locked, success = False, link.failures_total > TRIES_ALL_TIME, True
    if query.get("send_sign_in_code_sms") in TRUTHY and locked:
        pass  # as WeVote's save path: only the flag says so, no status text, no code sent
    elif query.get("send_sign_in_code_sms") in TRUTHY:
        if not row["normalized"].startswith("+1 "):
            status, success = status + "SENDING_VIA_TWILIO_INVALID_TO_NUMBER ", False
        else:
            link.code = state.fresh_code(link, row["normalized"])
            link.code_row = row["sms_we_vote_id"]
            e164 = "+" + "".join(ch for ch in row["normalized"] if ch.isdigit())
            state.last_code[e164] = link.code
            state.codes_sent.append((e164, link.code))
            status, sent = status + "RENDERED_TEXT_TEMPLATE SENT_VIA_TWILIO ", True
    mine = [public_row(r) for r in state.sms_rows if r["voter_we_vote_id"] == voter]
    return reply(status, success, **base | {
        "sms_phone_number_we_vote_id": row["sms_we_vote_id"],
        "sms_phone_number_saved_we_vote_id": row["sms_we_vote_id"] if created else "",
        "sms_phone_number_created": created, "sms_phone_number_deleted": False,
        "sms_phone_number_already_owned_by_other_voter": owned,
        "sms_phone_number_already_owned_by_this_voter": False,
        "sign_in_code_sms_sent": sent, "make_primary_sms_phone_number": False,
        "delete_sms": False, "sms_phone_number_found": True,
        "sms_phone_number_list_found": bool(mine), "sms_phone_number_list": mine,
        "secret_code_system_locked_for_this_voter_device_id": locked,
    })  # fmt: skip


def create_app(state: WeVoteState, log: CallLog, delay: float) -> web.Application:
    """The WeVote sub-app (mounted at `/wevote`); every path keeps its trailing slash."""
    guard = middleware(SERVICE, state, log=log, delay=delay, check_auth=no_auth, fail=fail)
    app = web.Application(middlewares=[guard])
    app[WEVOTE] = state
    app.router.add_get("/deviceIdGenerate/", generate)
    app.router.add_get("/voterCreate/", create_voter)
    app.router.add_get("/voterSMSPhoneNumberSave/", save_phone)
    app.router.add_get("/voterVerifySecretCode/", verify)
    app.router.add_get("/voterSMSPhoneNumberRetrieve/", retrieve)
    return app
