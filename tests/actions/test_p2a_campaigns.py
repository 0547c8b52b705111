"""`p2a_campaigns` and `p2a_pick_campaign`: the menu, its pages, one campaign, none."""

from __future__ import annotations

import pytest

from bot.actions.p2a_common import plain, zip_ok
from bot.sandbox import data
from bot.upstream.errors import UpstreamUnavailable
from bot.upstream.phone2action_models import Campaign
from tests.actions.conftest import Env

CAMPAIGNS, PICK = "p2a_campaigns", "p2a_pick_campaign"
ALL_FOUR = ("1) Clean Water Now\n2) Fund DC Libraries\n3) California Transit\n"
            "4) Missouri Rural Health")
LONG_CTA = ("<p>Call <b>your</b> members of Congress &amp; tell them: &ldquo;pass the bill&rdquo;"
            " </p>" + "<p>Every call counts, so please call today and ask a friend. </p>" * 5)


def one_campaign(cta: str = LONG_CTA) -> data.SandboxCampaign:
    return data.SandboxCampaign(2001, "Solo Campaign", cta, ("FEDERAL",))


async def test_menu_of_every_public_campaign(env: Env) -> None:
    outcome = await env.run(CAMPAIGNS, page="")
    assert (outcome.ok, outcome.reason) == (True, "last_page")  # one page: nothing more
    assert outcome.data == {"campaigns_menu": ALL_FOUR, "campaigns_ids": "1001,1002,1003,1004",
                            "campaigns_count": 4, "campaigns_page": 1,
                            "campaigns_next_page": 0, "campaigns_more": False}
    assert env.calls() == ["GET /p2a/campaigns"]
    assert env.sandbox.log.last().query == {}  # no filter: the private 1005 stays out


async def test_pages_number_from_one_on_every_page(env: Env) -> None:
    env.configure(campaigns_per_page=3)
    first = await env.run(CAMPAIGNS)
    assert first.data["campaigns_menu"] == ("1) Clean Water Now\n2) Fund DC Libraries\n"
                                            "3) California Transit")
    assert first.data["campaigns_ids"] == "1001,1002,1003"
    assert (first.data["campaigns_next_page"], first.data["campaigns_more"]) == (2, True)
    assert first.reason is None  # a page follows: the flow offers MORE
    second = await env.run(CAMPAIGNS, page=str(first.data["campaigns_next_page"]))
    assert second.data["campaigns_menu"] == "1) Missouri Rural Health"
    assert second.data["campaigns_ids"] == "1004"
    assert second.data["campaigns_count"] == 1
    assert (second.data["campaigns_next_page"], second.data["campaigns_more"]) == (0, False)
    assert second.data["campaigns_page"] == 2
    assert second.reason == "last_page"


@pytest.mark.parametrize("page", ["9", "0", "-1", "x"])
async def test_a_page_past_the_end_shows_the_first(env: Env, page: str) -> None:
    env.configure(campaigns_per_page=3)
    outcome = await env.run(CAMPAIGNS, page=page)
    assert outcome.data["campaigns_page"] == 1
    assert outcome.data["campaigns_ids"] == "1001,1002,1003"


async def test_single_campaign_skips_the_menu(env: Env) -> None:
    env.sandbox.p2a.campaigns = (one_campaign(),)
    outcome = await env.run(CAMPAIGNS)
    assert (outcome.ok, outcome.reason) == (True, "single")
    assert set(outcome.data) == {"campaign_id", "campaign_name", "campaign_cta",
                                 "campaign_zip_ok"}
    assert outcome.data["campaign_id"] == 2001
    assert outcome.data["campaign_name"] == "Solo Campaign"
    cta = str(outcome.data["campaign_cta"])
    assert cta.startswith('Call your members of Congress & tell them: "pass the bill" Every')
    assert "<" not in cta and len(cta) <= 160 and cta.endswith("...")
    assert outcome.data["campaign_zip_ok"] is True


async def test_no_campaign(env: Env) -> None:
    env.sandbox.p2a.campaigns = ()
    outcome = await env.run(CAMPAIGNS)
    assert (outcome.ok, outcome.reason) == (False, "none")


async def test_campaigns_failures(env: Env) -> None:
    env.sandbox.p2a.fail_next["GET /campaigns"] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(CAMPAIGNS)
    env.sandbox.p2a.fail_next["GET /campaigns"] = [400]
    outcome = await env.run(CAMPAIGNS)
    assert (outcome.ok, outcome.reason) == (False, "rejected")


@pytest.mark.parametrize("cta, expected", [
    ("Call your members of Congress: pass the Clean Water Act.", True),
    ("Call your legislators: keep rural clinics open.", True),
    ("Call your councilmember: keep libraries open on Sundays.", False),
    ("Call your <b>State Senator</b>: fund the bus lines.", False),
    ("Llame a su concejal hoy.", False),
])
def test_zip_ok_rule(cta: str, expected: bool) -> None:
    campaign = Campaign.model_validate({"id": 1, "name": "X",
                                        "content": {"call_to_action": cta}})
    assert zip_ok(campaign) is expected


def test_plain_text() -> None:
    assert plain("<p>a&nbsp;&amp;\n b</p>", 50) == "a & b"
    assert plain("word " * 50, 20) == "word word word..."
    assert plain(None, 10) == ""


# --- p2a_pick_campaign -------------------------------------------------------------------
async def test_pick_returns_the_chosen_campaign(env: Env) -> None:
    outcome = await env.run(PICK, choice="2", ids="1001,1002,1003")
    assert (outcome.ok, outcome.reason) == (True, None)
    assert outcome.data == {
        "campaign_id": 1002, "campaign_name": "Fund DC Libraries",
        "campaign_cta": "Call your councilmember: keep libraries open on Sundays.",
        "campaign_zip_ok": False,
    }
    assert env.calls() == ["GET /p2a/campaigns"]


async def test_pick_on_a_second_page_counts_from_one(env: Env) -> None:
    outcome = await env.run(PICK, choice="1", ids="1004")
    assert outcome.data["campaign_id"] == 1004
    assert outcome.data["campaign_zip_ok"] is True


@pytest.mark.parametrize("choice", ["0", "4", "abc", "", "-1", "1.5"])
async def test_pick_out_of_range_or_not_a_number(env: Env, choice: str) -> None:
    outcome = await env.run(PICK, choice=choice, ids="1001,1002,1003")
    assert (outcome.ok, outcome.reason) == (False, "no_such_choice")
    assert env.sandbox.log == []


async def test_pick_of_a_campaign_no_longer_listed(env: Env) -> None:
    outcome = await env.run(PICK, choice="1", ids="1005")  # private: not in the list
    assert (outcome.ok, outcome.reason) == (False, "no_such_choice")
    assert env.calls() == ["GET /p2a/campaigns"]


async def test_pick_unavailable_is_left_to_the_worker(env: Env) -> None:
    env.sandbox.p2a.fail_next["GET /campaigns"] = [502]
    with pytest.raises(UpstreamUnavailable):
        await env.run(PICK, choice="1", ids="1001")
