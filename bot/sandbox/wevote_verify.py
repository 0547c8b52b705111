"""WeVote sandbox: voterVerifySecretCode and voterSMSPhoneNumberRetrieve (REFERENCE 1.6)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from bot.sandbox.wevote_state import (
    CODE_LIFETIME,
    TRIES_ALL_TIME,
    TRIES_PER_CODE,
    TRUTHY,
    WEVOTE,
    device_id,
    public_row,
    reply,
    valid_device_id,
)


def _result(status: str, success: bool, **flags: Any) -> web.Response:
    fields = {"incorrect_secret_code_entered": False, "secret_code_verified": False,
              "number_of_tries_remaining_for_this_code": 0, "voter_must_request_new_code": False,
              "secret_code_system_locked_for_this_voter_device_id": False,
              "merge_from_voter_we_vote_id": "", "merge_to_voter_we_vote_id": ""}  # fmt: skip
    return reply(status, success, **fields | flags)


async def verify(request: web.Request) -> web.Response:  # noqa: PLR0911
    """A code is single-use; every failure counts per code and for the device's lifetime."""
    state, query = request.app[WEVOTE], request.query
    device = device_id(request)
    if not valid_device_id(device):
        return _result("VALID_VOTER_DEVICE_ID_MISSING ", False)
    link = state.devices.get(device)
    if link is None or link.voter_id is None:
        return _result("VOTER_NOT_FOUND_FROM_VOTER_DEVICE_ID ", False)
    if query.get("code_sent_to_sms_phone_number") not in TRUTHY or not link.code:
        return _result("VOTER_DEVICE_LINK_MISSING_SECRET_CODE ", False)
    if link.failures_total > TRIES_ALL_TIME:
        return _result("SECRET_CODE_SYSTEM_LOCKED-VERIFY_CODE ", False,
                       secret_code_system_locked_for_this_voter_device_id=True)  # fmt: skip
    if time.time() - link.code_at > CODE_LIFETIME:
        return _result("SECRET_CODE_HAS_EXPIRED ", False, voter_must_request_new_code=True)
    if link.failures_for_code >= TRIES_PER_CODE:
        return _result("THIS_CODE_HAS_EXCEEDED_ALLOWED_TRIES "
                       "VOTER_DEVICE_LINK_NO_MORE_TRIES_REMAINING_FOR_THIS_CODE ", False,
                       voter_must_request_new_code=True)  # fmt: skip
    if query.get("secret_code") != link.code:
        link.failures_for_code += 1
        link.failures_total += 1
        left = TRIES_PER_CODE - link.failures_for_code
        return _result("SECRET_CODE_DOES_NOT_MATCH ", True, incorrect_secret_code_entered=True,
                       number_of_tries_remaining_for_this_code=left,
                       voter_must_request_new_code=left == 0)  # fmt: skip
    voter = state.voters[link.voter_id]
    for row in state.sms_rows:
        if row["sms_we_vote_id"] == link.code_row:
            row["verified"], row["voter_we_vote_id"] = True, voter
    link.code, link.code_row, link.failures_for_code = None, None, 0
    return _result("VALID_SECRET_CODE_FOUND ", True, secret_code_verified=True,
                   number_of_tries_remaining_for_this_code=TRIES_PER_CODE)  # fmt: skip


async def retrieve(request: web.Request) -> web.Response:
    """The voter's rows, duplicates merged (one per number, a verified one kept)."""
    state = request.app[WEVOTE]
    device = device_id(request)
    link = state.devices.get(device) if valid_device_id(device) else None
    if link is None or link.voter_id is None:
        return reply("VOTER_NOT_FOUND_FROM_VOTER_DEVICE_ID ", False, voter_device_id=device,
                     sms_phone_number_list_found=False, sms_phone_number_list=[])  # fmt: skip
    voter = state.voters[link.voter_id]
    keep: dict[str, dict[str, Any]] = {}
    for row in state.sms_rows:
        if row["voter_we_vote_id"] == voter:
            best = keep.get(row["normalized"])
            if best is None or (row["verified"] and not best["verified"]):
                keep[row["normalized"]] = row
    state.sms_rows = [r for r in state.sms_rows if r["voter_we_vote_id"] != voter]
    state.sms_rows += keep.values()
    rows = [public_row(r) for r in keep.values()]
    return reply("SMS_PHONE_NUMBER_LIST_RETRIEVED ", True, voter_device_id=device,
                 sms_phone_number_list_found=bool(rows), sms_phone_number_list=rows)  # fmt: skip
