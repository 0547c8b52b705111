"""Read a flow file's YAML for people who do not write YAML every day.

PyYAML's messages ("mapping values are not allowed here") and its silent rule that a second
key replaces the first are why a flow could break without a word. Here a syntax error is
said in plain words at the line to fix, and every duplicated key is an `Issue`.
"""

from __future__ import annotations

from typing import Any

import yaml

from bot.flow.errors import Issue
from bot.flow.yamlmarks import read_flow_yaml

#: PyYAML's problem text -> (what is wrong in plain words, how to fix it).
_PLAIN: tuple[tuple[str, str, str], ...] = (
    ("found character '\\t'", "a tab character is used for indenting",
     "indent with spaces only (2 per level); tell your editor to insert spaces for tabs"),
    ("mapping values are not allowed", "a colon in an unexpected place",
     "put a text that contains ': ' in double quotes, or check that this line is indented "
     "like the lines around it"),
    ("could not find expected ':'", "a line is missing the colon after its key",
     "write `key: value` (a colon and a space), or put the text in quotes"),
    ("did not find expected key", "the indentation does not line up",
     "indent this line exactly like the other keys at the same level (spaces, not tabs)"),
    ("expected <block end>", "the indentation does not line up",
     "indent this line exactly like the other keys at the same level (spaces, not tabs)"),
    ("did not find expected '-' indicator", "a list item does not line up",
     "start every item of a list with `- ` at the same indentation"),
    ("found undefined alias", "`*name` refers to an anchor that is not defined above",
     "define it first with `&name` on the value you want to reuse, or fix the spelling"),
    ("found unexpected end of stream", "a quote is opened and never closed",
     "close the text with the same quote it starts with (\" or ')"),
    ("expected ',' or ']'", "a list in [ ] is not closed",
     "end the list with ] on the same line, items separated by commas"),
    ("expected ',' or '}'", "a mapping in { } is not closed",
     "end it with } on the same line, entries separated by commas"),
    ("found character that cannot start any token", "a value starts with a character YAML "
     "reserves (@, `, % or a tab)", "put the value in double quotes"),
    ("could not determine a constructor for the tag", "a `!!` or `!` tag, which flows may "
     "not use", "remove the tag; write the value as plain text in quotes"),
    ("found duplicate anchor", "the same `&name` anchor is defined twice",
     "give each anchor its own name"),
)


_MISSING_COLON = _PLAIN[2]


def plain_yaml_error(exc: yaml.MarkedYAMLError, text: str = "") -> tuple[int | None, str, str]:
    """(line, what is wrong, how to fix it) for a YAML syntax error."""
    problem = str(exc.problem or exc)
    if "mapping values are not allowed" in problem:
        started = _key_without_colon(text, exc)
        if started is not None:
            return started, _MISSING_COLON[1], _MISSING_COLON[2]
    for needle, message, hint in _PLAIN:
        if needle in problem:
            mark = exc.problem_mark
            if needle.startswith(("could not find expected ':'", "found unexpected end",
                                  "expected ','")):
                mark = exc.context_mark or mark  # where the key or quote began
            return (mark.line + 1 if mark else None), message, hint
    mark = exc.problem_mark or exc.context_mark
    return (mark.line + 1 if mark else None), f"the YAML cannot be read ({problem})", (
        "compare this line with a working one in flows/README.md")


def _key_without_colon(text: str, exc: yaml.MarkedYAMLError) -> int | None:
    """The line of a key written without its colon, when YAML only noticed on a later line.

    `- when zip` followed by `save: zip5` reads as one text "when zip save" that the colon of
    the next line then breaks: PyYAML blames that next line, but the colon is missing above.
    """
    tokens: list[yaml.Token] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            tokens.append(token)
    except yaml.YAMLError:
        pass
    mark = exc.problem_mark
    last = tokens[-1] if tokens else None
    if (mark is None or not isinstance(last, yaml.ScalarToken) or not last.plain
            or last.end_mark.line != mark.line or last.start_mark.line >= mark.line):
        return None
    line = text.splitlines()[last.start_mark.line]
    if line[:last.start_mark.column].strip(" -"):
        return None  # a text after `key: ` that wraps onto the next line: not a key
    return int(last.start_mark.line) + 1


def read_yaml(file: str, text: str) -> tuple[yaml.Node | None, Any, list[Issue]]:
    """The node tree (for lines), the data, and the problems; data is None on a syntax error."""
    try:
        root, data = read_flow_yaml(text)  # libyaml when there, the same errors when not
    except yaml.MarkedYAMLError as exc:
        line, message, hint = plain_yaml_error(exc, text)
        return None, None, [Issue(file, line, f"bad YAML: {message}", hint)]
    return root, data, list(duplicate_keys(file, root))


def duplicate_keys(file: str, root: yaml.Node | None) -> list[Issue]:
    """Every key written twice in one mapping (YAML would keep only the last)."""
    issues: list[Issue] = []
    seen: set[int] = set()
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                todo.append(value)
                if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                    continue
                line = key.start_mark.line + 1
                if key.value in first:
                    issues.append(Issue(
                        file, line, f"{key.value!r} is written twice in the same place (first "
                        f"at line {first[key.value]}); YAML would silently keep only this one",
                        "rename one of them, or merge the two into one"))
                else:
                    first[key.value] = line
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return sorted(issues, key=lambda i: i.line or 0)
