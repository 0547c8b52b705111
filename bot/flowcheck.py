"""`python -m bot flows check | graph | schema`: what staff run on their flow files.

`check` loads every flow (any error stops it with file, line and reason), then lists each
message with its SMS segment count and warns about characters that force UCS-2. `graph`
writes a flow as a Mermaid diagram; `schema` writes the JSON Schema editors validate with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from bot.actions import build_registry
from bot.config import Settings
from bot.flow import FlowSet, load_flow_set
from bot.flow.schema import FlowSpec, StateSpec, Text
from bot.segments import count_segments

SCHEMA_ID = "https://civictext.org/schema/flow.schema.json"


def _load(path: Path) -> FlowSet:
    return load_flow_set(path, build_registry(Settings()).params_models())


def _texts(state: StateSpec) -> Iterator[tuple[str, Text]]:
    for key in ("say", "reprompt"):
        value = getattr(state, key)
        if value is not None:
            yield key, value


def report(path: Path) -> str:
    """One line per flow, then one per message: segments, encoding, warnings."""
    flows = _load(path)
    lines: list[str] = []
    warnings = 0
    for name, flow in flows.flows.items():
        spec = flow.spec
        words = ", ".join(f"{w} ({lang})" for lang, ws in spec.keywords_by_language().items()
                          for w in ws)
        lines.append(f"ok  {name}: {len(spec.states)} states, languages "
                     f"{'/'.join(spec.languages)}, keywords {words}")
        for state_name, state in spec.states.items():
            for key, text in _texts(state):
                variants = text.items() if isinstance(text, dict) else [("*", text)]
                for lang, body in variants:
                    seg = count_segments(body)
                    note = ""
                    if seg.encoding == "UCS-2":
                        warnings += 1
                        note = f"  WARNING: {seg.ucs2_chars!r} forces UCS-2 (70 chars/segment)"
                    lines.append(f"    {state_name}.{key}[{lang}]: {seg.count} segment"
                                 f"{'s' if seg.count != 1 else ''} ({seg.encoding}, "
                                 f"{seg.units} chars before placeholders){note}")
    lines.append(f"{len(flows.flows)} flow(s) ok, {warnings} warning(s). Segment counts are "
                 "for the text as written; {placeholders} add their length when sent.")
    return "\n".join(lines)


def mermaid(path: Path, name: str | None = None) -> str:
    """A Mermaid state diagram of one flow (the first when `name` is None)."""
    flows = _load(path)
    flow = flows.flows[name or flows.default]
    spec = flow.spec
    out = ["stateDiagram-v2", f"    [*] --> {spec.start}: {' / '.join(_all_keywords(spec))}"]
    for state_name, state in spec.states.items():
        out.extend(f"    {state_name} --> {dest}: {label}"
                   for dest, label in _edges(state))
        if state.end:
            out.append(f"    {state_name} --> [*]")
    return "\n".join(out)


def _all_keywords(spec: FlowSpec) -> list[str]:
    return [w for ws in spec.keywords_by_language().values() for w in ws]


def _edges(state: StateSpec) -> Iterator[tuple[str, str]]:
    for t in state.on:
        when = t.when if isinstance(t.when, str) else json.dumps(t.when.model_dump())
        yield t.goto, f"reply {when}".replace('"', "'").replace(":", "=")
    for key, routes in (("ok", state.on_success), ("failed", state.on_failure)):
        if isinstance(routes, str):
            yield routes, key
        elif routes:
            for route in routes:
                yield route.goto, f"{key} {route.when}" if route.when else key
    if state.goto:
        yield state.goto, "then"
    if state.timeout:
        yield state.timeout.goto, f"after {state.timeout.after}s"
    if state.on_max_attempts:
        yield state.on_max_attempts, "too many tries"


def json_schema() -> str:
    """The JSON Schema of the flow format (what `flows/flow.schema.json` holds)."""
    schema = FlowSpec.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
              **schema, "title": "civictext flow"}
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"
