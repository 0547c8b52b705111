"""`flows check` warns when an opt-in question leaves out a disclosure carriers require."""

from __future__ import annotations

from pathlib import Path

from bot.flow.consent_texts import missing_disclosures
from bot.flowcheck import report
from tests.conftest import ROOT, make_settings

FULL_EN = ("{program}: Reply YES to get alerts. Msg frequency varies. Msg & data rates may "
           "apply. Reply HELP for help, STOP to cancel.")
FULL_ES = ("{program}: Responda SI para recibir alertas. Frecuencia de msjs varia. Pueden "
           "aplicarse tarifas de msjs y datos. Responda AYUDA para ayuda, PARAR para cancelar.")


def test_a_complete_question_lacks_nothing() -> None:
    assert missing_disclosures(FULL_EN) == []
    assert missing_disclosures(FULL_ES) == []
    assert missing_disclosures("{program}: up to 4 msgs/mo. Msg&data rates may apply. "
                               "Text HELP for help, STOP to end.") == []


def test_each_missing_part_is_named() -> None:
    assert missing_disclosures("Want alerts? Reply YES.") == [
        "the program's name ({program})", 'how often messages come ("Msg frequency varies")',
        '"Msg & data rates may apply"', "how to get help (HELP)", "how to stop (STOP)"]
    assert missing_disclosures(FULL_EN.replace("HELP for help, ", "")) == [
        "how to get help (HELP)"]


def test_the_check_warns_per_language_and_still_accepts_the_flow(tmp_path: Path) -> None:
    flow = tmp_path / "alerts.yaml"
    flow.write_text(f"""name: alerts
languages: [en, es]
keywords: {{en: [ALERTS], es: [ALERTAS]}}
start: ask
states:
  ask:
    say:
      en: "{FULL_EN.replace(' Msg frequency varies.', '')}"
      es: "{FULL_ES}"
    on:
      - {{when: "yes", opt_in: true, goto: done}}
    timeout: {{after: 86400, goto: done}}
  done:
    say: {{en: "Thanks.", es: "Gracias."}}
    end: true
""")
    out, usable = report(flow, settings=make_settings(help_contact="help@example.org"))
    assert usable
    assert ("alerts.yaml:8: warning: the opt-in question of 'ask' (en) does not say how "
            "often messages come") in out
    assert "(es) does not say" not in out


def test_the_shipped_flows_disclose_everything() -> None:
    out, usable = report(ROOT / "flows", settings=make_settings(help_contact="x@example.org"))
    assert usable and "opt-in question" not in out
