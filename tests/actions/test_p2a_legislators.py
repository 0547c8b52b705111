"""`p2a_legislators`: parse the address, find the targets, save the address on the advocate."""

from __future__ import annotations

import pytest

from bot.actions.p2a_legislators import split_address
from bot.upstream.errors import UpstreamRejected, UpstreamUnavailable
from tests.actions.conftest import PHONE10, Env

LEGISLATORS = "p2a_legislators"
MO_MENU = "1) Sen. Jordan Avery (R)\n2) Sen. Casey Morgan (D)\n3) Rep. Riley Chen (D)"


@pytest.mark.parametrize("text, expected", [
    ("1600 Main St NW, Washington DC 20001-1234", ("20001", "1600 Main St NW, Washington DC")),
    ("64108", ("64108", "")),
    (" 64108 , ", ("64108", "")),
    ("12345 Elm St, 64108", ("64108", "12345 Elm St")),
    ("20001, 100 H St NE", ("20001", "100 H St NE")),
    ("100  H St\nNE   20001", ("20001", "100 H St NE")),
    ("Main St", ("", "Main St")),
    ("call 123456", ("", "call 123456")),
])
def test_split_address(text: str, expected: tuple[str, str]) -> None:
    assert split_address(text) == expected


async def test_street_and_zip_list_the_targets_and_save_the_address(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="1 Main St 64108",
                            zip_ok="true")
    assert (outcome.ok, outcome.reason) == (True, None)
    advocate_id = outcome.data["advocate_id"]
    assert outcome.data == {
        "targets_menu": MO_MENU, "targets_ids": "3001,3002,3003", "targets_count": 3,
        "targets_list": "Sen. Jordan Avery (R), Sen. Casey Morgan (D), Rep. Riley Chen (D)",
        "targets_names": "Sen. Jordan Avery|Sen. Casey Morgan|Rep. Riley Chen",
        "advocate_id": advocate_id, "zip5": "64108", "address1": "1 Main St",
    }
    assert env.calls() == ["GET /p2a/legislators", "GET /p2a/advocates", "POST /p2a/advocates"]
    assert env.sandbox.log.requests[0].query == {"campaignid": "1001", "zip5": "64108",
                                                 "address1": "1 Main St"}
    assert env.sandbox.log.requests[-1].body == {
        "campaigns[]": "1001", "phone": PHONE10, "address1": "1 Main St", "zip5": "64108",
        "smsOptin": "1", "smsOptinConfirmed": "1"}
    assert env.sandbox.p2a.advocates[int(advocate_id)]["address"] == {
        "street1": "1 Main St", "zip5": "64108"}


@pytest.mark.parametrize("zip_ok", ["true", "false"])
async def test_zip_alone_asks_for_the_street_without_a_lookup(env: Env, zip_ok: str) -> None:
    """P2A's lookup requires `address1`: a bare ZIP is never sent, whatever the campaign."""
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="64108", zip_ok=zip_ok)
    assert (outcome.ok, outcome.reason, dict(outcome.data)) == (
        False, "need_street", {"zip5": "64108"})
    assert env.sandbox.log == []


async def test_street_and_zip_for_a_split_zip(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1002", address="100 H St NE, 20001",
                            zip_ok="False")
    assert outcome.ok
    assert outcome.data["targets_menu"] == "1) Councilmember Avery Brooks (D)"
    assert outcome.data["targets_ids"] == "3303"
    assert (outcome.data["zip5"], outcome.data["address1"]) == ("20001", "100 H St NE")
    assert env.sandbox.log.requests[0].query == {"campaignid": "1002", "zip5": "20001",
                                                 "address1": "100 H St NE"}
    body = env.sandbox.log.requests[-1].body
    assert (body["address1"], body["zip5"]) == ("100 H St NE", "20001")


async def test_street_only_uses_the_zip_given_before(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1002", address="50 K St NW",
                            zip_ok="false", zip5="20001")
    assert outcome.ok
    assert outcome.data["targets_names"] == "Councilmember Jesse Ortiz"


async def test_no_zip(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="100 Main Street")
    assert (outcome.ok, outcome.reason) == (False, "no_zip")
    assert env.sandbox.log == []


async def test_need_street_when_the_campaign_needs_one(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1003", address="94110", zip_ok="False")
    assert (outcome.ok, outcome.reason) == (False, "need_street")
    assert outcome.data == {"zip5": "94110"}
    assert env.sandbox.log == []


async def test_the_sandbox_refuses_a_lookup_without_a_street(env: Env) -> None:
    """As the real API may (REFERENCE 8): the client is never allowed to rely on a bare ZIP."""
    with pytest.raises(UpstreamRejected):
        await env.upstreams.p2a.list_legislators(1001, zip5="64108")


async def test_bad_address_when_p2a_refuses_a_street(env: Env) -> None:
    env.sandbox.p2a.fail_next["GET /legislators"] = [422]
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="1 Nowhere Rd 64108")
    assert (outcome.ok, outcome.reason) == (False, "bad_address")
    assert env.calls() == ["GET /p2a/legislators"]


async def test_words_without_a_house_number_are_not_a_street(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="help me 64108")
    assert (outcome.ok, outcome.reason) == (False, "need_street")
    assert env.calls() == []


async def test_none_found(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="1 Main St 99999")
    assert (outcome.ok, outcome.reason) == (False, "none_found")
    assert env.calls() == ["GET /p2a/legislators"]


async def test_a_campaign_of_other_levels_finds_none(env: Env) -> None:
    # 1003 targets state senators; 10001 (NY) has only federal legislators in the sandbox.
    outcome = await env.run(LEGISLATORS, campaign_id="1003", address="5 W 34th St 10001")
    assert (outcome.ok, outcome.reason) == (False, "none_found")


async def test_unsupported_phone_after_the_lookup(env: Env) -> None:
    env.phone = "+442071838750"
    outcome = await env.run(LEGISLATORS, campaign_id="1001", address="1 Main St 64108")
    assert (outcome.ok, outcome.reason) == (False, "unsupported_phone")


async def test_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.sandbox.p2a.fail_next["GET /legislators"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(LEGISLATORS, campaign_id="1001", address="1 Main St 64108")
    env.sandbox.p2a.fail_next["POST /advocates"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(LEGISLATORS, campaign_id="1001", address="1 Main St 64108")


async def test_invalid_campaign_id(env: Env) -> None:
    outcome = await env.run(LEGISLATORS, campaign_id="", address="1 Main St 64108")
    assert (outcome.ok, outcome.reason) == (False, "invalid")
