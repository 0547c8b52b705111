"""`flows check`: segments counted with every placeholder at its longest known value, and
the warnings about an unset HELP_CONTACT and a webhook target the deployment does not name."""

from __future__ import annotations

from pathlib import Path

from bot.flowcheck import report
from bot.placeholders import at_longest, longest_lengths
from tests.conftest import ROOT, make_settings

FLOW = """name: tiny
keywords: [TINY]
start: ask
states:
  ask:
    say: "Who?"
    on:
      - {when: text, save: targets_list, goto: name}
  name:
    say: "Your name?"
    on:
      - {when: text, save: mystery, goto: confirm}
  confirm:
    say: "Call {targets_list}? {mystery}"
    on:
      - {when: "yes", goto: done}
  done:
    say: "Thanks from {program}."
    end: true
"""


def test_a_legislator_list_counts_at_its_longest(tmp_path: Path) -> None:
    flow = tmp_path / "tiny.yaml"
    flow.write_text(FLOW)
    out, usable = report(flow, settings=make_settings(help_contact="help@example.org"))
    assert usable
    # 9 legislators of 40 characters with a party: 430 characters, 3 segments at least;
    # as written ("Call {targets_list}? {mystery}") it would be one.
    [confirm] = [line for line in out.splitlines() if "confirm.say" in line]
    assert "3 segments at most" in confirm and "as written: {mystery}" in confirm
    assert "HELP_CONTACT" not in out


def test_an_unset_help_contact_is_a_warning(tmp_path: Path) -> None:
    flow = tmp_path / "tiny.yaml"
    flow.write_text(FLOW)
    out, _ = report(flow, settings=make_settings(help_contact=None))
    assert "warning: HELP_CONTACT is not set" in out
    assert out.splitlines()[-1].startswith("1 flow(s) ok, 1 warning(s)")


def test_longest_values_follow_the_settings() -> None:
    from bot.actions import build_registry
    from bot.flow.loader import load_flows

    [spec] = load_flows(ROOT / "flows" / "advocacy.yaml",
                        build_registry(make_settings()).params_models())
    lengths = longest_lengths(make_settings(program_name="Acme Action Fund",
                                            campaigns_per_page=3), spec)
    text, unknown = at_longest("{program}: {campaigns_menu}", lengths)
    menu = 3 * len("1) ") + 3 * 40 + 2  # three numbered names of 40, two newlines
    assert (text, unknown) == ("x" * len("Acme Action Fund") + ": " + "x" * menu, set())


def test_a_webhook_target_missing_from_the_deployment_is_a_warning() -> None:
    petition = ROOT / "flows" / "petition.yaml"
    missing, usable = report(petition, settings=make_settings(
        webhook_targets={"crm": "https://crm.example.org/hook"}))
    assert usable
    assert "warning: petition.sign: webhook target 'petition_sheet' is not in" in missing
    named, _ = report(petition, settings=make_settings(
        webhook_targets={"petition_sheet": "https://sheet.example.org/hook"}))
    stand_in, _ = report(petition, settings=make_settings())  # the embedded default
    assert "webhook target" not in named + stand_in
