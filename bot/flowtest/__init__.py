"""`python -m bot flows test [PATH]`: run the conversation scripts kept beside the flows.

For a folder of flows the scripts are `PATH/tests/*.yaml`; for one flow file,
`tests/<its name>.yaml` beside it; a script file may also be named directly (its flows are
then the folder above its `tests/`). Prints each script's result, a diff of expected and
actual texts for a failure, and the states no script visited.
"""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path

from bot.actions import build_registry
from bot.config import Settings
from bot.flow import FlowError, FlowSet, load_flow_set
from bot.flowtest.runner import Mismatch, ScriptResult, Visits, matches, run_file
from bot.flowtest.script import ScriptFile, load_script_file

__all__ = ["FlowTestReport", "run_flow_tests", "script_files"]


class FlowTestReport:
    """The results of every script, and the states no script entered, per flow."""

    def __init__(self, results: list[ScriptResult], unvisited: dict[str, list[str]]) -> None:
        self.results = results
        self.unvisited = unvisited

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def render(self) -> str:
        lines: list[str] = []
        for result in self.results:
            status = "ok" if result.ok else "FAILED"
            lines.append(f"{status:6} {result.file}: {result.name} ({result.seconds:.1f}s)")
            if result.mismatch is not None:
                lines.extend(f"       {line}" for line in describe(result.mismatch))
        for flow, states in self.unvisited.items():
            if states:
                lines.append(f"states of {flow!r} no script visited: {', '.join(states)}")
        failed = sum(not r.ok for r in self.results)
        lines.append(f"{len(self.results)} script(s), {len(self.results) - failed} passed, "
                     f"{failed} failed")
        return "\n".join(lines)


def describe(mismatch: Mismatch) -> list[str]:
    """What went wrong at a step, with a diff: `-` expected, `+` sent. An expectation the
    text met shows as that text, so only the differences stand out."""
    said = f"after the voter sent {mismatch.sent!r}" if mismatch.sent is not None else ""
    lines = [f"step {mismatch.step} {said}".rstrip() + ":"]
    if mismatch.error:
        return [*lines, f"  {mismatch.error}"]
    shown = [text if i < len(mismatch.actual) and matches(want, text := mismatch.actual[i])
             else want for i, want in enumerate(mismatch.expected)]
    diff = list(difflib.unified_diff(shown, mismatch.actual, "expected", "sent", lineterm="",
                                     n=len(shown) + len(mismatch.actual)))
    body = [f"  {line[0]} {line[1:]!r}" for line in diff[3:]]  # past ---, +++ and @@
    return [*lines, "  - expected  + sent", *body]


def script_files(path: Path) -> tuple[Path, list[Path]]:
    """(the flows to load, the script files to run) for a PATH given on the command line."""
    if path.is_dir():
        return path, sorted([*(path / "tests").glob("*.yaml"), *(path / "tests").glob("*.yml")])
    if path.parent.name == "tests":
        return path.parent.parent, [path]
    return path, [p for p in (path.parent / "tests" / f"{path.stem}.yaml",) if p.exists()]


def run_flow_tests(path: Path) -> FlowTestReport:
    """Load and check the flows, run every script, and report (raises `FlowError`)."""
    flow_path, files = script_files(path)
    if not files:
        folder = flow_path if flow_path.is_dir() else flow_path.parent
        wanted = "*.yaml" if flow_path.is_dir() else f"{flow_path.stem}.yaml"
        raise FlowError(path, None, f"no conversation scripts found: looked for "
                        f"{folder / 'tests' / wanted}",
                        hint="write one as in flows/README.md, \"Testing a flow\"")
    flows = load_flow_set(flow_path, build_registry(Settings.model_construct()).params_models())
    scripts = [(file, load_script_file(file)) for file in files]
    return asyncio.run(_run(flows, flow_path, scripts))


async def _run(flows: FlowSet, flow_path: Path, scripts: list[tuple[Path, ScriptFile]]
               ) -> FlowTestReport:
    visits = Visits()
    results: list[ScriptResult] = []
    for file, script_file in scripts:
        results += await run_file(flows, flow_path, file, script_file, visits)
    unvisited = {name: [s for s in flow.spec.states if s not in visits.states.get(name, set())]
                 for name, flow in flows.flows.items()}
    return FlowTestReport(results, unvisited)
