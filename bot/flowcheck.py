"""`python -m bot flows check | graph | schema`: what staff run on their flow files.

`check` reports every error and warning of every file (`file:line: what is wrong`, then a
fix), and when there is no error lists each message with its SMS segment count, every
placeholder at its longest known value (`bot.placeholders`), and warns when HELP_CONTACT
is unset. `graph`
writes a flow as a Mermaid diagram with edges labelled like the YAML; `schema` writes the
JSON Schema editors validate with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from bot.actions import build_registry
from bot.config import Settings
from bot.flow import FlowSet, load_flow_set
from bot.flow.actiondocs import action_schema, actions_markdown
from bot.flow.loader import ActionParams, check_flows
from bot.flow.schema import (
    ChoiceMatch,
    FlowSpec,
    KeywordMatch,
    ReplyMatch,
    StateSpec,
    Text,
    VarMatch,
)
from bot.flow.suggest import did_you_mean
from bot.placeholders import at_longest, longest_lengths
from bot.segments import count_segments

SCHEMA_ID = "https://civictext.org/schema/flow.schema.json"


def _actions() -> ActionParams:
    return build_registry(Settings()).params_models()


def _load(path: Path) -> FlowSet:
    return load_flow_set(path, _actions())


def _texts(state: StateSpec) -> Iterator[tuple[str, Text]]:
    for key in ("say", "reprompt"):
        value = getattr(state, key)
        if value is not None:
            yield key, value


def report(path: Path, neighbours: Path | None = None, settings: Settings | None = None
           ) -> tuple[str, bool]:
    """Every error and warning of every file, then one line per flow and per message with
    its segments (placeholders at their longest known value), then what the deployment
    lacks; and whether the flows can be used (no errors)."""
    settings = settings or Settings()
    result = check_flows(path, _actions(), neighbours=neighbours)
    warnings = len(result.warnings)
    lines = [issue.render() for issue in result.issues]
    if result.errors:
        lines.append(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s): "
                     "the bot refuses these flows until every error is fixed.")
        return "\n".join(lines), False
    for spec in result.specs:
        words = ", ".join(f"{w} ({lang})" for lang, ws in spec.keywords_by_language().items()
                          for w in ws)
        lines.append(f"ok  {spec.name}: {len(spec.states)} states, languages "
                     f"{'/'.join(spec.languages)}, keywords {words}")
        lengths = longest_lengths(settings, spec)
        for state_name, state in spec.states.items():
            for key, text in _texts(state):
                variants = text.items() if isinstance(text, dict) else [("*", text)]
                for lang, body in variants:
                    lines.append(_message_line(f"{state_name}.{key}[{lang}]", body, lengths))
    for line in _unnamed_targets(result.specs, settings):
        warnings += 1
        lines.append(line)
    if not settings.help_contact:
        warnings += 1
        lines.append("warning: HELP_CONTACT is not set: HELP answers name no contact (set a "
                     "phone, e-mail or URL; carriers expect one).")
    lines.append(f"{len(result.specs)} flow(s) ok, {warnings} warning(s). Segments are "
                 "counted with every known {placeholder} at its longest value.")
    return "\n".join(lines), True


def _unnamed_targets(specs: list[FlowSpec], settings: Settings) -> Iterator[str]:
    """A warning per `webhook` target the deployment's WEBHOOK_TARGETS does not name: a voter
    reaching it gets the `not_configured` branch (the embedded default's stand-in aside)."""
    if settings.stand_in_webhooks():
        return
    for spec in specs:
        for state_name, state in spec.states.items():
            action = state.action
            target = action.params.get("to") if action and action.type == "webhook" else None
            if isinstance(target, str) and target not in settings.webhook_targets:
                yield (f"warning: {spec.name}.{state_name}: webhook target {target!r} is not "
                       "in WEBHOOK_TARGETS: a voter reaching it gets its `not_configured` "
                       "answer.")


def _message_line(label: str, body: str, lengths: dict[str, int]) -> str:
    """The report line of one message: its segments at the longest known values."""
    longest, unknown = at_longest(body, lengths)
    seg = count_segments(longest)
    note = f"  (as written: {', '.join('{' + u + '}' for u in sorted(unknown))})" if unknown else ""
    return (f"    {label}: {seg.count} segment{'s' if seg.count != 1 else ''} at most "
            f"({seg.encoding}, {seg.units} chars){note}")


class UnknownFlow(LookupError):
    """`flows graph NAME` named no flow; the message lists the flows there are."""


def mermaid(path: Path, name: str | None = None) -> str:
    """A Mermaid state diagram of one flow (the first when `name` is None)."""
    flows = _load(path)
    if name is not None and name not in flows.flows:
        raise UnknownFlow(f"there is no flow named {name!r} in {path}."
                          f"{did_you_mean(name, flows.flows)} Flows: {', '.join(flows.flows)}")
    flow = flows.flows[name or flows.default]
    spec = flow.spec
    out = ["stateDiagram-v2", f"    [*] --> {spec.start}: {' / '.join(_all_keywords(spec))}"]
    for state_name, state in spec.states.items():
        out.extend(f"    {state_name} --> {dest}: {_mermaid_safe(label)}"
                   for dest, label in edges(state))
        if state.end:
            out.append(f"    {state_name} --> [*]")
    return "\n".join(out)


def _mermaid_safe(label: str) -> str:
    """Mermaid ends a label at `:` and chokes on braces; keep the words, drop those."""
    return label.replace(":", " ").replace("{", "").replace("}", "").replace('"', "")


def _all_keywords(spec: FlowSpec) -> list[str]:
    return [w for ws in spec.keywords_by_language().values() for w in ws]


def when_label(when: ReplyMatch | str | VarMatch | None) -> str:
    """A `when:` as staff wrote it: `yes`, `RESEND / REENVIAR`, `choice 2`, `lang = es`."""
    if when is None:
        return "any other result"
    if isinstance(when, str):
        return when
    if isinstance(when, KeywordMatch):
        return " / ".join(when.keyword)
    if isinstance(when, ChoiceMatch):
        return f"choice {when.choice}"
    if when.exists is not None:
        return f"{when.var} {'is set' if when.exists else 'is not set'}"
    if when.in_ is not None:
        return f"{when.var} in " + " / ".join(str(v) for v in when.in_)
    return f"{when.var} = {when.equals}"


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def edges(state: StateSpec) -> Iterator[tuple[str, str]]:
    """(destination, label) of each way out of a state, labelled like the YAML."""
    for t in state.on:
        yield t.goto, when_label(t.when)
    for key, routes in (("on_success", state.on_success), ("on_failure", state.on_failure)):
        if isinstance(routes, str):
            yield routes, key
        elif routes:
            for route in routes:
                yield route.goto, f"{key} {when_label(route.when)}" if route.when else key
    if state.goto:
        yield state.goto, "goto"
    if state.timeout:
        quiet = ", not at night" if state.timeout.quiet_hours else ""
        yield state.timeout.goto, f"timeout after {_duration(state.timeout.after)}{quiet}"
    if state.on_max_attempts:
        yield state.on_max_attempts, f"on_max_attempts ({state.max_attempts} tries)"


def actions_doc() -> str:
    """`docs/actions.md`: every action a flow may call."""
    return actions_markdown(_actions())


def json_schema() -> str:
    """The JSON Schema of the flow format (what `flows/flow.schema.json` holds)."""
    schema = FlowSpec.model_json_schema()
    actions = action_schema(_actions())
    ref = schema["$defs"]["ActionRef"]
    ref["properties"]["type"] = {**ref["properties"]["type"], "enum": actions["enum"],
                                 "oneOf": actions["oneOf"]}
    ref["allOf"] = actions["allOf"]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
              **schema, "title": "civictext flow"}
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"
