"""The modules of `bot` and `webhooks` import each other without a cycle, counting imports
made only for type checking: a cycle means two modules share types that belong in a third
(as `bot.engine` and `bot.flow.compiler` once did, until `bot.flow.turn` took them)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT

PACKAGES = ("bot", "webhooks")


def _modules() -> dict[str, ast.Module]:
    modules: dict[str, ast.Module] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = ast.parse(path.read_text(encoding="utf-8"))
    return modules


def _imports(tree: ast.Module, known: set[str]) -> Iterator[str]:
    """Project modules a module imports. `from pkg import sub` names the submodule only:
    importing a package's submodule from inside the package is not a cycle."""
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            if all(sub in known for sub in subs):
                yield from subs
            elif node.module in known:
                yield node.module


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement, at any depth (an import is a statement: the expressions, most of
    a tree, need no visit)."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody", "handlers"):
            yield from _statements(getattr(node, name, []))
        for case in getattr(node, "cases", []):
            yield from _statements(case.body)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(tree, known)) - {name} for name, tree in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for dep in sorted(graph[node]):
            if dep in on_path:
                return [*path[path.index(dep):], dep]
            if dep not in done and (cycle := visit(dep)):
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def test_finds_a_cycle_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.heavy
def test_the_project_has_no_import_cycle() -> None:
    graph = import_graph()
    assert {"bot.engine", "bot.flow.compiler", "webhooks.app"} <= set(graph)
    assert "bot.flow.turn" in graph["bot.flow.compiler"]
    assert find_cycle(graph) is None
