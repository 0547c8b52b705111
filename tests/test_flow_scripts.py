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


@pytest.mark.heavy
def test_the_shipped_flows_pass_their_scripts_and_visit_every_state() -> None:
    report = run_flow_tests(ROOT / "flows")
    assert report.ok, report.render()
    assert len(report.results) >= 10
    assert report.unvisited == {"advocacy": [], "petition": []}, report.render()


def test_a_number_sent_or_expected_is_its_digits(tmp_path: Path) -> None:
    """`send: 64108` need not be quoted; `02134` keeps its zero (it is not octal 1116)."""
    from bot.flowtest.script import load_script_file

    path = tmp_path / "s.yaml"
    path.write_text("scripts:\n  - name: n\n    steps:\n      - send: 64108\n"
                    "        expect: [2]\n      - send: 02134\n")
    steps = load_script_file(path).scripts[0].steps
    assert [(s.send, s.expect) for s in steps] == [("64108", ["2"]), ("02134", [])]


def test_a_flow_staff_wrote_from_the_readme_passes_and_its_scripts_visit_every_state(
        ) -> None:
    """tests/flows/rsvp: webhook to a CRM, a route on `lang`, a quiet-hours reminder, a ZIP
    with a leading zero, RETRY after the CRM was down."""
    report = run_flow_tests(ROOT / "tests" / "flows" / "rsvp")
    assert report.ok, report.render()
    assert report.unvisited == {"rsvp": []}, report.render()


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
    with pytest.raises(FlowError) as caught:
        run_flow_tests(folder)
    assert caught.value.line == 1
    assert caught.value.reason == "setting 'p2a_api_base' cannot be set in a flow test"


@pytest.mark.parametrize(
    ("script", "line", "reason"),
    [
        ("settings: {verify_provder: local}\n" + JOIN_SCRIPT, 1,
         "unknown setting 'verify_provder'. Did you mean 'verify_provider'?"),
        (JOIN_SCRIPT.replace("  - name: yes\n", "  - name: yes\n    settings:\n"
                             "      worker_max_tries: lots\n"), 4,
         "setting 'worker_max_tries': 'lots' does not fit"),
        (JOIN_SCRIPT.replace("      - send: JOIN\n", "      - send: JOIN\n        fail: "
                             "{p2aa: {'GET /campaigns': [503]}}\n"), 5,
         "fail: unknown service 'p2aa'. Did you mean 'p2a'?"),
        (JOIN_SCRIPT.replace("      - send: JOIN\n", "      - send: JOIN\n        fail: "
                             "{webhook: {sheet: [slow]}}\n"), 5,
         "fail: a webhook target cannot answer 'slow'"),
    ],
    ids=["misspelt-setting", "setting-of-the-wrong-type", "misspelt-service",
         "unknown-webhook-answer"],
)
def test_a_script_mistake_is_refused_at_its_line_before_anything_runs(
        tmp_path: Path, script: str, line: int, reason: str) -> None:
    """Not a traceback half-way through the run: the file, the line and what to change."""
    with pytest.raises(FlowError) as caught:
        run_flow_tests(flows_with(tmp_path, script))
    assert caught.value.line == line
    assert caught.value.reason.startswith(reason)


def test_a_failure_for_a_route_never_called_fails_the_script(tmp_path: Path) -> None:
    """A misspelt route would otherwise let the script pass without the failure it names."""
    script = JOIN_SCRIPT.replace("      - send: join\n", "      - send: join\n        fail: "
                                 "{p2a: {'GET /campaign': [503]}}\n")
    report = run_flow_tests(flows_with(tmp_path, script))
    mismatch = report.results[1].mismatch
    assert mismatch is not None
    assert mismatch.step == 1
    assert mismatch.error.startswith("fail: p2a route 'GET /campaign' was never called")


PETITION_TIMEOUT = """\
scripts:
  - name: the sheet does not answer in time
    # Its only webhook call is the one that must time out: a tenth of a second, not the
    # flow tests' 2 (the wait is real).
    settings: {webhook_timeout: 0.1}
    steps:
      - send: SIGN
        expect: ["Reply YES"]
      - send: "yes"
        expect: ["What name"]
      - send: Ana
        expect: ["ZIP code"]
      - fail: {webhook: {petition_sheet: [timeout]}}
        send: "64108"
        expect: ["Sorry, we could not record your signature just now."]
"""


def test_a_webhook_target_can_be_made_to_time_out(tmp_path: Path) -> None:
    """An unclear answer (a timeout after sending) is not retried: the flow's on_failure."""
    folder = tmp_path / "flows"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "flows" / "petition.yaml", folder / "petition.yaml")
    (folder / "tests" / "petition.yaml").write_text(PETITION_TIMEOUT)
    report = run_flow_tests(folder)
    assert report.ok, report.render()


async def test_a_staff_target_told_to_time_out_keeps_the_call_waiting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`timeout` hangs past the flow test's webhook timeout (it used to answer a 500)."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.flowtest import runner
    from bot.upstream.webhook import SIGNATURE_HEADER, sign

    waited: list[float] = []

    async def no_real_wait(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("bot.flowtest.runner.asyncio.sleep", no_real_wait)
    staff = runner.StaffEndpoint(b"k")
    staff.answers["sheet"] = ["timeout"]
    app = web.Application()
    app.router.add_post("/staff/{target}", staff.handle)
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/staff/sheet", data=b"{}",
                                   headers={SIGNATURE_HEADER: sign(b"k", b"{}")})
    assert waited[0] == runner.HANG_SECONDS  # (aiohttp may also yield with sleep(0))
    assert runner.HANG_SECONDS > runner.CALL_TIMEOUT_SECONDS
    assert answer.status == 504


def test_no_scripts_names_where_they_were_looked_for(tmp_path: Path) -> None:
    (tmp_path / "join.yaml").write_text((ROOT / "tests" / "flows" / "join.yaml").read_text())
    with pytest.raises(FlowError) as caught:
        run_flow_tests(tmp_path)
    assert caught.value.reason == ("no conversation scripts found: looked for "
                                   f"{tmp_path / 'tests' / '*.yaml'}")
    with pytest.raises(FlowError) as caught:
        run_flow_tests(tmp_path / "join.yaml")
    assert caught.value.reason.endswith(f"looked for {tmp_path / 'tests' / 'join.yaml'}")


def test_a_broken_regular_expression_is_refused_at_its_line(tmp_path: Path) -> None:
    """It was a traceback: `re.error` is not a ValueError, so pydantic let it through."""
    folder = flows_with(tmp_path, JOIN_SCRIPT.replace('"/^(?P<who>\\\\w+): Reply YES/"',
                                                      '"/Reply (YES/"'))
    with pytest.raises(FlowError) as caught:
        run_flow_tests(folder)
    assert caught.value.line == 5
    assert caught.value.reason == (
        "scripts.0.steps.0.expect: /Reply (YES/ is not a valid regular expression (missing ), "
        "unterminated subpattern at position 6); to expect the text as written, leave out the "
        "slashes or put \\ before ( ) [ ] ? * + .")


def test_the_example_script_of_the_readme_passes_on_the_shipped_flow(tmp_path: Path) -> None:
    """Staff copy it first: it must run as written (it sent MENU where MENU means nothing)."""
    readme = (ROOT / "flows" / "README.md").read_text()
    start = readme.index("```yaml\nsettings:") + len("```yaml\n")
    example = readme[start:readme.index("```", start)]
    folder = tmp_path / "flows"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "flows" / "advocacy.yaml", folder / "advocacy.yaml")
    (folder / "tests" / "advocacy.yaml").write_text(example)
    report = run_flow_tests(folder)
    assert report.ok, report.render()
