"""`p2a_call`: the choice, the connection request, and the lookup after an unclear answer
(the worker's retries of it: `tests/actions/test_through_the_worker.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.upstream.errors import UpstreamUnavailable
from tests.actions.conftest import LOOKUP_TIMEOUT, NOW, Env

CALL = "p2a_call"
NAMES = "Sen. Jordan Avery|Sen. Casey Morgan|Rep. Riley Chen"
EVERYONE = "Sen. Jordan Avery, Sen. Casey Morgan, Rep. Riley Chen"
ROUTE = "POST /connections"


async def advocate(env: Env, campaign: str = "1001", address: str = "1 Main St 64108") -> str:
    """An advocate of the campaign with an address (as the flow makes one)."""
    found = await env.run("p2a_legislators", campaign_id=campaign, address=address)
    assert found.ok, found
    assert found.data["targets_names"] == NAMES
    env.sandbox.log.clear()
    return str(found.data["advocate_id"])


def call_params(advocate_id: str, choice: str, names: str = NAMES) -> dict[str, str]:
    return {"campaign_id": "1001", "advocate_id": advocate_id, "choice": choice, "names": names}


def posts(env: Env) -> list[Any]:
    return [r.body for r in env.sandbox.log.requests if r.route == ROUTE]


async def test_one_legislator_chosen_p2a_calls_the_campaign_targets(env: Env) -> None:
    advocate_id = await advocate(env)
    outcome = await env.run(CALL, **call_params(advocate_id, "1"))
    assert (outcome.ok, outcome.reason) == (True, None)
    assert env.calls() == ["POST /p2a/connections"]
    assert posts(env) == [{"advocateid": advocate_id, "campaignid": "1001", "type[]": "call"}]
    connections = env.sandbox.p2a.connections
    assert outcome.data == {
        "call_with": EVERYONE,  # what P2A says it calls, not only the pick
        "call_chosen": "Sen. Jordan Avery",
        "call_ids": ",".join(str(i) for i in connections),
        "call_count": 3,
    }
    assert {c["type"] for c in connections.values()} == {"CALL"}
    assert {c["advocate_id"] for c in connections.values()} == {int(advocate_id)}


@pytest.mark.parametrize("choice", ["ALL", "all", " todos "])
async def test_all(env: Env, choice: str) -> None:
    advocate_id = await advocate(env)
    outcome = await env.run(CALL, **call_params(advocate_id, choice))
    assert outcome.ok
    assert outcome.data["call_with"] == outcome.data["call_chosen"] == EVERYONE


async def test_pick_matching_what_p2a_calls_is_kept(env: Env) -> None:
    # DC's library campaign targets the ward member alone: P2A calls exactly the pick.
    found = await env.run("p2a_legislators", campaign_id="1002", address="1 K St NE 20001")
    [name] = str(found.data["targets_names"]).split("|")
    env.sandbox.log.clear()
    outcome = await env.run(CALL, campaign_id="1002", advocate_id=str(found.data["advocate_id"]),
                            choice="1", names=name)
    assert outcome.data["call_with"] == outcome.data["call_chosen"] == name
    [connection] = env.sandbox.p2a.connections
    assert outcome.data["call_ids"] == str(connection)


@pytest.mark.parametrize("choice", ["0", "4", "x", "", "1,2"])
async def test_no_such_choice(env: Env, choice: str) -> None:
    outcome = await env.run(CALL, **call_params("5002", choice))
    assert (outcome.ok, outcome.reason) == (False, "no_such_choice")
    assert env.sandbox.log == []


async def test_a_number_needs_the_menu_names(env: Env) -> None:
    outcome = await env.run(CALL, **call_params("5002", "1", names=""))
    assert outcome.reason == "no_such_choice"


@pytest.mark.parametrize("field_name", ["campaign_id", "advocate_id"])
async def test_ids_must_be_numbers(env: Env, field_name: str) -> None:
    outcome = await env.run(CALL, **(call_params("5002", "1") | {field_name: ""}))
    assert (outcome.ok, outcome.reason) == (False, "invalid")
    assert env.sandbox.log == []


async def test_refused_without_an_address(env: Env) -> None:
    outcome = await env.run(CALL, **call_params("12345", "1"))  # no such advocate
    assert (outcome.ok, outcome.reason) == (False, "rejected")
    assert env.sandbox.p2a.connections == {}


async def test_unavailable_is_left_to_the_worker(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [503]
    with pytest.raises(UpstreamUnavailable):
        await env.run(CALL, **call_params(advocate_id, "1"))
    assert env.sandbox.p2a.connections == {}


# --- an unclear end: look it up, never retry blindly -------------------------------------
async def test_unclear_and_not_listed_is_unclear_and_never_retried(env: Env) -> None:
    """An empty list is no proof that P2A did not ring the phone: the voter is asked."""
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [500]  # an unclear answer; the handler never ran
    outcome = await env.run(CALL, **call_params(advocate_id, "1"))
    assert (outcome.ok, outcome.reason) == (False, "unclear")
    assert env.calls() == ["POST /p2a/connections", "GET /p2a/connections"]
    lookup = env.sandbox.log.requests[-1].query
    assert lookup["campaign_id"] == "1001"
    assert lookup["updated_at"] == str(int(NOW) - 300)


async def test_unclear_after_a_timeout_looks_it_up_too(env: Env) -> None:
    env.configure(upstream_timeout=LOOKUP_TIMEOUT)
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = ["timeout"]
    outcome = await env.run(CALL, **call_params(advocate_id, "1"))
    assert (outcome.ok, outcome.reason) == (False, "unclear")
    assert env.calls() == ["POST /p2a/connections", "GET /p2a/connections"]


async def test_found_without_names_says_the_campaigns_targets(env: Env) -> None:
    """P2A listed the call without legislator names: the menu's names (the campaign's
    targets for the voter's address) are said, never an empty "connect you with"."""
    advocate_id = await advocate(env)
    env.sandbox.p2a.connections[9001] = {
        "campaign_id": 1001, "advocate_id": int(advocate_id), "type": "CALL",
        "status": "INITIATED", "created_at": int(NOW), "updated_at": int(NOW)}
    env.sandbox.p2a.fail_next[ROUTE] = [500]  # unclear; P2A lists the call started above
    outcome = await env.run(CALL, **call_params(advocate_id, "ALL"))
    assert (outcome.ok, outcome.data["call_ids"]) == (True, "9001")
    assert outcome.data["call_with"] == EVERYONE


async def test_unclear_but_the_call_started_is_found(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = ["lost"]  # P2A starts the call; the answer is lost
    outcome = await env.run(CALL, **call_params(advocate_id, "2"))
    assert (outcome.ok, outcome.reason) == (True, None)
    assert env.calls() == ["POST /p2a/connections", "GET /p2a/connections"]
    assert len(posts(env)) == 1
    assert outcome.data["call_ids"] == ",".join(str(i) for i in env.sandbox.p2a.connections)
    assert outcome.data["call_with"] == EVERYONE
    assert outcome.data["call_chosen"] == "Sen. Casey Morgan"


async def test_unclear_and_the_lookup_fails_is_not_retried(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [500]
    env.sandbox.p2a.fail_next["GET /connections"] = [503]
    outcome = await env.run(CALL, **call_params(advocate_id, "1"))
    assert (outcome.ok, outcome.reason) == (False, "unclear")  # it may have rung
