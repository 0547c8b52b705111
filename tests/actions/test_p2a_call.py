"""`p2a_call`: the choice, the connection request, the lookup after an unclear answer, and
"503 twice then success gives exactly one call" through the worker's real retry loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from bot.actions import build_registry
from bot.actions.base import ActionRetry
from bot.actions.p2a_call import P2ACall
from bot.actions.p2a_legislators import P2ALegislators
from bot.clock import FrozenClock
from bot.models import ActionResult, RunAction
from bot.upstream.errors import OutcomeUnknown
from bot.upstream.phone2action_models import ConnectionData
from bot.worker import RetryPolicy, Worker
from tests.actions.conftest import NOW, PHONE, Env

CALL = P2ACall()
NAMES = "Sen. Jordan Avery|Sen. Casey Morgan|Rep. Riley Chen"
EVERYONE = "Sen. Jordan Avery, Sen. Casey Morgan, Rep. Riley Chen"
ROUTE = "POST /connections"


async def advocate(env: Env, campaign: str = "1001", address: str = "1 Main St 64108") -> str:
    """An advocate of the campaign with an address (as the flow makes one)."""
    found = await P2ALegislators().run(P2ALegislators.Params.model_validate(
        {"campaign_id": campaign, "address": address}), env.ctx())
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


async def test_pick_matching_what_p2a_calls_is_kept(env: Env,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def only_chen(*args: Any, **kwargs: Any) -> ConnectionData:
        return ConnectionData.model_validate({"ids": [9], "leg": {"3003": {
            "id": 3003, "title": "Representative", "name_full": "Riley Chen"}}})

    monkeypatch.setattr(env.upstreams.p2a, "create_call", only_chen)
    outcome = await env.run(CALL, **call_params("5002", "3"))
    assert outcome.data["call_with"] == "Rep. Riley Chen"
    assert outcome.data["call_ids"] == "9"


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


async def test_unavailable_is_retried(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [503]
    with pytest.raises(ActionRetry):
        await env.run(CALL, **call_params(advocate_id, "1"))
    assert env.sandbox.p2a.connections == {}


# --- an unclear end: look it up, never retry blindly -------------------------------------
async def test_unclear_and_nothing_happened_is_retried(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [500]  # an unclear answer; the handler never ran
    with pytest.raises(ActionRetry):
        await env.run(CALL, **call_params(advocate_id, "1"))
    assert env.calls() == ["POST /p2a/connections", "GET /p2a/connections"]
    lookup = env.sandbox.log.requests[-1].query
    assert lookup["campaign_id"] == "1001"
    assert lookup["updated_at"] == str(int(NOW) - 300)


async def test_unclear_but_the_call_started_is_found(env: Env,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    advocate_id = await advocate(env)
    real = env.upstreams.p2a.create_call

    async def answer_lost(*args: Any, **kwargs: Any) -> ConnectionData:
        await real(*args, **kwargs)  # P2A starts the call, but the answer is lost:
        raise OutcomeUnknown("p2a", "POST /connections timed out after sending")

    monkeypatch.setattr(env.upstreams.p2a, "create_call", answer_lost)
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
    assert (outcome.ok, outcome.reason) == (False, "unavailable")


# --- through the worker's retry loop -----------------------------------------------------
@dataclass
class FakeCore:
    """What `Worker._action` uses of the core: the clock, `apply`, the metrics."""

    clock: FrozenClock
    events: list[Any] = field(default_factory=list)
    metrics: Any = field(default_factory=lambda: SimpleNamespace(
        dead_letters=SimpleNamespace(inc=lambda: None)))

    async def apply(self, phone: str, event: Any, dedup: str | None = None) -> None:
        self.events.append((event, dedup))


@dataclass
class FakeOutbox:
    dead: list[str] = field(default_factory=list)

    async def dead_letter(self, entry: Any, effect: Any, reason: str) -> None:
        self.dead.append(reason)


def worker_for(env: Env, tries: int, now: float = NOW
               ) -> tuple[Worker, FakeCore, FakeOutbox]:
    core, outbox = FakeCore(FrozenClock(now)), FakeOutbox()
    worker = Worker(core, outbox, sender=None, actions=build_registry(),  # type: ignore[arg-type]
                    settings=env.settings, upstreams=env.upstreams,
                    retry=RetryPolicy(max_tries=tries, base=0.0))
    return worker, core, outbox


async def test_503_twice_then_success_gives_exactly_one_call(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [503, 503]
    worker, core, outbox = worker_for(env, tries=4)
    effect = RunAction(id="e7", phone=PHONE, action="p2a_call",
                       params=call_params(advocate_id, "1"))
    assert await worker._action(None, effect) == "ok"  # type: ignore[arg-type]
    assert env.calls() == ["POST /p2a/connections"] * 3
    # One connection request went through: one call, one connection per target.
    assert len(env.sandbox.p2a.connections) == 3
    assert len({c["legislator_id"] for c in env.sandbox.p2a.connections.values()}) == 3
    [(event, dedup)] = core.events
    assert isinstance(event, ActionResult) and event.ok and dedup == "fx:e7"
    assert event.data["call_count"] == 3
    assert outbox.dead == []


async def test_p2a_down_for_good_fails_into_the_flow_without_a_call(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [503] * 5
    worker, core, outbox = worker_for(env, tries=3)
    effect = RunAction(id="e8", phone=PHONE, action="p2a_call",
                       params=call_params(advocate_id, "ALL"))
    assert await worker._action(None, effect) == "unavailable"  # type: ignore[arg-type]
    assert env.calls() == ["POST /p2a/connections"] * 3  # bounded
    assert env.sandbox.p2a.connections == {}
    [(event, _)] = core.events
    assert (event.ok, event.reason) == (False, "unavailable")
    assert len(outbox.dead) == 1


async def test_worker_passes_its_frozen_time_to_the_lookup(env: Env) -> None:
    advocate_id = await advocate(env)
    env.sandbox.p2a.fail_next[ROUTE] = [500, 500]
    worker, _, _ = worker_for(env, tries=2, now=NOW + 1000)
    effect = RunAction(id="e9", phone=PHONE, action="p2a_call",
                       params=call_params(advocate_id, "1"))
    assert await worker._action(None, effect) == "unavailable"  # type: ignore[arg-type]
    lookups = [r.query["updated_at"] for r in env.sandbox.log.requests
               if r.route == "GET /connections"]
    assert lookups == [str(int(NOW) + 700)] * 2
