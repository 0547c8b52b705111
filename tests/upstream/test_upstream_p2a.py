"""Phone2Action client against its sandbox: advocates, campaigns, legislators, call
connections, the outcome lookup after an unclear call, and every error."""

from __future__ import annotations

import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.sandbox import SANDBOX, Sandbox, create_sandbox_app
from bot.sandbox import credentials as cred
from bot.upstream import Upstreams
from bot.upstream.errors import (
    OutcomeUnknown,
    UnsupportedPhone,
    UpstreamAuthFailed,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bot.upstream.phone2action import Phone2ActionClient
from bot.upstream.phone2action_models import AdvocateInput

from .conftest import ServerFactory

PHONE = "+12025550100"


def voter(**extra: object) -> AdvocateInput:
    fields: dict[str, object] = {
        "campaigns": [1001],
        "phone": PHONE,
        "firstname": "Ada",
        "address1": "1800 Baltimore Avenue",
        "zip5": "64108",
        "sms_optin": True,
    }
    return AdvocateInput.model_validate(fields | extra)


async def test_upsert_creates_once_then_updates(upstreams: Upstreams, sandbox: Sandbox) -> None:
    first = await upstreams.p2a.upsert_advocate(voter(), idempotency_key="eff-1")
    second = await upstreams.p2a.upsert_advocate(voter(lastname="Lovelace", campaigns=[1004]))
    assert first == second
    assert list(sandbox.p2a.advocates) == [first]
    assert sandbox.log == ["GET /p2a/advocates", "POST /p2a/advocates"] * 2
    create, update = sandbox.log.requests[1], sandbox.log.requests[3]
    assert sandbox.log.requests[0].query == {"phone": "2025550100"}
    assert create.body == {
        "campaigns[]": "1001",
        "phone": "2025550100",
        "firstname": "Ada",
        "address1": "1800 Baltimore Avenue",
        "zip5": "64108",
        "smsOptin": "1",
    }
    assert update.body["advocateid"] == str(first)
    assert update.headers["Authorization"].startswith("Basic ")
    advocate = await upstreams.p2a.find_advocate(PHONE)
    assert advocate is not None and advocate.lastname == "Lovelace"
    assert {m.campaignid for m in advocate.memberships} == {1001, 1004}
    assert advocate.phones[0].address == PHONE and advocate.phones[0].subscribed


async def test_sms_optout_cannot_be_undone(upstreams: Upstreams) -> None:
    advocate_id = await upstreams.p2a.upsert_advocate(voter())
    await upstreams.p2a.save_advocate(
        voter(sms_optin=None, sms_optout=True), advocate_id=advocate_id
    )
    await upstreams.p2a.save_advocate(voter(), advocate_id=advocate_id)
    advocate = await upstreams.p2a.find_advocate(PHONE)
    assert advocate is not None and advocate.phones[0].subscribed is False


async def test_non_us_phone_never_leaves(upstreams: Upstreams, sandbox: Sandbox) -> None:
    with pytest.raises(UnsupportedPhone):
        await upstreams.p2a.upsert_advocate(voter(phone="+442071838750"))
    assert sandbox.log == []


async def test_business_refusal(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.p2a.save_advocate(voter(campaigns=[999]))
    assert info.value.status == 400 and "campaign" in info.value.detail


@pytest.mark.parametrize(
    ("state", "zip5", "generic", "ids"),
    [
        (None, None, True, [1001, 1002, 1003, 1004]),
        ("CA", None, False, [1003]),
        ("CA", None, True, [1001, 1003]),
        (None, "20001", True, [1001, 1002]),
        (None, "99999", True, [1001]),
    ],
)
async def test_list_campaigns(
    upstreams: Upstreams, state: str | None, zip5: str | None, generic: bool, ids: list[int]
) -> None:
    campaigns = await upstreams.p2a.list_campaigns(state=state, zip5=zip5, include_generic=generic)
    assert [c.id for c in campaigns] == ids
    assert all(c.content.call_to_action for c in campaigns)


async def test_legislators_by_address(upstreams: Upstreams, sandbox: Sandbox) -> None:
    legs = await upstreams.p2a.list_legislators(1001, zip5="64108", address1="1800 Baltimore Ave")
    assert [leg.name_full for leg in legs] == ["Jordan Avery", "Casey Morgan", "Riley Chen"]
    assert sandbox.log == ["GET /p2a/legislators"]
    assert sandbox.log.last().query == {
        "campaignid": "1001",
        "zip5": "64108",
        "address1": "1800 Baltimore Ave",
    }


async def test_split_zip_needs_a_street_address(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.p2a.list_legislators(1002, zip5="20001")
    assert info.value.status == 422 and "address1" in info.value.detail
    nw = await upstreams.p2a.list_legislators(1002, zip5="20001", address1="901 K St NW")
    ne = await upstreams.p2a.list_legislators(1002, zip5="20001", address1="200 K St NE")
    assert [leg.district for leg in nw] == ["WARD 2"]
    assert [leg.district for leg in ne] == ["WARD 6"]


async def test_zip_without_legislators(upstreams: Upstreams) -> None:
    assert await upstreams.p2a.list_legislators(1001, zip5="99999", address1="1 Main St") == []


async def test_call_connection_and_its_lookup(upstreams: Upstreams, sandbox: Sandbox) -> None:
    since = int(time.time()) - 1
    advocate_id = await upstreams.p2a.upsert_advocate(voter())
    made = await upstreams.p2a.create_call(advocate_id, 1001, idempotency_key="eff-3")
    assert sorted(made.leg) == ["3001", "3002", "3003"] and len(made.ids) == 3
    assert sandbox.log[-1] == "POST /p2a/connections"
    assert sandbox.log.last().body == {
        "advocateid": str(advocate_id),
        "campaignid": "1001",
        "type[]": "call",
    }
    calls = await upstreams.p2a.find_calls(advocate_id, 1001, since=since)
    assert sorted(c.id for c in calls) == sorted(made.ids)
    assert {c.type for c in calls} == {"CALL"}


async def test_call_refused_without_membership(upstreams: Upstreams) -> None:
    advocate_id = await upstreams.p2a.upsert_advocate(voter())
    with pytest.raises(UpstreamRejected) as info:
        await upstreams.p2a.create_call(advocate_id, 1003)
    assert "membership" in info.value.detail


async def test_unclear_call_is_looked_up_not_retried(
    aiohttp_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    """The answer is lost (the sandbox answers after the client gave up): the call did
    happen, the client says OutcomeUnknown, and `find_calls` shows it."""
    # Every answer comes 0.05 s after the request: the hasty client's 0.02 s timer, armed
    # before the request left, always fires first (one event loop runs both), on any load.
    server: TestServer = await aiohttp_server(create_sandbox_app(delay=0.05))
    base = str(server.make_url("/p2a"))
    patient = Phone2ActionClient(http, base, cred.P2A_APP_ID, cred.P2A_APP_KEY, timeout=5)
    hasty = Phone2ActionClient(http, base, cred.P2A_APP_ID, cred.P2A_APP_KEY, timeout=0.02)
    advocate_id = await patient.upsert_advocate(voter())
    with pytest.raises(OutcomeUnknown):
        await hasty.create_call(advocate_id, 1001)
    calls = await patient.find_calls(advocate_id, 1001, since=0)
    assert len(calls) == 3
    assert server.app[SANDBOX].log.count("POST /p2a/connections") == 1


@pytest.mark.parametrize(
    ("route", "kind", "call", "error"),
    [
        ("GET /advocates", 503, "find", UpstreamUnavailable),
        ("GET /advocates", 500, "find", UpstreamUnavailable),  # idempotent: retryable
        ("GET /advocates", "timeout", "find", UpstreamUnavailable),
        ("GET /advocates", 429, "find", UpstreamRateLimited),
        ("POST /advocates", 503, "save", UpstreamUnavailable),
        ("POST /advocates", "timeout", "save", UpstreamUnavailable),  # an upsert: retryable
        ("POST /connections", 500, "call", OutcomeUnknown),
        ("POST /connections", "timeout", "call", OutcomeUnknown),
        ("POST /connections", 503, "call", UpstreamUnavailable),
        ("POST /connections", 422, "call", UpstreamRejected),
    ],
)
async def test_errors(
    upstreams: Upstreams,
    hasty: Upstreams,
    sandbox: Sandbox,
    *,
    route: str,
    kind: int | str,
    call: str,
    error: type[Exception],
) -> None:
    advocate_id = await upstreams.p2a.save_advocate(voter())
    sandbox.p2a.fail_next[route] = [kind]
    failing = (hasty if kind == "timeout" else upstreams).p2a
    with pytest.raises(error):
        if call == "find":
            await failing.find_advocate(PHONE)
        elif call == "save":
            await failing.save_advocate(voter())
        else:
            await failing.create_call(advocate_id, 1001)


async def test_fail_twice_then_succeed(upstreams: Upstreams, sandbox: Sandbox) -> None:
    sandbox.p2a.fail_next["GET /advocates"] = [503, 503]
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            await upstreams.p2a.find_advocate(PHONE)
    assert await upstreams.p2a.find_advocate(PHONE) is None
    assert sandbox.log == ["GET /p2a/advocates"] * 3


async def test_magic_phone(upstreams: Upstreams) -> None:
    with pytest.raises(UpstreamUnavailable) as info:
        await upstreams.p2a.find_advocate("+15005550503")
    assert info.value.status == 503


async def test_wrong_app_key(http: aiohttp.ClientSession, sandbox_root: str) -> None:
    client = Phone2ActionClient(http, sandbox_root + "/p2a", cred.P2A_APP_ID, "wrong")
    with pytest.raises(UpstreamAuthFailed) as info:
        await client.list_campaigns()
    assert info.value.status == 401 and "Unauthorized" in info.value.detail
