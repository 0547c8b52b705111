"""`python -m bot flows check`: load every flow and describe what was found."""

from __future__ import annotations

from pathlib import Path

from bot.actions import build_registry
from bot.flow import load_flow_set


def report(path: Path) -> str:
    """A short report of the flows at `path`; raises `FlowError` when one is broken."""
    flows = load_flow_set(path, build_registry().params_models())
    lines = []
    for name, flow in flows.flows.items():
        spec = flow.spec
        words = ", ".join(f"{w} ({lang})" for lang, ws in spec.keywords_by_language().items()
                          for w in ws)
        lines.append(f"ok  {name}: {len(spec.states)} states, languages "
                     f"{'/'.join(spec.languages)}, keywords {words}")
    return "\n".join(lines)
