"""`Conversation`'s fast paths (a copy per step, a dozen field writes per step) behave as
pydantic's own `model_copy` and assignment do."""

from __future__ import annotations

import pytest

from bot.models import Conversation


def _stored() -> Conversation:
    return Conversation(phone="+12025550123", version=3, flow="advocacy", state="optin",
                        vars={"zip": "20001", "n": 2}, token=4, reached="fr4.0.tlr:1")


def test_for_step_is_model_copy_with_own_vars_and_the_time() -> None:
    conv = _stored()
    copied = conv.for_step(5.0)
    reference = conv.model_copy(update={"vars": dict(conv.vars), "updated_at": 5.0})
    assert copied == reference
    assert copied.model_fields_set == reference.model_fields_set
    assert copied.model_dump() == reference.model_dump()
    assert copied.__pydantic_extra__ == reference.__pydantic_extra__
    assert copied.__pydantic_private__ == reference.__pydantic_private__
    copied.vars["zip"] = "10001"
    copied.state = "send_code"
    assert conv.vars["zip"] == "20001" and conv.state == "optin" and conv.updated_at == 0.0


def test_a_field_write_is_pydantics() -> None:
    """(The fast write is pydantic's for this config only: no assignment validation, not
    frozen, no private attributes; a change of those must drop the override.)"""
    config = Conversation.model_config
    assert not config.get("validate_assignment") and not config.get("frozen")
    assert not Conversation.__private_attributes__
    conv, reference = Conversation(phone="+12025550123"), Conversation(phone="+12025550123")
    conv.state = "optin"
    conv.token += 1
    object.__setattr__(reference, "__dict__", {**reference.__dict__, "state": "optin",
                                               "token": 1})
    reference.__pydantic_fields_set__.update({"state", "token"})
    assert conv == reference and conv.model_fields_set == reference.model_fields_set


def test_a_name_that_is_no_field_is_refused_as_before() -> None:
    conv = Conversation(phone="+12025550123")
    with pytest.raises(ValueError, match="has no field"):
        conv.stat = "optin"  # type: ignore[attr-defined]
