"""Read flow files: safe YAML, pydantic validation, then cross-reference checks.

Everything wrong with a flow is found here, at start-up, and reported as
`FlowError(file, line, reason)`; nothing about a flow can fail later at run time.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from bot.flow.errors import FlowError
from bot.flow.schema import FlowSpec, StateSpec, Text
from bot.flow.yamlmarks import line_of, read_flow_yaml

MAX_FILE_BYTES = 512 * 1024
_CONFLICT_MARKERS = ("<<<<<<< ", "=======\n", ">>>>>>> ")

ActionParams = Mapping[str, type[BaseModel] | None]
"""Known action names, each with the pydantic model its `params` must fit (None: any)."""


def flow_files(path: Path) -> list[Path]:
    """The flow files at `path`: the file itself, or every `*.yaml`/`*.yml` in the folder."""
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise FlowError(path, None, "no flow files (*.yaml) in this folder")
        return files
    if not path.exists():
        raise FlowError(path, None, "no such file or folder")
    return [path]


def load_flows(path: Path, actions: ActionParams) -> list[FlowSpec]:
    """Load and check every flow at `path`; trigger keywords must not clash between flows."""
    specs: list[FlowSpec] = []
    owner: dict[str, str] = {}
    for file in flow_files(path):
        spec = load_flow(file, actions)
        for words in spec.keywords_by_language().values():
            for word in words:
                key = word.strip().upper()
                if key in owner:
                    raise FlowError(file, None, f"keyword {word!r} is also used by flow "
                                    f"{owner[key]!r}")
                owner[key] = spec.name
        if any(s.name == spec.name for s in specs):
            raise FlowError(file, None, f"another file already defines flow {spec.name!r}")
        specs.append(spec)
    return specs


def load_flow(file: Path, actions: ActionParams) -> FlowSpec:
    """Load one flow file and check it whole."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise FlowError(file, None, f"cannot read: {exc.strerror}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise FlowError(file, None, f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError(file, None, "not UTF-8 text") from exc
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.startswith(_CONFLICT_MARKERS):
            raise FlowError(file, number, "merge conflict marker left in the file")
    try:
        root, data = read_flow_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        lineno = mark.line + 1 if mark else None
        raise FlowError(file, lineno, f"bad YAML: {exc.problem or exc}") from exc
    if not isinstance(data, dict):
        raise FlowError(file, 1, "a flow file must be a mapping (name:, keywords:, states: ...)")
    try:
        spec = FlowSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path: list[int | str] = [p for p in first["loc"] if isinstance(p, int | str)]
        where = ".".join(str(p) for p in path) or "flow"
        raise FlowError(file, line_of(root, path), f"{where}: {first['msg']}") from exc
    problems = list(_cross_check(spec, actions))
    if problems:
        loc, reason = problems[0]
        raise FlowError(file, line_of(root, loc, key=loc[-1] in spec.states), reason)
    return spec


Problem = tuple[list[int | str], str]


def _cross_check(spec: FlowSpec, actions: ActionParams) -> Iterator[Problem]:
    if spec.start not in spec.states:
        yield ["start"], f"start state {spec.start!r} is not defined"
    for name, state in spec.states.items():
        yield from _check_state(spec, name, state, actions)
    yield from _check_texts(spec, ["compliance"], spec.compliance.model_dump())
    yield from _check_reachable(spec)
    yield from _check_auto_cycles(spec)


def _targets(state: StateSpec) -> Iterator[tuple[list[int | str], str]]:
    for i, t in enumerate(state.on):
        yield ["on", i, "goto"], t.goto
    for key in ("goto", "on_max_attempts"):
        target = getattr(state, key)
        if target:
            yield [key], target
    for key in ("on_success", "on_failure"):
        routes = getattr(state, key)
        if isinstance(routes, str):
            yield [key], routes
        elif isinstance(routes, list):
            for i, route in enumerate(routes):
                yield [key, i, "goto"], route.goto
    if state.timeout:
        yield ["timeout", "goto"], state.timeout.goto


def _check_state(
    spec: FlowSpec, name: str, state: StateSpec, actions: ActionParams
) -> Iterator[Problem]:
    here: list[int | str] = ["states", name]
    for loc, target in _targets(state):
        if target not in spec.states:
            yield here + loc, f"state {name!r} leads to {target!r}, which is not defined"
    kinds = [k for k, v in (("on", state.on), ("action", state.action),
                            ("goto", state.goto), ("end", state.end)) if v]
    if len(kinds) != 1:
        what = " and ".join(kinds) if kinds else "nothing"
        yield here, (f"state {name!r} must do exactly one of: wait for a reply (on), call an "
                     f"action (action), move on (goto) or end (end: true); it has {what}")
    if state.on and state.say is None:
        yield here, f"state {name!r} has no message (say:)"
    if state.action is not None:
        yield from _check_action(name, state, here, actions)
    yield from _check_texts(spec, here, {"say": state.say, "reprompt": state.reprompt})


def _check_action(
    name: str, state: StateSpec, here: list[int | str], actions: ActionParams
) -> Iterator[Problem]:
    assert state.action is not None
    if state.action.type not in actions:
        known = ", ".join(sorted(actions)) or "none"
        yield here + ["action", "type"], (f"unknown action {state.action.type!r} "
                                          f"(known: {known})")
        return
    if state.on_success is None or state.on_failure is None:
        yield here + ["action"], (f"state {name!r} calls an action: it needs on_success "
                                  "and on_failure")
    for key in ("on_success", "on_failure"):
        routes = getattr(state, key)
        if isinstance(routes, list) and (not routes or routes[-1].when is not None):
            yield here + [key], f"{key} needs a last route without `when:` (every other result)"
    model = actions[state.action.type]
    if model is not None:
        fields = model.model_fields
        for key in state.action.params:
            if key not in fields:
                yield here + ["action", "params", key], (
                    f"action {state.action.type!r} has no parameter {key!r} "
                    f"(it takes: {', '.join(fields) or 'none'})")
        for key, info in fields.items():
            if info.is_required() and key not in state.action.params:
                yield here + ["action", "params"], (
                    f"action {state.action.type!r} needs parameter {key!r}")


def _check_texts(spec: FlowSpec, here: list[int | str],
                 texts: Mapping[str, object]) -> Iterator[Problem]:
    for key, text in texts.items():
        if not isinstance(text, str | dict):
            continue
        variants: dict[str, str] = text if isinstance(text, dict) else {"*": text}
        if isinstance(text, dict):
            for lang in spec.languages:
                if lang not in text:
                    yield here + [key], f"{key} has no {lang!r} text (languages: {spec.languages})"
        for lang, variant in variants.items():
            try:
                list(string.Formatter().parse(variant))
            except ValueError as exc:
                yield here + [key, lang] if lang != "*" else here + [key], (
                    f"{key}: bad placeholder ({exc}); write {{{{ and }}}} for literal braces")


def _check_reachable(spec: FlowSpec) -> Iterator[Problem]:
    seen = {spec.start}
    todo = [spec.start]
    while todo:
        state = spec.states.get(todo.pop())
        if state is None:
            continue
        for _, target in _targets(state):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for name in spec.states:
        if name not in seen:
            yield ["states", name], f"state {name!r} is unreachable from {spec.start!r}"


def _check_auto_cycles(spec: FlowSpec) -> Iterator[Problem]:
    """States that move on at once (`goto`) must not loop without waiting for anyone."""
    for name in spec.states:
        path = [name]
        current = spec.states[name].goto
        while current is not None and current in spec.states:
            if current in path:
                yield ["states", name], ("states " + " -> ".join([*path, current]) +
                                         " loop forever without waiting for a reply")
                return
            path.append(current)
            current = spec.states[current].goto


def text_for(text: Text | None, lang: str, default_lang: str) -> str | None:
    """Pick the variant of a message for a language (falling back to the flow's first)."""
    if text is None or isinstance(text, str):
        return text
    return text.get(lang) or text.get(default_lang)
