"""A broken flow is refused at load with its file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.actions import build_registry
from bot.flow import FlowError, load_flow_set
from bot.flow.loader import load_flow
from bot.flow.yamlmarks import FlowLoader, line_of, read_flow_yaml
from tests.conftest import ROOT, make_settings

ACTIONS = build_registry(make_settings()).params_models()

GOOD = """\
name: demo
keywords: [DEMO]
start: ask
states:
  ask:
    say: "Reply YES or NO"
    on:
      - when: yes
        goto: done
      - when: no
        goto: done
  done:
    say: "Bye"
    end: true
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_flows_load() -> None:
    flows = load_flow_set(ROOT / "flows", ACTIONS)
    assert "advocacy" in flows.flows


def test_good_flow_loads_and_keeps_yaml12_booleans(tmp_path: Path) -> None:
    spec = load_flow(write(tmp_path, GOOD), ACTIONS)
    assert spec.states["ask"].on[0].when == "yes"  # not True, as YAML 1.1 would make it


@pytest.mark.parametrize(
    ("broken", "line", "reason"),
    [
        (GOOD.replace("goto: done\n      - when: no", "goto: nowhere\n      - when: no"), 9,
         "'nowhere', which is not defined"),
        (GOOD.replace("start: ask", "start: missing"), 3, "start state 'missing'"),
        (GOOD.replace('    say: "Reply YES or NO"\n', ""), 5, "has no message"),
        (GOOD + "  orphan:\n    say: hi\n    end: true\n", 15, "unreachable"),
        (GOOD.replace("    end: true", "    action: {type: teleport}\n"
                      "    on_success: done\n    on_failure: done"), 14,
         "unknown action 'teleport'"),
        (GOOD.replace("keywords: [DEMO]", "keywords: [DEMO"), 2,
         "bad YAML: a list in [ ] is not closed"),
        (GOOD.replace("    say: \"Reply YES or NO\"", "    sya: \"Reply YES or NO\""), 6,
         "unknown key 'sya'. Did you mean 'say'?"),
        (GOOD.replace("      - when: no", "      - when: maybe"), 10, "states.ask.on.1.when"),
        (GOOD.replace('"Bye"', '"Bye {name"'), 13, "bad placeholder"),
        (GOOD.replace("  done:\n", "<<<<<<< HEAD\n  done:\n"), 12, "merge conflict"),
    ],
    ids=["unknown-state", "unknown-start", "missing-message", "unreachable", "unknown-action",
         "bad-yaml", "unknown-key", "unknown-matcher", "bad-placeholder", "conflict-marker"],
)
def test_broken_flow_is_refused_with_line(tmp_path: Path, broken: str, line: int,
                                          reason: str) -> None:
    path = write(tmp_path, broken)
    with pytest.raises(FlowError) as caught:
        load_flow(path, ACTIONS)
    [issue] = [i for i in caught.value.issues if reason in i.message]
    assert issue.file == str(path)
    assert issue.line == line, str(caught.value)
    assert f"{path}:{line}: " in str(caught.value)


def test_missing_language_variant_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("keywords: [DEMO]", "languages: [en, es]\nkeywords: [DEMO]").replace(
        '    say: "Bye"', '    say:\n      en: "Bye"')
    with pytest.raises(FlowError, match="no 'es' text"):
        load_flow(write(tmp_path, text), ACTIONS)


def test_goto_loop_without_waiting_is_refused(tmp_path: Path) -> None:
    text = GOOD + "  a:\n    say: x\n    goto: b\n  b:\n    goto: a\n"
    text = text.replace("goto: done\n      - when: no", "goto: a\n      - when: no")
    with pytest.raises(FlowError, match="can repeat forever without waiting for the voter: "
                       "a \\(goto\\) -> b \\(goto\\) -> a"):
        load_flow(write(tmp_path, text), ACTIONS)


def test_keyword_clash_between_flows_is_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD.replace("name: demo", "name: other"), "b.yaml")
    with pytest.raises(FlowError, match="keyword 'DEMO' is also used"):
        load_flow_set(tmp_path, ACTIONS)


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace('"Bye"', "!!python/object/apply:os.system ['echo hi']")
    with pytest.raises(FlowError, match="bad YAML"):
        load_flow(write(tmp_path, text), ACTIONS)


def test_flows_check_command_reports_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.__main__ import main

    # join.yaml reuses advocacy's keywords: deployed beside it, it would be refused.
    monkeypatch.setenv("FLOW_PATH", str(ROOT / "tests" / "flows"))
    path = write(tmp_path, GOOD.replace("start: ask", "start: missing"))
    assert main(["flows", "check", str(path)]) == 2
    assert f"{path}:3: start state 'missing'" in capsys.readouterr().err
    assert main(["flows", "check", str(ROOT / "tests" / "flows" / "join.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok  join" in out
    assert "optin.say[en]: 1 segment at most (GSM-7" in out


def test_flows_check_warns_about_ucs2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    from bot.__main__ import main

    path = write(tmp_path, GOOD.replace('"Bye"', '"Bye \u2019 \U0001F44B"'))
    assert main(["flows", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "done.say[*]: 1 segment at most (UCS-2" in out
    assert f"{path}:13: warning: say has '\u2019\U0001F44B', which makes the text UCS-2" in out


def test_shipped_json_schema_is_up_to_date() -> None:
    from bot.flowcheck import json_schema

    assert (ROOT / "flows" / "flow.schema.json").read_text() == json_schema(), (
        "run: python -m bot flows schema > flows/flow.schema.json")


def test_flows_point_editors_at_the_schema() -> None:
    for path in (ROOT / "flows").glob("*.yaml"):
        assert path.read_text().startswith(
            "# yaml-language-server: $schema=./flow.schema.json"), path


def test_graph_names_every_state(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    assert main(["flows", "graph", "--path", str(ROOT / "tests" / "flows" / "join.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stateDiagram-v2")
    assert "[*] --> optin: JOIN / UNETE" in out
    assert "optin --> confirmed: yes" in out
    assert "optin --> expired: timeout after 1 day" in out


FLOW_FILES = sorted([*(ROOT / "flows").glob("*.yaml"), *(ROOT / "tests" / "flows").glob("*.yaml")])


@pytest.mark.parametrize("path", FLOW_FILES, ids=[p.name for p in FLOW_FILES])
def test_the_fast_reader_reads_every_flow_as_the_reference_loader(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    root, data = read_flow_yaml(text)
    assert data == yaml.load(text, Loader=FlowLoader)  # noqa: S506 - a SafeLoader
    reference = yaml.compose(text, Loader=FlowLoader)
    assert root is not None and reference is not None
    lines = [line_of(n, ["states"]) for n in (root, reference)]
    assert lines[0] == lines[1] is not None


def test_the_fast_reader_keeps_yaml12_booleans_and_refuses_like_the_reference() -> None:
    assert read_flow_yaml("on: yes\nwhen: no\nend: true\n")[1] == {
        "on": "yes", "when": "no", "end": True}
    broken = "keywords: [DEMO\nstates: {}\n"
    with pytest.raises(yaml.MarkedYAMLError) as fast:
        read_flow_yaml(broken)
    with pytest.raises(yaml.MarkedYAMLError) as reference:
        yaml.compose(broken, Loader=FlowLoader)
    assert str(fast.value) == str(reference.value)
