"""WeVote sandbox state and the pieces its handlers share (device ids, voters, SMS rows)."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.common import ServiceState

TRIES_PER_CODE = 5
TRIES_ALL_TIME = 25
CODE_LIFETIME = 24 * 3600
BYPASS_NUMBER = "+1 808-935-8555"  # WeVote's app-review number and its fixed code
BYPASS_CODE = "123456"
TRUTHY = ("true", "True", "TRUE", "1")


@dataclass
class Device:
    """A VoterDeviceLink: the voter, the current code and its counters."""

    voter_id: int | None = None
    code: str | None = None
    code_at: float = 0.0
    code_row: str | None = None
    failures_for_code: int = 0
    failures_total: int = 0


@dataclass
class WeVoteState(ServiceState):
    """Devices, voters, SMS rows and codes (`last_code[E.164]`) of this sandbox."""

    devices: dict[str, Device] = field(default_factory=dict)
    voters: dict[int, str] = field(default_factory=dict)  # voter_id -> voter_we_vote_id
    sms_rows: list[dict[str, Any]] = field(default_factory=list)
    last_code: dict[str, str] = field(default_factory=dict)
    codes_sent: list[tuple[str, str]] = field(default_factory=list)  # (E.164, code)

    def fresh_code(self, device: Device, number: str) -> str:
        """Reuse a code younger than a day with tries left, else make a new one."""
        fresh = device.code is not None and time.time() - device.code_at < CODE_LIFETIME
        if device.code is not None and fresh and device.failures_for_code < TRIES_PER_CODE:
            return device.code
        device.failures_for_code = 0
        device.code_at = time.time()
        if number == BYPASS_NUMBER:
            return BYPASS_CODE
        return "".join(secrets.choice(string.digits) for _ in range(6))


WEVOTE = web.AppKey("wevote_sandbox", WeVoteState)


def new_device_id() -> str:
    """88 characters of [A-Za-z0-9], like WeVote's generator."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(88))


def device_id(request: web.Request) -> str:
    """Header `x-header-deviceid`, then GET `voter_device_id` (WeVote's order)."""
    return request.headers.get("x-header-deviceid") or request.query.get("voter_device_id", "")


def valid_device_id(value: str) -> bool:
    """WeVote's check: strictly between 70 and 90 characters."""
    return 70 < len(value) < 90


def reply(status: str, success: bool, **fields: Any) -> web.Response:
    """WeVote always answers HTTP 200 with JSON; failures are `success: false`."""
    return web.json_response({"status": status, "success": success, **fields})


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """An SMS row as `sms_phone_number_list[]` shows it."""
    return {
        "normalized_sms_phone_number": row["normalized"],
        "primary_sms_phone_number": row["verified"],
        "sms_permanent_bounce": False,
        "sms_ownership_is_verified": row["verified"],
        "voter_we_vote_id": row["voter_we_vote_id"],
        "sms_we_vote_id": row["sms_we_vote_id"],
    }
