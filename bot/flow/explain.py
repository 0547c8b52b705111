"""Turn pydantic's validation errors into plain-word `Issue`s at the right line.

Pydantic reports a union (`when: yes` or `{keyword: [...]}` or ...) as one error per
branch, with type tags in the path. Here the path is walked along the data the staff wrote,
the branch that fits what they wrote is kept, and each error says what is wrong, how to
fix it, and what they probably meant.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.flow.errors import Issue
from bot.flow.schema import BuiltinMatch, FlowSpec
from bot.flow.suggest import did_you_mean, listing
from bot.flow.yamlmarks import line_of

REPLY_KINDS = [*typing.get_args(BuiltinMatch), "keyword", "choice", "var"]
_REPLY_FORMS = ("yes, no, zip, code, number, choice, text, any, {keyword: [WORD, ...]}, "
                "{choice: 2}, {var: NAME, equals: VALUE} (or in: [...], exists: true)")


def explain(file: str, root: yaml.Node | None, data: Any, error: ValidationError,
            model: type[BaseModel] = FlowSpec) -> list[Issue]:
    """One issue per thing wrong (a union's failed branches count once); `model` is what
    the whole file is (a flow, or a file of flow-test scripts)."""
    _collect(model)
    issues: dict[tuple[Any, ...], Issue] = {}
    chosen = _pick_branches(data, error.errors())
    for path, detail in chosen:
        key = tuple(path)
        if key in issues:
            continue
        line = line_of(root, path, key=detail["type"] == "extra_forbidden")
        message, hint = _words(path, detail, model)
        issues[key] = Issue(file, line, message, hint)
    return sorted(issues.values(), key=lambda i: i.line or 0)


Tag = tuple[str, int]  # a union branch's tag, and how deep in the data it applies


def _data_path(data: Any, detail: ErrorDetails) -> tuple[list[int | str], list[Tag]]:
    """The parts of an error's `loc` that are keys or indexes of the data, and the union
    tags between them. A part that is not in the data is the key the error is about when
    it is the last (a missing or unknown key), else a tag."""
    loc = tuple(detail["loc"])
    about_key = detail["type"] in ("missing", "extra_forbidden")
    path: list[int | str] = []
    tags: list[Tag] = []
    node = data
    for index, part in enumerate(loc):
        if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and part < len(node)):
            path.append(part)
            node = node[part]  # type: ignore[index]
        elif index == len(loc) - 1 and about_key:
            path.append(part)
        elif isinstance(part, str):
            tags.append((part, len(path)))
        else:
            path.append(part)
            node = None
    return path, tags


def _fits(tag: str, value: Any) -> bool:
    """Whether a union branch's tag is the branch meant for a value of this shape."""
    wrapped = re.fullmatch(r"function-\w+\[.*, (\w+)\]", tag)
    if wrapped:  # a model with a validator: `function-after[_check(), VarMatch]`
        tag = wrapped.group(1)
    if tag.startswith(("literal", "str", "constrained-str")):
        return isinstance(value, str)
    if tag.startswith(("list", "tuple")):
        return isinstance(value, list)
    if tag.startswith(("int", "bool", "float")):
        return isinstance(value, int | float) and not isinstance(value, str)
    if tag.startswith("dict"):
        return isinstance(value, dict)
    if tag[:1].isupper() and isinstance(value, dict):
        model = _MODELS.get(tag)
        return model is None or any(k in _keys_of(model) for k in value)
    return False


def _pick_branches(data: Any, details: list[ErrorDetails]
                   ) -> list[tuple[list[int | str], ErrorDetails]]:
    """Keep, at each union, the errors of the branch that fits what was written (all of
    them when none fits)."""
    sites: dict[tuple[int | str, ...], list[tuple[bool, list[int | str], ErrorDetails]]] = {}
    for detail in details:
        path, tags = _data_path(data, detail)
        site = tuple(path[: tags[0][1]]) if tags else tuple(path)
        fits = all(_fits(tag, _value_at(data, path[:depth])) for tag, depth in tags)
        sites.setdefault(site, []).append((fits, path, detail))
    chosen: list[tuple[list[int | str], ErrorDetails]] = []
    for errors in sites.values():
        fitting = [(p, d) for ok, p, d in errors if ok]
        chosen += fitting or [(p, d) for _, p, d in errors]
    return chosen


def _value_at(data: Any, path: list[int | str]) -> Any:
    node = data
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _words(path: list[int | str], detail: ErrorDetails, model: type[BaseModel]
           ) -> tuple[str, str]:
    where = ".".join(str(p) for p in path) or "flow"
    kind = detail["type"]
    value = detail.get("input")
    if kind == "extra_forbidden":
        allowed = _keys_of(_model_at(path[:-1], model))
        name = str(path[-1])
        if len(path) == 3 and path[0] == "states" and isinstance(value, dict) \
                and set(value) & set(allowed):
            return (f"{where}: {name!r} looks like a state, but it is indented inside state "
                    f"{path[1]!r}", "move it left to line up with the other states (two "
                    "spaces under `states:`)")
        return (f"{where}: unknown key {name!r}.{did_you_mean(name, allowed)}",
                f"keys allowed here: {listing(allowed)}" if allowed else "remove it")
    if path and path[-1] == "when" and isinstance(value, str):
        return (f"{where}: {value!r} is not a kind of reply."
                f"{did_you_mean(value, REPLY_KINDS)}", f"write one of: {_REPLY_FORMS}")
    if kind == "missing":
        return (f"{where}: {path[-1]!r} is missing",
                f"add `{path[-1]}:` here (see flows/README.md)")
    if kind == "string_pattern_mismatch" and path[:1] == ["languages"]:
        return (f"{where}: {value!r} is not a language code",
                "write the two-letter code: en for English, es for Spanish")
    if kind == "string_pattern_mismatch":
        return (f"{where}: {value!r} is not a valid name",
                "use lowercase letters, digits and _ only, starting with a letter "
                "(like ask_code)")
    about_shape = _shape_words(where, path, detail, model)
    if about_shape is not None:
        return about_shape
    about_value = _value_words(where, path, detail)
    if about_value is not None:
        return about_value
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return (f"{where}: a text is needed here, found the number {value!r}",
                f"put it in double quotes: \"{value}\"")
    if kind in ("string_type", "literal_error"):
        return f"{where}: {detail['msg']} (found {value!r})", "see flows/README.md"
    if kind == "value_error":  # our own validators' words, without pydantic's prefix
        return f"{where}: {detail['msg'].removeprefix('Value error, ')}", "see flows/README.md"
    return f"{where}: {detail['msg']}", "see flows/README.md"


def _shape_words(where: str, path: list[int | str], detail: ErrorDetails,
                 model: type[BaseModel]) -> tuple[str, str] | None:
    """A list or keys where something else was written; None for other errors."""
    kind = detail["type"]
    value = detail.get("input")
    if path == ["keywords"] and kind in ("list_type", "dict_type", "model_type"):
        return (f"keywords: a list of words is needed here, found {value!r}",
                "write `keywords: [RSVP]`, or one list per language: "
                "`keywords: {en: [RSVP], es: [ASISTIR]}`")
    if kind == "list_type" and isinstance(value, dict):  # the `- ` of the items left out
        first = next(iter(value), "when")
        return (f"{where}: a list is needed here, but its items have no `- `",
                f"start each item with a dash and a space: `- {first}: ...`, and the item's "
                "other keys under it, lined up with its first")
    if kind == "list_type":
        return (f"{where}: a list is needed here, found {value!r}",
                f"write a list in brackets, like [{value}]" if isinstance(value, str | int)
                else "write a list in brackets, like [A, B]")
    if kind in ("model_type", "dict_type"):
        keys = _keys_of(_model_at(path, model))
        return (f"{where}: keys are needed here, found {value!r}",
                f"write it with its keys ({', '.join(keys)}), like "
                f"`{path[-1]}: {{{keys[0]}: ..., ...}}`" if keys else "see flows/README.md")
    return None


_BOUNDS = {"greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
           "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}


def _value_words(where: str, path: list[int | str], detail: ErrorDetails
                 ) -> tuple[str, str] | None:
    """A number or a switch that is not one, or out of range; None for other errors."""
    kind = detail["type"]
    value = detail.get("input")
    seconds = bool(path) and path[-1] == "after"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return (f"{where}: a whole number is needed here, found {value!r}",
                "seconds, as a number without a unit: 3600 is an hour, 86400 a day"
                if seconds else "write a whole number, without quotes")
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        limit = (detail.get("ctx") or {}).get(key)
        return (f"{where}: must be {words} {limit}, found {value!r}",
                "seconds: 3600 is an hour, 86400 a day" if seconds
                else f"write a number {words} {limit}")
    if kind in ("bool_parsing", "bool_type"):
        return (f"{where}: true or false is needed here, found {value!r}",
                "write true or false (yes and no are replies, not switches)")
    return None


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every model class inside an annotation (`X | None`, `list[X]`, `dict[str, X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict,
                                         typing.Annotated):
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
    return found


def _model_at(path: list[int | str], top: type[BaseModel]) -> type[BaseModel] | None:
    """The model whose keys are written at `path` (e.g. StateSpec at states.ask)."""
    model: type[BaseModel] | None = top
    pending: list[type[BaseModel]] = []
    for part in path:
        if model is not None and isinstance(part, str) and part in model.model_fields:
            pending = _models_in(model.model_fields[part].annotation)
            model = None
            if len(pending) == 1 and not _is_container(pending[0], part):
                model, pending = pending[0], []
            continue
        if pending:
            model, pending = pending[0], []
    if model is None and pending:
        model = pending[0]
    return model


def _is_container(model: type[BaseModel], field: str) -> bool:
    return field in ("states", "on", "on_success", "on_failure", "scripts", "steps")


_MODELS: dict[str, type[BaseModel]] = {}


def _collect(model: type[BaseModel]) -> None:
    if model.__name__ in _MODELS:
        return
    _MODELS[model.__name__] = model
    for info in model.model_fields.values():
        for inner in _models_in(info.annotation):
            _collect(inner)


_collect(FlowSpec)
