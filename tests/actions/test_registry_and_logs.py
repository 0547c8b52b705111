"""The registry holds every action under its contract name; no log line carries a whole
phone number or a code."""

from __future__ import annotations

import importlib
import re

import pytest
from structlog.testing import capture_logs

from bot.actions import build_registry
from bot.actions.base import ActionRetry
from bot.actions.p2a_call import P2ACall
from bot.actions.p2a_legislators import P2ALegislators
from bot.actions.verify_check import VerifyCheck
from bot.actions.verify_send import VerifySend
from bot.upstream.errors import OutcomeUnknown
from tests.actions.conftest import PHONE10, Env

NAMES = ["verify_send", "verify_check", "whatcounts_subscribe", "p2a_campaigns",
         "p2a_pick_campaign", "p2a_advocate", "p2a_legislators", "p2a_call"]


def test_every_action_is_registered_under_its_name() -> None:
    registry = build_registry()
    for name in NAMES:
        action = registry.get(name)
        assert action is not None, name
        assert action.replies is True
        module = importlib.import_module(f"bot.actions.{name}")
        assert type(action).__module__ == module.__name__
        doc = module.__doc__ or ""
        assert f"type: {name}" in doc  # the YAML example of how a flow calls it
        assert "Reasons" in doc or "Tags" in doc


@pytest.mark.parametrize("name", NAMES)
def test_params_refuse_unknown_keys_and_take_strings(name: str) -> None:
    params = build_registry().params_models()[name]
    assert params is not None
    assert params.model_config.get("extra") == "forbid"
    assert all(f.annotation is str for f in params.model_fields.values())


async def test_logs_never_carry_a_whole_phone_or_a_code(env: Env,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with capture_logs() as logs:
        sent = await env.run(VerifySend())
        code = re.findall(r"\d{6}", env.texts[-1])[0]
        check = {"hash": sent.data["verify_hash"], "salt": sent.data["verify_salt"],
                 "expires": str(sent.data["verify_expires"])}
        await env.run(VerifyCheck(), code=f"{(int(code) + 1) % 10**6:06d}", **check)
        await env.run(VerifyCheck(), code=code, **check)
        env.configure(verify_provider="telesign")
        await env.run(VerifySend())
        found = await env.run(P2ALegislators(), campaign_id="1001", address="1 Main St 64108")

        async def lost(*args: object, **kwargs: object) -> None:
            raise OutcomeUnknown("p2a", "timed out after sending")

        monkeypatch.setattr(env.upstreams.p2a, "create_call", lost)
        with pytest.raises(ActionRetry):  # nothing started: the lookup finds no call
            await env.run(P2ACall(), campaign_id="1001",
                          advocate_id=str(found.data["advocate_id"]), choice="1",
                          names=str(found.data["targets_names"]))
    assert len(logs) >= 8
    telesign_code = env.sandbox.log.requests[0].body["verify_code"]
    text = repr(logs)
    assert PHONE10 not in text
    assert code not in text and telesign_code not in text
    assert "0143" in text  # phones are there, masked
