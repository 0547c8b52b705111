"""The conversation scripts staff write beside their flows (`flows/tests/*.yaml`).

    scripts:
      - name: join and verify in English
        steps:
          - send: JOIN
            expect: ["Reply YES"]                 # one entry per text the bot sends, in order
          - send: "yes"
            expect: ["/code is (?P<code>\\d{6})/", "We sent you a code"]
          - send: "{code}"                        # a value an earlier /regex/ captured
            expect: ["Thanks, your number is confirmed.", "/Which campaign/"]
          - fail: {p2a: {"GET /campaigns": [503, 503, 503, 503, 503, 503]}}
            send: MENU
            expect: ["/could not load the campaigns/"]
          - wait: 1d                              # the clock jumps; due timeouts fire
            expect: []

An expectation is a substring of the text, or a regular expression between slashes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.flow.errors import FlowError, Issue
from bot.flow.explain import explain
from bot.flow.yamlread import read_yaml

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
    `empty` there answers `{}`. The worker retries a 503 up to WORKER_MAX_TRIES times (quickly,
    in a flow test), so six 503s make the action fail with `unavailable`."""
    wait: str | int | float | None = None
    """Move the clock this long first (`90`, `15m`, `2h`, `1d`); timers due by then fire."""
    send: str | None = None
    """The voter's text; `{name}` is a value captured by an earlier `/(?P<name>...)/`."""
    expect: list[str] = Field(default_factory=list)
    """What the bot sends after this turn, one entry per text, in order."""

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
                re.compile(item[1:-1])
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
        return ScriptFile.model_validate(data)
    except ValidationError as exc:
        found = explain(str(path), root, data, exc, ScriptFile) or [
            Issue(str(path), None, str(exc))]
        raise FlowError.from_issues(found) from exc
