"""The checks of one flow after its keys validated: references, actions, texts, placeholders.

Each check yields `Problem`s (a path into the file, the message, a fix hint); the loader puts
file and line on them. The checks of the flow as a graph (loops, dead ends, what is saved
where) are in `bot/flow/graph.py`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from bot.flow.catalog import CATALOG, reasons_of
from bot.flow.schema import FlowSpec, StateSpec, Text
from bot.flow.suggest import did_you_mean, listing

ActionParams = Mapping[str, type[BaseModel] | None]
"""Known action names, each with the pydantic model its `params` must fit (None: any)."""

Path_ = list[int | str]

#: Placeholders every message may use (`join_en`/`join_es`: the flow's first keyword of
#: each language, as the engine renders them).
BUILT_IN = frozenset({"program", "help_contact", "join_en", "join_es"})


@dataclass(frozen=True)
class Problem:
    """Something wrong at `path` in a flow file; `key` points at the key's line."""

    path: Path_
    message: str
    hint: str = ""
    key: bool = False
    warning: bool = False


def targets(state: StateSpec) -> Iterator[tuple[Path_, str, str]]:
    """(path, destination, kind) of every way out of a state; kind says what moves it:
    `reply`, `goto`, `on_success`, `on_failure`, `timeout` or `on_max_attempts`."""
    for i, t in enumerate(state.on):
        yield ["on", i, "goto"], t.goto, "reply"
    if state.goto:
        yield ["goto"], state.goto, "goto"
    if state.on_max_attempts:
        yield ["on_max_attempts"], state.on_max_attempts, "on_max_attempts"
    for key in ("on_success", "on_failure"):
        routes = getattr(state, key)
        if isinstance(routes, str):
            yield [key], routes, key
        elif isinstance(routes, list):
            for i, route in enumerate(routes):
                yield [key, i, "goto"], route.goto, key
    if state.timeout:
        yield ["timeout", "goto"], state.timeout.goto, "timeout"


def check_spec(spec: FlowSpec, actions: ActionParams) -> Iterator[Problem]:
    """Every problem of one flow that does not need the graph."""
    if spec.start not in spec.states:
        yield Problem(["start"], f"start state {spec.start!r} is not defined."
                      f"{did_you_mean(spec.start, spec.states)}",
                      f"name one of the states: {listing(spec.states)}")
    if isinstance(spec.keywords, dict):
        for lang in spec.keywords:
            if lang not in spec.languages:
                yield Problem(["keywords", lang], f"keywords for {lang!r}, but the flow's "
                              f"languages are {', '.join(spec.languages)} (without "
                              "`languages:`, a flow is English only)",
                              f"add it: `languages: [{', '.join([*spec.languages, lang])}]`",
                              key=True)
    for name, state in spec.states.items():
        yield from _check_state(spec, name, state, actions)
    yield from check_texts(spec, ["compliance"], spec.compliance.model_dump(
        include={"help", "stop", "start", "idle"}), built_in_only=True)


def _check_state(spec: FlowSpec, name: str, state: StateSpec, actions: ActionParams
                 ) -> Iterator[Problem]:
    here: Path_ = ["states", name]
    for loc, target, _ in targets(state):
        if target not in spec.states:
            yield Problem(here + loc, f"state {name!r} leads to {target!r}, which is not "
                          f"defined.{did_you_mean(target, spec.states)}",
                          f"add a state {target!r}, or name an existing one")
    kinds = [k for k, v in (("on", state.on), ("action", state.action),
                            ("goto", state.goto), ("end", state.end)) if v]
    if len(kinds) != 1:
        what = " and ".join(kinds) if kinds else "nothing"
        yield Problem(here, f"state {name!r} must do exactly one of: wait for a reply (on), "
                      f"call an action (action), move on (goto) or end (end: true); it has "
                      f"{what}", "keep one of them; split the state in two if you need both",
                      key=True)
    if state.on and state.say is None:
        yield Problem(here, f"state {name!r} has no message (say:)",
                      "a state that waits for a reply must say what it expects", key=True)
    if state.action is not None:
        yield from _check_action(name, state, here, actions)
    elif state.on_success is not None or state.on_failure is not None:
        yield Problem(here, f"state {name!r} has on_success/on_failure but no action",
                      "add `action:`, or use `goto:` to move on", key=True)
    yield from check_texts(spec, here, {"say": state.say, "reprompt": state.reprompt})


def _check_action(name: str, state: StateSpec, here: Path_, actions: ActionParams
                  ) -> Iterator[Problem]:
    assert state.action is not None
    kind = state.action.type
    callable_ = [a for a in actions if CATALOG.get(a) is None or CATALOG[a].flows_call_it]
    if kind not in actions:
        yield Problem(here + ["action", "type"], f"unknown action {kind!r}."
                      f"{did_you_mean(kind, callable_)}",
                      f"actions: {listing(callable_)} (python -m bot flows actions)")
        return
    if state.on_success is None or state.on_failure is None:
        yield Problem(here + ["action"], f"state {name!r} calls an action: it needs "
                      "on_success and on_failure", "add both, even if they lead to the same "
                      "state", key=True)
    yield from _check_routes(kind, state, here)
    model = actions[kind]
    if model is None:
        return
    fields = model.model_fields
    about = CATALOG.get(kind)
    extra = re.compile(about.extra_params) if about and about.extra_params else None
    for key in state.action.params:
        if key not in fields and not (extra and extra.match(key)):
            yield Problem(here + ["action", "params", key],
                          f"action {kind!r} has no parameter {key!r}.{did_you_mean(key, fields)}",
                          f"it takes: {', '.join(fields) or 'nothing'}", key=True)
        elif key not in fields and (close := did_you_mean(key, fields)):
            # Taken as a free field (`incude_phone` as a webhook body field): allowed, but
            # most likely a misspelt parameter that then silently does nothing.
            yield Problem(here + ["action", "params", key],
                          f"{key!r} is not a parameter of action {kind!r}, so it is sent as "
                          f"a field named {key!r}.{close}",
                          "fix the spelling if you meant that parameter",
                          key=True, warning=True)
    for key, info in fields.items():
        if info.is_required() and key not in state.action.params:
            yield Problem(here + ["action", "params"], f"action {kind!r} needs parameter "
                          f"{key!r}", f"add `{key}: ...` under params", key=True)
    texts = {k: v for k, v in state.action.params.items() if isinstance(v, str)}
    yield from _check_format(here + ["action", "params"], texts)


def _check_routes(kind: str, state: StateSpec, here: Path_) -> Iterator[Problem]:
    info = CATALOG.get(kind)
    for key, allowed in (("on_success", info.tags if info else None),
                         ("on_failure", reasons_of(kind) if info else None)):
        routes = getattr(state, key)
        if not isinstance(routes, list):
            continue
        if not routes or routes[-1].when is not None:
            yield Problem(here + [key], f"{key} needs a last route without `when:` (every "
                          "other result)", "end the list with `- goto: some_state`", key=True)
        for i, route in enumerate(routes):
            if isinstance(route.when, str) and allowed is not None \
                    and route.when not in allowed:
                what = "success tag" if key == "on_success" else "failure reason"
                yield Problem(here + [key, i, "when"], f"action {kind!r} never gives the "
                              f"{what} {route.when!r}.{did_you_mean(route.when, allowed)}",
                              f"{what}s of {kind}: {listing(allowed) or 'none'}")


def check_texts(spec: FlowSpec, here: Path_, texts: Mapping[str, object], *,
                built_in_only: bool = False) -> Iterator[Problem]:
    """Language variants and placeholder syntax of a state's (or compliance) texts."""
    several = len(spec.languages) > 1
    for key, text in texts.items():
        if text is None:
            continue
        if isinstance(text, str) and several:
            yield Problem(here + [key], f"{key} is one text, but this flow speaks "
                          f"{'/'.join(spec.languages)}: every voter would get it as written",
                          "write one text per language: " + ", ".join(
                              f"{lang}: \"...\"" for lang in spec.languages))
        if isinstance(text, dict):
            for lang in spec.languages:
                if lang not in text:
                    yield Problem(here + [key], f"{key} has no {lang!r} text (languages: "
                                  f"{', '.join(spec.languages)})", f"add `{lang}: \"...\"`")
            for lang in text:
                if lang not in spec.languages:
                    yield Problem(here + [key, lang], f"{key} has a {lang!r} text, but the "
                                  f"flow's languages are {', '.join(spec.languages)}",
                                  f"add it: `languages: [{', '.join([*spec.languages, lang])}]`"
                                  ", or remove the text", key=True)
        variants = {key: text} if isinstance(text, str) else {
            f"{key}.{lang}": v for lang, v in text.items()} if isinstance(text, dict) else {}
        yield from _check_format(here, variants)
        if built_in_only:
            yield from _only_built_in(here, variants)


def _only_built_in(here: Path_, variants: Mapping[str, str]) -> Iterator[Problem]:
    for where, variant in variants.items():
        for name in placeholders(variant):
            if name not in BUILT_IN:
                path: Path_ = [*here, *where.split(".")]
                yield Problem(path, f"{{{name}}} cannot be used in a compliance text",
                              f"only {listing(BUILT_IN)} are known there")


def _check_format(here: Path_, texts: Mapping[str, str]) -> Iterator[Problem]:
    for where, text in texts.items():
        path: Path_ = [*here, *where.split(".")]
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            yield Problem(path, f"{where}: bad placeholder ({exc})",
                          "write {name} for a stored value, {{ and }} for literal braces")
            continue
        for field in fields:
            if not field.isidentifier():
                yield Problem(path, f"{where}: bad placeholder {{{field}}}",
                              "a placeholder is a stored name like {campaign_name}; write {{ "
                              "and }} for literal braces")


def placeholders(text: str) -> list[str]:
    """The `{names}` in a text (empty when its braces are broken: reported elsewhere)."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f and f.isidentifier()]
    except ValueError:
        return []


def text_variants(text: Text | None) -> list[str]:
    if text is None:
        return []
    return [text] if isinstance(text, str) else list(text.values())
