"""`flows test`: conversation scripts run on the sandboxes, with a diff when a text differs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.flow import FlowError
from bot.flowtest import run_flow_tests
from tests.conftest import ROOT

JOIN_SCRIPT = """\
scripts:
  - name: yes
    steps:
      - send: JOIN
        expect: ["/^(?P<who>\\\\w+): Reply YES/"]
      - send: "yes"
        expect: ["Thanks, you're in!"]
  - name: a day without an answer
    steps:
      - send: join
        expect: ["Reply YES"]
      - wait: 23h
        expect: []
      - wait: 1h
        expect: ["We didn't hear back"]
"""


def flows_with(tmp_path: Path, script: str) -> Path:
    folder = tmp_path / "flows"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "flows" / "join.yaml", folder / "join.yaml")
    (folder / "tests" / "join.yaml").write_text(script)
    return folder


def test_the_shipped_flows_pass_their_scripts_and_visit_every_state() -> None:
    report = run_flow_tests(ROOT / "flows")
    assert report.ok, report.render()
    assert len(report.results) >= 10
    assert report.unvisited == {"advocacy": [], "petition": []}, report.render()


def test_a_passing_script_and_a_timeout_by_clock_jump(tmp_path: Path) -> None:
    report = run_flow_tests(flows_with(tmp_path, JOIN_SCRIPT))
    assert [r.ok for r in report.results] == [True, True], report.render()
    assert report.unvisited == {"join": ["declined"]}
    assert "states of 'join' no script visited: declined" in report.render()


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` configures logging for a process (cached loggers); tests keep their own."""
    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)


def test_a_wrong_text_fails_with_a_diff_and_a_non_zero_exit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = flows_with(tmp_path, JOIN_SCRIPT.replace("Thanks, you're in!", "Welcome!"))
    assert main(["flows", "test", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "yes" in err
    assert ("step 2 after the voter sent 'yes':\n"
            "         - expected  + sent\n"
            "         - 'Welcome!'\n"
            "         + \"Thanks, you're in! We'll text you when it's time to act. Reply STOP "
            "any time to cancel.\"") in err
    assert "2 script(s), 1 passed, 1 failed" in err


def test_a_missing_or_extra_text_fails(tmp_path: Path) -> None:
    extra = JOIN_SCRIPT.replace('      - wait: 1h\n        expect: ["We didn\'t hear back"]',
                                "      - wait: 1h\n        expect: []")
    report = run_flow_tests(flows_with(tmp_path, extra))
    [failed] = [r for r in report.results if not r.ok]
    assert failed.mismatch is not None
    assert (failed.mismatch.step, failed.mismatch.expected) == (3, [])
    assert failed.mismatch.actual[0].startswith("We didn't hear back")


def test_a_captured_value_feeds_a_later_text_and_an_unknown_one_is_named(
        tmp_path: Path) -> None:
    script = JOIN_SCRIPT.replace('- send: "yes"', '- send: "{whom}"')
    report = run_flow_tests(flows_with(tmp_path, script))
    mismatch = report.results[0].mismatch
    assert mismatch is not None
    assert mismatch.error == "{whom} was not captured by an earlier /(?P<name>...)/"


def test_a_broken_script_file_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = flows_with(tmp_path, JOIN_SCRIPT.replace("expect: []", "expcet: []", 1))
    with pytest.raises(FlowError) as caught:
        run_flow_tests(folder)
    assert caught.value.line == 13
    assert "unknown key 'expcet'. Did you mean 'expect'?" in caught.value.reason


def test_settings_that_would_leave_the_sandbox_are_refused(tmp_path: Path) -> None:
    folder = flows_with(tmp_path, "settings: {p2a_api_base: 'https://example.org'}\n"
                        + JOIN_SCRIPT)
    with pytest.raises(ValueError, match="'p2a_api_base' cannot be set in a flow test"):
        run_flow_tests(folder)
