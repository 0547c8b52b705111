"""The flow check staff rely on: every error of every file, at its line, in plain words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.actions import build_registry
from bot.flow import FlowError
from bot.flow.loader import check_flows, load_flow
from tests.conftest import ROOT, make_settings

ACTIONS = build_registry(make_settings()).params_models()

BASE = """\
name: demo
keywords: [DEMO]
start: ask
states:
  ask:
    say: "Your name?"
    on:
      - when: text
        save: name
        goto: thanks
    timeout: {after: 3600, goto: done}
  thanks:
    say: "Thanks {name}."
    goto: lookup
  lookup:
    action: {type: whatcounts_subscribe}
    on_success: done
    on_failure: done
  done:
    end: true
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[tuple[int | None, str, str]]:
    result = check_flows(path, ACTIONS)
    return [(i.line, i.message, i.hint) for i in result.errors]


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` configures logging for a process (cached loggers); tests keep their own."""
    monkeypatch.setattr("bot.__main__.setup_logging", lambda *args, **kwargs: None)


def test_the_base_flow_is_fine(tmp_path: Path) -> None:
    assert check_flows(write(tmp_path, BASE), ACTIONS).issues == []


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("Thanks {name}.", "Thanks {nmae}."), 13,
         "{nmae} is never saved before state 'thanks': the voter would read an empty gap. "
         "Did you mean 'name'?"),
        (("on_failure: done", "on_failure: lookup"), 18,  # the link to change
         "can repeat forever without waiting for the voter: lookup (on_failure) -> lookup"),
        (("goto: lookup", "goto: lokup"), 14, "leads to 'lokup', which is not defined. "
         "Did you mean 'lookup'?"),
        (("whatcounts_subscribe", "whatcount_subscribe"), 16,
         "unknown action 'whatcount_subscribe'. Did you mean 'whatcounts_subscribe'?"),
        (("- when: text", "- when: txt"), 8, "'txt' is not a kind of reply. Did you mean "
         "'text'?"),
        (("        goto: thanks\n    timeout: {after: 3600, goto: done}\n",
          "        goto: ask\n"), 5,
         "from state 'ask' the conversation can never end"),
    ],
    ids=["placeholder-typo", "action-loops-to-itself", "state-typo", "action-typo",
         "when-typo", "dead-end"],
)
def test_each_mistake_is_named_at_its_line(tmp_path: Path, change: tuple[str, str], line: int,
                                           words: str) -> None:
    path = write(tmp_path, BASE.replace(*change))
    found = [(n, m) for n, m, _ in errors_of(path) if words in m]
    assert found == [(line, found[0][1])], errors_of(path)
    with pytest.raises(FlowError):
        load_flow(path, ACTIONS)


def test_a_loop_of_several_states_is_named_at_the_link_that_closes_it(tmp_path: Path
                                                                     ) -> None:
    path = write(tmp_path, BASE.replace("on_failure: done", "on_failure: thanks"))
    [(line, message, _)] = [e for e in errors_of(path) if "repeat forever" in e[1]]
    assert message.endswith("thanks (goto) -> lookup (on_failure) -> thanks")
    assert line == 18


def test_an_unreachable_state_is_one_error_not_one_per_placeholder(tmp_path: Path) -> None:
    """Cut off by a wrong `goto`, `thanks` saves nothing before itself: only the cut-off
    states are errors, not every `{name}` in them."""
    path = write(tmp_path, BASE.replace("        goto: thanks\n", "        goto: done\n"))
    assert [m for _, m, _ in errors_of(path)] == [
        "state 'thanks' is unreachable from 'ask'", "state 'lookup' is unreachable from 'ask'"]


def test_the_dead_end_needs_a_way_out_but_the_loop_is_its_own_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("on_failure: done", "on_failure: lookup"))
    messages = [m for _, m, _ in errors_of(path)]
    assert any("repeat forever" in m for m in messages)
    assert not any("never end" in m for m in messages)  # `done` is still reachable


def test_every_error_of_every_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, BASE.replace("Thanks {name}.", "Thanks {nmae}.").replace(
        "goto: lookup", "goto: lokup"), "a.yaml")
    write(tmp_path, BASE.replace("name: demo", "name: other").replace("[DEMO]", "[OTHER]")
          .replace("- when: text", "- when: txt"), "b.yaml")
    with pytest.raises(FlowError) as caught:
        load_flow_set_of(tmp_path)
    text = str(caught.value)
    assert f"{tmp_path / 'a.yaml'}:13: {{nmae}}" in text
    assert f"{tmp_path / 'a.yaml'}:14: state 'thanks' leads to 'lokup'" in text
    assert f"{tmp_path / 'b.yaml'}:8: states.ask.on.0.when: 'txt'" in text
    assert text.count("\n    fix: ") == 3


def load_flow_set_of(path: Path) -> object:
    from bot.flow import load_flow_set

    return load_flow_set(path, ACTIONS)


def test_a_duplicated_state_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "  ask:\n    end: true\n")
    [(line, message, hint)] = [e for e in errors_of(path) if "twice" in e[1]]
    assert line == 21
    assert message.startswith("'ask' is written twice in the same place (first at line 5)")
    assert "rename one" in hint


def test_a_plain_text_in_a_flow_of_two_languages_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("keywords: [DEMO]", "languages: [en, es]\nkeywords: [DEMO]").replace(
        'say: "Your name?"', 'say: {en: "Your name?", es: "Su nombre?"}')
    [(line, message, hint)] = errors_of(write(tmp_path, text))
    assert line == 14
    assert "say is one text, but this flow speaks en/es" in message
    assert 'en: "...", es: "..."' in hint


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (BASE.replace("    say: \"Your name?\"", "\tsay: \"Your name?\""), 6,
         "a tab character is used for indenting"),
        (BASE.replace("  thanks:", "  thanks"), 12,
         "a line is missing the colon after its key"),
        (BASE.replace('say: "Thanks {name}."', 'say: "Thanks {name}.'), 13,
         "a quote is opened and never closed"),
        # YAML reads `- when text` and the next line as one text and trips on the next
        # line's colon: the colon is missing on the line above.
        (BASE.replace("- when: text", "- when text"), 8,
         "a line is missing the colon after its key"),
        (BASE.replace('    say: "Your name?"', "    say\n      Your name?"), 6,
         "a line is missing the colon after its key"),
        (BASE.replace('    say: "Thanks {name}."', "    say: Thanks\n      {name}: hi"), 14,
         "a colon in an unexpected place"),
    ],
    ids=["tab", "missing-colon", "open-quote", "missing-colon-in-list",
         "missing-colon-before-text", "colon-in-wrapped-text"],
)
def test_yaml_mistakes_are_said_in_plain_words(tmp_path: Path, text: str, line: int,
                                               words: str) -> None:
    [(found_line, message, hint)] = errors_of(write(tmp_path, text))
    assert (found_line, message) == (line, f"bad YAML: {words}")
    assert hint


def test_a_keyword_of_another_deployed_flow_is_caught_checking_one_file(
        tmp_path: Path) -> None:
    deployed = tmp_path / "flows"
    deployed.mkdir()
    write(deployed, BASE.replace("name: demo", "name: live"), "live.yaml")
    draft = write(tmp_path, BASE.replace("[DEMO]", "[NEW, DEMO]"), "draft.yaml")
    assert check_flows(draft, ACTIONS).issues == []  # alone it is fine
    [issue] = check_flows(draft, ACTIONS, neighbours=deployed).errors
    assert (issue.file, issue.line) == (str(draft), 2)
    assert issue.message == (f"keyword 'DEMO' is also used by flow 'live' "
                             f"({deployed / 'live.yaml'}:2)")


def test_a_compliance_word_is_not_a_trigger(tmp_path: Path) -> None:
    other = BASE.replace("name: demo", "name: other").replace("[DEMO]", "[OTHER]") + (
        "compliance:\n  stop_words: [BASTA]\n")
    write(tmp_path, other, "b.yaml")
    write(tmp_path, BASE.replace("keywords: [DEMO]", "keywords:\n  - DEMO\n  - BASTA\n  - "
                                 "HELP"), "a.yaml")
    issues = check_flows(tmp_path, ACTIONS).errors
    assert [(Path(i.file).name, i.line, i.message.split(":")[0]) for i in issues] == [
        ("a.yaml", 4, "trigger keyword 'BASTA' is a compliance word (STOP)"),
        ("a.yaml", 5, "trigger keyword 'HELP' is a compliance word (HELP)"),
    ]


def test_long_and_ucs2_texts_are_warnings_not_errors(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    long = "word " * 80
    path = write(tmp_path, BASE.replace("Your name?", "Your name\u2019s?").replace(
        "Thanks {name}.", f"Thanks {{name}}. {long}"))
    result = check_flows(path, ACTIONS)
    assert result.errors == []
    assert [(w.line, w.message.split(",")[0]) for w in result.warnings] == [
        (6, "say has '\u2019'"), (13, "say is 3 SMS segments long (before placeholders are "
                                      "filled); each segment is billed")]
    assert main(["flows", "check", str(path)]) == 0
    assert f"{path}:6: warning: say has" in capsys.readouterr().out


def test_check_command_exits_non_zero_listing_every_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BASE.replace("Thanks {name}.", "Thanks {nmae}.").replace(
        "goto: lookup", "goto: lokup"))
    assert main(["flows", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:13: {{nmae}} is never saved" in err
    assert f"{path}:14: state 'thanks' leads to 'lokup'" in err
    assert "2 error(s), 0 warning(s)" in err


def test_graph_names_an_unknown_flow_and_labels_edges_like_the_yaml(
        capsys: pytest.CaptureFixture[str]) -> None:
    flows = str(ROOT / "flows")
    assert main(["flows", "graph", "advocasy", "--path", flows]) == 2
    assert "no flow named 'advocasy'" in capsys.readouterr().err
    assert main(["flows", "graph", "advocacy", "--path", flows]) == 0
    out = capsys.readouterr().out
    assert "ask_code --> resend_code: RESEND / REENVIAR" in out
    assert "check_code --> wrong_code: on_failure wrong_code" in out
    assert "optin --> expired: timeout after 1 day" in out
    assert "'" not in out and "{" not in out


@pytest.mark.parametrize(
    ("change", "line", "message", "hint"),
    [
        (("- when: text", "- when: {keyword: NAME}"), 8,
         "states.ask.on.0.when.keyword: a list is needed here, found 'NAME'",
         "write a list in brackets, like [NAME]"),
        (("timeout: {after: 3600, goto: done}", "timeout: 3600"), 11,
         "states.ask.timeout: keys are needed here, found 3600",
         "write it with its keys (after, goto, quiet_hours), like `timeout: {after: ..., ...}`"),
        (("on_success: done", "on_sucess: done"), 17,
         "states.lookup.on_sucess: unknown key 'on_sucess'. Did you mean 'on_success'?",
         "keys allowed here: action, end, forget, goto, max_attempts, on, on_failure, "
         "on_max_attempts, on_success, reprompt, say, timeout"),
        (("after: 3600", "after: 1h"), 11,
         "states.ask.timeout.after: a whole number is needed here, found '1h'",
         "seconds, as a number without a unit: 3600 is an hour, 86400 a day"),
        (("keywords: [DEMO]", "keywords: DEMO"), 2,
         "keywords: a list of words is needed here, found 'DEMO'",
         "write `keywords: [RSVP]`, or one list per language: "
         "`keywords: {en: [RSVP], es: [ASISTIR]}`"),
        (("after: 3600", "after: 0"), 11,
         "states.ask.timeout.after: must be more than 0, found 0",
         "seconds: 3600 is an hour, 86400 a day"),
        (("      - when: text\n        save: name\n        goto: thanks\n",
          "      when: text\n      save: name\n      goto: thanks\n"), 8,
         "states.ask.on: a list is needed here, but its items have no `- `",
         "start each item with a dash and a space: `- when: ...`, and the item's other keys "
         "under it, lined up with its first"),
        (("keywords: [DEMO]", "languages: [english]\nkeywords: [DEMO]"), 2,
         "languages.0: 'english' is not a language code",
         "write the two-letter code: en for English, es for Spanish"),
        (('say: "Your name?"', "say: 404"), 6,
         "states.ask.say: a text is needed here, found the number 404",
         'put it in double quotes: "404"'),
    ],
    ids=["list-needed", "mapping-needed", "misspelt-key", "duration-with-a-unit",
         "keywords-not-a-list", "number-too-small", "list-items-without-dashes",
         "language-name", "number-as-text"],
)
def test_shape_mistakes_are_explained(tmp_path: Path, change: tuple[str, str], line: int,
                                      message: str, hint: str) -> None:
    [found] = errors_of(write(tmp_path, BASE.replace(*change)))
    assert found == (line, message, hint)


def test_an_unknown_action_saves_nothing_so_its_placeholders_are_still_checked(
        tmp_path: Path) -> None:
    text = BASE.replace("whatcounts_subscribe", "webhok").replace(
        "    on_success: done", '    on_success: done\n    say: "Sent {nmae}"')
    messages = [m for _, m, _ in errors_of(write(tmp_path, text))]
    assert any(m.startswith("unknown action 'webhok'. Did you mean 'webhook'?")
               for m in messages)
    assert any(m.startswith("{nmae} is never saved before state 'lookup'") for m in messages)


def test_one_broken_state_does_not_hide_the_mistakes_of_the_others(tmp_path: Path) -> None:
    text = BASE.replace("- when: text", "- when: txt").replace(
        "whatcounts_subscribe", "webhok").replace("goto: lookup", "goto: lokup")
    assert [(line, m.split(".")[0]) for line, m, _ in errors_of(write(tmp_path, text))] == [
        (8, "states"),  # states.ask.on.0.when: 'txt' ...
        (14, "state 'thanks' leads to 'lokup', which is not defined"),
        (16, "unknown action 'webhok'"),
    ]


WEBHOOK_STATE = """\
  lookup:
    action:
      type: webhook
      params: {to: crm, name: "{name}", incude_phone: "true"}
"""


def test_a_misspelt_webhook_option_is_a_warning_as_it_would_be_a_body_field(
        tmp_path: Path) -> None:
    text = BASE.replace("  lookup:\n    action: {type: whatcounts_subscribe}\n", WEBHOOK_STATE)
    result = check_flows(write(tmp_path, text), ACTIONS)
    assert result.errors == []
    assert [(w.line, w.message) for w in result.warnings] == [
        (18, "'incude_phone' is not a parameter of action 'webhook', so it is sent as a field "
             "named 'incude_phone'. Did you mean 'include_phone'?")]


@pytest.mark.parametrize(
    ("var", "words"),
    [("langg", "tests a value never saved before state 'lookup', so it is never set. "
               "Did you mean 'lang'?"),
     ("program", "tests a value never saved before state 'lookup', so it is never set.")],
    ids=["lang-misspelt", "program-is-for-texts-only"],
)
def test_a_var_route_tests_only_what_it_can_see(tmp_path: Path, var: str, words: str) -> None:
    """`when: {var: ...}` reads the stored values and `lang`; `{program}` is only a text's."""
    text = BASE.replace("    on_success: done\n", "    on_success:\n      - when: {var: "
                        + var + ", equals: es}\n        goto: done\n      - goto: done\n")
    [(line, message, _)] = errors_of(write(tmp_path, text))
    assert line == 18
    assert message == f"`when: {{var: {var}}}` {words}"


def test_one_keyword_for_two_languages_is_refused(tmp_path: Path) -> None:
    """The keyword picks the language: RSVP for en and es would answer everyone in one."""
    text = BASE.replace("keywords: [DEMO]", "languages: [en, es]\nkeywords:\n  en: [DEMO]\n"
                        "  es: [VENGO, demo]").replace('"Your name?"', '{en: "Name?", es: '
                        '"Nombre?"}').replace('"Thanks {name}."', '{en: "Hi {name}.", es: '
                        '"Hola {name}."}')
    [(line, message, hint)] = errors_of(write(tmp_path, text))
    assert line == 5
    assert message.startswith("keyword 'demo' is listed for en (line 4) and for es")
    assert hint == "give each language its own keyword"


def test_lang_as_a_placeholder_points_to_routing_on_it(tmp_path: Path) -> None:
    [(line, message, hint)] = errors_of(write(tmp_path, BASE.replace("Thanks {name}.",
                                                                      "Thanks {name} {lang}.")))
    assert (line, message) == (13, "{lang} is never saved before state 'thanks': the voter "
                                   "would read an empty gap.")
    assert hint.startswith("the conversation's language is not a placeholder; route on it "
                           "with `when: {var: lang, equals: es}`")


def test_a_forgotten_languages_line_is_named_at_the_keywords(tmp_path: Path) -> None:
    """Without `languages:` a flow is English only: Spanish keywords and texts are refused,
    in words (not as a Python list)."""
    text = BASE.replace("keywords: [DEMO]", "keywords: {en: [DEMO], es: [DEMOS]}").replace(
        '"Your name?"', '{en: "Name?", es: "Nombre?"}')
    errors = errors_of(write(tmp_path, text))
    assert errors[0] == (2, "keywords for 'es', but the flow's languages are en (without "
                            "`languages:`, a flow is English only)",
                         "add it: `languages: [en, es]`")
    assert errors[1][:2] == (6, "say has a 'es' text, but the flow's languages are en")
    assert len(errors) == 2


def test_a_state_indented_into_the_one_above_is_said_so(tmp_path: Path) -> None:
    """Not "unknown key 'done'. Did you mean 'end'?"."""
    text = BASE.replace("  done:\n    end: true\n", "    done:\n      end: true\n")
    found = [e for e in errors_of(write(tmp_path, text)) if e[0] == 19]
    assert found == [(19, "states.lookup.done: 'done' looks like a state, but it is indented "
                          "inside state 'lookup'", "move it left to line up with the other "
                          "states (two spaces under `states:`)")]
