"""The registry holds every action under its contract name, typed over its params; no log
line carries a whole phone number or a code."""

from __future__ import annotations

import importlib
import re
from typing import Any, get_type_hints

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from bot.actions import build_registry
from bot.actions.base import Action
from bot.actions.lenient import LenientParams
from tests.actions.conftest import PHONE10, Env
from tests.conftest import make_settings

REGISTRY = build_registry(make_settings())
#: What the flows may name (the engine emits the others itself).
FLOW_ACTIONS = ["verify_send", "verify_check", "whatcounts_subscribe", "p2a_campaigns",
                "p2a_pick_campaign", "p2a_advocate", "p2a_legislators", "p2a_call", "webhook"]


def registered() -> list[Action[Any]]:
    actions = [REGISTRY.get(name) for name in REGISTRY.names()]
    assert all(actions)
    return [a for a in actions if a is not None]


def test_the_flow_actions_are_all_registered() -> None:
    assert set(FLOW_ACTIONS) <= set(REGISTRY.names())
    assert set(REGISTRY.names()) - set(FLOW_ACTIONS) == {"consent_sync"}


@pytest.mark.parametrize("action", registered(), ids=lambda a: a.name)
def test_every_action_is_registered_under_its_module_name(action: Action[Any]) -> None:
    module = importlib.import_module(f"bot.actions.{action.name}")
    assert type(action).__module__ == module.__name__
    doc = module.__doc__ or ""
    assert f"type: {action.name}" in doc  # the YAML example of how a flow calls it
    if action.replies:  # a flow routes on what it answers
        assert "Reasons" in doc or "Tags" in doc


@pytest.mark.parametrize("action", registered(), ids=lambda a: a.name)
def test_every_action_runs_on_its_own_params_model(action: Action[Any]) -> None:
    assert get_type_hints(type(action).run)["params"] is action.Params
    required = {k: "1" for k, f in action.Params.model_fields.items() if f.is_required()}
    with pytest.raises(ValidationError):  # p2a_advocate and webhook take only named extras
        action.Params.model_validate({**required, "Not A Param!": "x"})


@pytest.mark.parametrize("name", FLOW_ACTIONS)
def test_flow_action_params_take_strings(name: str) -> None:
    action = REGISTRY.get(name)
    assert action is not None
    assert issubclass(action.Params, LenientParams)
    assert all(f.annotation is str for f in action.Params.model_fields.values())


def test_a_name_registers_once() -> None:
    action = REGISTRY.get("p2a_call")
    assert action is not None
    with pytest.raises(ValueError, match="twice"):
        REGISTRY.register(action)


async def test_logs_never_carry_a_whole_phone_or_a_code(env: Env) -> None:
    with capture_logs() as logs:
        sent = await env.run("verify_send")
        code = re.findall(r"\d{6}", env.texts[-1])[0]
        check = {"hash": sent.data["verify_hash"], "salt": sent.data["verify_salt"],
                 "expires": str(sent.data["verify_expires"])}
        await env.run("verify_check", code=f"{(int(code) + 1) % 10**6:06d}", **check)
        await env.run("verify_check", code=code, **check)
        env.configure(verify_provider="telesign")
        await env.run("verify_send")
        found = await env.run("p2a_legislators", campaign_id="1001", address="1 Main St 64108")
        env.sandbox.p2a.fail_next["POST /connections"] = [500]  # unclear, nothing listed
        await env.run("p2a_call", campaign_id="1001",
                      advocate_id=str(found.data["advocate_id"]), choice="1",
                      names=str(found.data["targets_names"]))
    assert len(logs) >= 8
    telesign_code = env.sandbox.log.requests[0].body["verify_code"]
    text = repr(logs)
    assert PHONE10 not in text
    assert code not in text and telesign_code not in text
    assert "0143" in text  # phones are there, masked
