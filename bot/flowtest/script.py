"""The conversation scripts staff write beside their flows (`flows/tests/*.yaml`).

    scripts:
      - name: join and verify in English
        steps:
          - send: JOIN
            expect: ["Reply YES"]                 # one entry per text the bot sends, in order
          - send: "yes"
            expect: ["/code is (?P<code>\\d{6})/", "We sent you a code"]
          - fail: {p2a: {"GET /campaigns": [503, 503, 503, 503, 503, 503]}}
            send: "{code}"                        # a value an earlier /regex/ captured
            expect: ["Thanks, your number is confirmed.", "/could not load the campaigns/"]
          - send: MENU
            expect: ["/Which campaign/"]
          - wait: 1d                              # the clock jumps; due timeouts fire
            expect: []

An expectation is a substring of the text, or a regular expression between slashes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from bot.config import Settings
from bot.flow.errors import FlowError, Issue
from bot.flow.explain import explain
from bot.flow.suggest import did_you_mean, listing
from bot.flow.yamlmarks import line_of
from bot.flow.yamlread import read_yaml

#: The sandboxed services a step's `fail:` may name (and `webhook`, for staff targets).
SERVICES = ("twilio", "telesign", "p2a", "wevote", "whatcounts", "quorum")
#: What a staff webhook target can be made to answer, besides an HTTP status.
WEBHOOK_KINDS = ("empty", "timeout")
#: Settings a script may not change: they would leave the sandboxes or the process.
FIXED_SETTINGS = frozenset({
    "redis_url", "flow_path", "sms_sender", "run_worker", "public_base_url", "port", "host",
    "webhook_targets", "webhook_secret", *(f"{s}_api_base" for s in SERVICES)})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: str | int | float) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d` -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    found = _DURATION.match(value)
    if not found:
        raise ValueError(f"{value!r} is not a duration (like 90, 15m, 2h or 1d)")
    return float(found.group(1)) * _UNIT[found.group(2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptStep(Strict):
    """One turn: optionally make upstreams fail, move the clock, send a text; then expect."""

    fail: dict[str, dict[str, list[int | str]]] = Field(default_factory=dict)
    """Per sandbox service (p2a, telesign, wevote, whatcounts, twilio, quorum), per route
    (`GET /campaigns`), what its next calls answer: a status (`503`, `400`), `timeout`, or
    for P2A lists `empty`. `webhook` takes target names (`petition_sheet: [503]`), and
    `empty` there answers `{}` and `timeout` never answers. The worker retries a 503 up to
    WORKER_MAX_TRIES times (quickly, in a flow test), so six 503s make the action fail with
    `unavailable`."""
    wait: str | int | float | None = None
    """Move the clock this long first (`90`, `15m`, `2h`, `1d`); timers due by then fire."""
    send: str | None = None
    """The voter's text; `{name}` is a value captured by an earlier `/(?P<name>...)/`."""
    expect: list[str] = Field(default_factory=list)
    """What the bot sends after this turn, one entry per text, in order."""

    @field_validator("send", mode="before")
    @classmethod
    def _a_number_is_its_digits(cls, value: object) -> object:
        """`send: 64108` is the text 64108 (a ZIP with a leading zero stays text anyway)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("expect", mode="before")
    @classmethod
    def _numbers_expected_as_text(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for v in value]
        return value

    @field_validator("wait")
    @classmethod
    def _wait_is_a_duration(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None:
            seconds(value)
        return value

    @field_validator("expect")
    @classmethod
    def _regexes_compile(cls, value: list[str]) -> list[str]:
        for item in value:
            if is_regex(item):
                try:
                    re.compile(item[1:-1])
                except re.error as exc:  # not a ValueError: pydantic would let it escape
                    raise ValueError(f"{item} is not a valid regular expression ({exc}); "
                                     "to expect the text as written, leave out the slashes "
                                     "or put \\ before ( ) [ ] ? * + .") from None
        return value


class Script(Strict):
    """One conversation, from a fresh phone, on fresh sandboxes."""

    name: str
    phone: str = "+15555550100"
    settings: dict[str, Any] = Field(default_factory=dict)
    """Settings for this script only, over the file's (e.g. `verify_provider: telesign`)."""
    webhook_targets: list[str] | None = None
    """The webhook targets served (a local stand-in that checks the signature and answers
    `{"count": N}`); default: every target the flows name. `[]`: none configured."""
    clock: str | None = None
    """Start time, ISO 8601 (`2026-12-01T20:30:00-05:00`), e.g. to test quiet hours."""
    steps: list[ScriptStep] = Field(min_length=1)


class ScriptFile(Strict):
    """A file of scripts; `settings` overrides the bot's settings for all of them."""

    settings: dict[str, Any] = Field(default_factory=dict)
    scripts: list[Script] = Field(min_length=1)


def is_regex(expectation: str) -> bool:
    return len(expectation) >= 2 and expectation.startswith("/") and expectation.endswith("/")


def load_script_file(path: Path) -> ScriptFile:
    """Read one script file; a broken one raises `FlowError` with its lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError(path, None, f"cannot read: {exc}") from exc
    root, data, issues = read_yaml(str(path), text)
    if issues:
        raise FlowError.from_issues(issues)
    try:
        scripts = ScriptFile.model_validate(data)
    except ValidationError as exc:
        found = explain(str(path), root, data, exc, ScriptFile) or [
            Issue(str(path), None, str(exc))]
        raise FlowError.from_issues(found) from exc
    problems = list(_setting_problems(str(path), root, ["settings"], scripts.settings))
    for i, script in enumerate(scripts.scripts):
        here: list[int | str] = ["scripts", i]
        problems += _setting_problems(str(path), root, [*here, "settings"], script.settings)
        for j, step in enumerate(script.steps):
            problems += _fail_problems(str(path), root, [*here, "steps", j, "fail"], step)
    if problems:
        raise FlowError.from_issues(problems)
    return scripts


def _setting_problems(file: str, root: yaml.Node | None, here: list[int | str],
                      values: dict[str, Any]) -> list[Issue]:
    """A misspelt, fixed or badly typed setting, at its line (not when the script runs)."""
    fields = Settings.model_fields
    settable = [n for n in fields if n not in FIXED_SETTINGS]
    problems = []
    for name, value in values.items():
        line = line_of(root, [*here, name], key=True)
        if name in FIXED_SETTINGS:
            problems.append(Issue(file, line, f"setting {name!r} cannot be set in a flow test",
                                  "a flow test always runs on the sandboxes, in this process; "
                                  "remove it"))
        elif name not in fields:
            problems.append(Issue(file, line, f"unknown setting {name!r}."
                                  f"{did_you_mean(name, settable)}",
                                  "settings are the names of README.md's environment "
                                  "variables in lowercase (verify_provider, quiet_hours_start)"))
        else:
            try:
                annotation: Any = fields[name].annotation
                TypeAdapter(annotation).validate_python(value)
            except ValidationError as exc:
                problems.append(Issue(file, line, f"setting {name!r}: {value!r} does not fit "
                                      f"({exc.errors()[0]['msg']})",
                                      "see the variable in README.md"))
    return problems


def _fail_problems(file: str, root: yaml.Node | None, here: list[int | str],
                   step: ScriptStep) -> list[Issue]:
    """An unknown service in `fail:`, or an answer a staff webhook target cannot give."""
    problems = []
    known = [*SERVICES, "webhook"]
    for service, routes in step.fail.items():
        if service not in known:
            problems.append(Issue(file, line_of(root, [*here, service], key=True),
                                  f"fail: unknown service {service!r}."
                                  f"{did_you_mean(service, known)}",
                                  f"name one of: {listing(known)}; under `webhook`, the "
                                  "target's name (`to:` of the action)"))
            continue
        if service != "webhook":
            continue
        for target, kinds in routes.items():
            for kind in kinds:
                if isinstance(kind, int) or kind in WEBHOOK_KINDS:
                    continue
                problems.append(Issue(file, line_of(root, [*here, service, target]),
                                      f"fail: a webhook target cannot answer {kind!r}",
                                      f"write an HTTP status (503, 400) or one of: "
                                      f"{', '.join(WEBHOOK_KINDS)}"))
    return problems
