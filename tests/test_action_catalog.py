"""The action catalog, `docs/actions.md`, the JSON Schema and `flows/README.md` stay in step
with the registry and with what the action modules really return."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.actions import build_registry
from bot.flow.catalog import CATALOG, COMMON_REASONS
from bot.flowcheck import actions_doc, json_schema
from tests.conftest import ROOT, make_settings

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

REGISTRY = build_registry(make_settings())
MODELS = REGISTRY.params_models()


def test_every_registered_action_is_in_the_catalog_with_its_parameters() -> None:
    assert set(CATALOG) == set(MODELS)
    for name, model in MODELS.items():
        assert model is not None
        assert set(CATALOG[name].params) == set(model.model_fields), name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_catalog_names_every_reason_and_saved_name_the_module_returns(name: str) -> None:
    source = (ROOT / "bot" / "actions" / f"{name}.py").read_text()
    returned = set(re.findall(r'reason="([a-z_]+)"', source))
    info = CATALOG[name]
    assert returned <= {*info.reasons, *info.tags, *COMMON_REASONS}, returned
    docs = source.split('"""', 2)[1]  # each module's docstring lists its reasons and data
    for word in (*info.reasons, *info.tags, *info.saves):
        assert f"`{word}`" in docs or f'"{word}"' in source, (name, word)


def test_docs_actions_md_is_generated_from_the_catalog() -> None:
    assert (ROOT / "docs" / "actions.md").read_text() == actions_doc(), (
        "run: python -m bot flows actions > docs/actions.md")


def _schema_keys(node: object) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            keys.add(key)
            assert "description" in value, key
        for key, value in node.items():
            if key != "if":  # `if: {properties: {type: {const: ...}}}` only selects
                keys |= _schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _schema_keys(value)
    return keys


def test_the_schema_describes_every_key_and_lists_the_actions_and_their_params() -> None:
    schema = json.loads(json_schema())
    action = schema["$defs"]["ActionRef"]
    kinds = [k["const"] for k in action["properties"]["type"]["oneOf"]]
    assert kinds == action["properties"]["type"]["enum"] == sorted(
        n for n in MODELS if n != "consent_sync")
    assert all(k["description"] for k in action["properties"]["type"]["oneOf"])
    [call] = [r["then"]["properties"]["params"] for r in action["allOf"]
              if r["if"]["properties"]["type"]["const"] == "p2a_call"]
    assert call["required"] == ["campaign_id", "advocate_id", "choice", "names"]
    assert call["additionalProperties"] is False
    _schema_keys(schema)  # asserts a description on every key


def test_flows_readme_explains_every_key_the_schema_accepts() -> None:
    readme = (ROOT / "flows" / "README.md").read_text()
    schema = json.loads(json_schema())
    keys = _schema_keys({k: v for k, v in schema.items() if k != "$defs"})
    for name, model in schema["$defs"].items():
        keys |= _schema_keys(model) if name != "ActionRef" else set(model["properties"])
    missing = sorted(k for k in keys if f"`{k}" not in readme and f"{k}:" not in readme)
    assert missing == []


def test_flows_actions_command_prints_the_doc(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.__main__ import main

    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)
    assert main(["flows", "actions"]) == 0
    assert capsys.readouterr().out == Path(ROOT / "docs" / "actions.md").read_text()


@functools.cache
def _validator() -> Draft202012Validator:
    """The shipped schema's validator, once a process: checking the schema against the
    metaschema cost more than validating a flow with it."""
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "flows" / "flow.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _schema_errors(flow: object) -> list[str]:
    found: list[str] = []
    todo = list(_validator().iter_errors(flow))
    while todo:  # an optional key's errors sit inside its anyOf
        error = todo.pop()
        found.append(error.message)
        todo.extend(error.context or [])
    return found


@pytest.mark.parametrize("name", ["advocacy", "petition"])
def test_an_editor_validating_with_the_schema_accepts_the_shipped_flows(name: str) -> None:
    from bot.flow.yamlmarks import read_flow_yaml

    _, flow = read_flow_yaml((ROOT / "flows" / f"{name}.yaml").read_text())
    assert _schema_errors(flow) == []


def test_an_editor_validating_with_the_schema_flags_a_wrong_action_parameter() -> None:
    from bot.flow.yamlmarks import read_flow_yaml

    _, flow = read_flow_yaml((ROOT / "flows" / "petition.yaml").read_text())
    assert isinstance(flow, dict)
    flow["states"]["save_signer"]["action"]["params"]["campain_id"] = "1"
    flow["states"]["sign"]["action"]["type"] = "webhok"
    errors = _schema_errors(flow)
    assert any(e.startswith("'campain_id'") for e in errors), errors
    assert any("'webhok' is not one of" in e for e in errors), errors
