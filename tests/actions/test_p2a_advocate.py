"""`p2a_advocate`: the upsert by phone, opted in, with the campaign and the address."""

from __future__ import annotations

import pytest

from bot.upstream.errors import UpstreamUnavailable
from tests.actions.conftest import PHONE, PHONE10, Env

ADVOCATE = "p2a_advocate"


def posts(env: Env) -> list[dict[str, object]]:
    return [r.body for r in env.sandbox.log.requests if r.route == "POST /advocates"]


async def test_creates_the_advocate_opted_in(env: Env) -> None:
    outcome = await env.run(ADVOCATE, campaign_id="1001")
    assert (outcome.ok, outcome.reason) == (True, None)
    assert env.calls() == ["GET /p2a/advocates", "POST /p2a/advocates"]
    assert env.sandbox.log.requests[0].query == {"phone": PHONE10}
    assert posts(env) == [{"campaigns[]": "1001", "phone": PHONE10, "smsOptin": "1",
                           "smsOptinConfirmed": "1"}]
    advocate_id = outcome.data["advocate_id"]
    assert outcome.data == {"advocate_id": advocate_id}
    saved = env.sandbox.p2a.advocates[int(advocate_id)]
    assert saved["phones"][0]["address"] == PHONE
    assert saved["phones"][0]["subscribed"] is True
    assert [m["campaignid"] for m in saved["memberships"]] == [1001]


async def test_a_second_time_updates_the_same_advocate(env: Env) -> None:
    first = await env.run(ADVOCATE, campaign_id="1001")
    second = await env.run(ADVOCATE, campaign_id="1004", address1="1 Main St", zip5="64108")
    assert second.data["advocate_id"] == first.data["advocate_id"]
    assert len(env.sandbox.p2a.advocates) == 1
    body = posts(env)[-1]
    assert body["advocateid"] == str(first.data["advocate_id"])
    assert (body["address1"], body["zip5"], body["campaigns[]"]) == ("1 Main St", "64108",
                                                                     "1004")
    saved = env.sandbox.p2a.advocates[int(first.data["advocate_id"])]
    assert [m["campaignid"] for m in saved["memberships"]] == [1001, 1004]
    assert saved["address"] == {"street1": "1 Main St", "zip5": "64108"}


@pytest.mark.parametrize("zip5", ["123", "1234a", "641080"])
async def test_a_zip_that_is_not_five_digits_is_left_out(env: Env, zip5: str) -> None:
    outcome = await env.run(ADVOCATE, campaign_id="1001", zip5=zip5)
    assert outcome.ok
    assert "zip5" not in posts(env)[-1]


async def test_a_phone_outside_the_us_is_unsupported(env: Env) -> None:
    env.phone = "+442071838750"
    outcome = await env.run(ADVOCATE, campaign_id="1001")
    assert (outcome.ok, outcome.reason) == (False, "unsupported_phone")
    assert env.sandbox.log == []  # refused before any request


@pytest.mark.parametrize("campaign_id", ["", "abc", "0"])
async def test_campaign_id_must_be_a_number(env: Env, campaign_id: str) -> None:
    outcome = await env.run(ADVOCATE, campaign_id=campaign_id)
    assert (outcome.ok, outcome.reason) == (False, "invalid")
    assert env.sandbox.log == []


async def test_refused_by_p2a(env: Env) -> None:
    outcome = await env.run(ADVOCATE, campaign_id="999")  # not a campaign
    assert (outcome.ok, outcome.reason) == (False, "rejected")


async def test_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.sandbox.p2a.fail_next["POST /advocates"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(ADVOCATE, campaign_id="1001")


async def test_custom_fields_go_as_fields_id_and_stay_on_the_advocate(env: Env) -> None:
    first = await env.run(ADVOCATE, campaign_id="1001", field_5365="signed", field_12="")
    assert posts(env)[-1]["fields[5365]"] == "signed"
    assert "fields[12]" not in posts(env)[-1]  # an empty value is left out
    await env.run(ADVOCATE, campaign_id="1001", field_77="es")
    saved = env.sandbox.p2a.advocates[int(first.data["advocate_id"])]
    assert saved["fields"] == [{"id": 77, "value": "es"}, {"id": 5365, "value": "signed"}]


def test_only_numeric_custom_fields_are_taken() -> None:
    from pydantic import ValidationError

    from bot.actions.p2a_advocate import P2AAdvocateParams

    with pytest.raises(ValidationError, match="field_<ID>"):
        P2AAdvocateParams.model_validate({"campaign_id": "1", "field_abc": "x"})
