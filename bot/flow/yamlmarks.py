"""Line numbers for YAML values: walk the composed node tree along a pydantic error path."""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml


def line_of(root: yaml.Node | None, path: Sequence[int | str], *, key: bool = False) -> int | None:
    """1-based line of the node at `path` (or of its key when `key`), as deep as it resolves.

    Pydantic error paths carry union tags (`str`, `dict[str,str]`); those are skipped.
    """
    node = root
    best = _line(node)
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    found = (k, v)
                    break
            if found is None:
                continue
            best = _line(found[0])
            if key and part == path[-1]:
                return best
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            continue
        best = _line(node) or best
    return best


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


class FlowLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with YAML 1.2 booleans (only true/false are booleans) and only
    plain decimal integers (a ZIP like 02134 keeps its zero).

    Under YAML 1.1 `on:`, `yes` and `no` turn into booleans, which would make `on:` and
    `when: yes` in a flow mean something else than staff wrote.
    """


class FastFlowLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """`FlowLoader` on libyaml's parser when PyYAML was built with it (several times faster:
    every start-up reads the flows). Same resolvers, so the same values and line marks."""


_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
#: Only plain decimal numbers are numbers. YAML 1.1 reads `02134` (a Boston ZIP) as the octal
#: 1116, `1:30` as 90 and `0x1F` as 31; in a flow those stay text, as staff wrote them.
_PLAIN_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
for _loader in (FlowLoader, FastFlowLoader):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver("tag:yaml.org,2002:bool", _YAML12_BOOL, list("tTfF"))
    _loader.add_implicit_resolver("tag:yaml.org,2002:int", _PLAIN_INT, list("-+0123456789"))


def read_flow_yaml(text: str) -> tuple[yaml.Node | None, object]:
    """The composed document (for line numbers) and its value, parsing the text once.

    Broken YAML is parsed again by the pure-Python `FlowLoader`, so the error staff read (its
    wording and line) does not depend on how PyYAML was built."""
    try:
        root = yaml.compose(text, Loader=FastFlowLoader)
    except yaml.YAMLError:
        root = yaml.compose(text, Loader=FlowLoader)  # raises the reference error
    if root is None:
        return None, None
    return root, FlowLoader("").construct_document(root)
