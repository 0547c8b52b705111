"""Read flow files: safe YAML, pydantic validation, then every cross-reference check.

Everything wrong with the flows is found here, at start-up, on reload and in
`flows check`, and reported all at once: each problem as `file:line: what is wrong` with a
fix hint (`bot/flow/errors.py`). Nothing a check can see may fail later at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.compliance import DEFAULT_LISTS, Keyword, classify, normalise
from bot.flow.checks import ActionParams, Problem, check_spec, text_variants
from bot.flow.consent_texts import check_consent_texts
from bot.flow.errors import FlowError, Issue
from bot.flow.explain import explain
from bot.flow.graph import check_graph
from bot.flow.schema import FlowSpec, Text
from bot.flow.yamlmarks import line_of
from bot.flow.yamlread import read_yaml
from bot.segments import count_segments

__all__ = ["ActionParams", "CheckResult", "check_flows", "flow_files", "load_flow",
           "load_flows", "text_for"]

MAX_FILE_BYTES = 512 * 1024
MAX_SEGMENTS = 2
_CONFLICT_MARKERS = ("<<<<<<< ", "=======\n", ">>>>>>> ")


@dataclass
class Loaded:
    """One file as read: its flow (None when broken), its node tree, its problems."""

    file: Path
    spec: FlowSpec | None
    root: yaml.Node | None
    issues: list[Issue] = field(default_factory=list)

    def line(self, path: list[int | str], *, key: bool = False) -> int | None:
        return line_of(self.root, path, key=key)


@dataclass
class CheckResult:
    """Every flow that loaded, and every problem (errors and warnings) of every file."""

    specs: list[FlowSpec]
    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if not i.warning]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.warning]


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


def check_flows(path: Path, actions: ActionParams, *, neighbours: Path | None = None
                ) -> CheckResult:
    """Check every flow at `path`. `neighbours` (FLOW_PATH) is read too when `path` is one
    file, so a keyword or name another deployed flow uses is caught before deploying."""
    loaded = [read_flow(file, actions) for file in flow_files(path)]
    others: list[Loaded] = []
    if neighbours is not None and path.is_file() and neighbours.exists():
        mine = {f.file.resolve() for f in loaded}
        others = [read_flow(f, actions) for f in _quiet_files(neighbours)
                  if f.resolve() not in mine]
    issues = [i for f in loaded for i in f.issues]
    issues += _across_flows([f for f in loaded if f.spec], [f for f in others if f.spec])
    specs = [f.spec for f in loaded if f.spec is not None]
    return CheckResult(specs, sorted(issues, key=lambda i: (i.file, i.line or 0)))


def _quiet_files(path: Path) -> list[Path]:
    try:
        return flow_files(path)
    except FlowError:
        return []


def load_flows(path: Path, actions: ActionParams, *, neighbours: Path | None = None
               ) -> list[FlowSpec]:
    """Load and check every flow at `path`; raises `FlowError` with every error found."""
    result = check_flows(path, actions, neighbours=neighbours)
    if result.errors:
        raise FlowError.from_issues(result.errors)
    return result.specs


def load_flow(file: Path, actions: ActionParams) -> FlowSpec:
    """Load one flow file and check it whole (raises `FlowError` with all its errors)."""
    loaded = read_flow(file, actions)
    errors = [i for i in loaded.issues if not i.warning]
    if errors or loaded.spec is None:
        raise FlowError.from_issues(errors)
    return loaded.spec


def read_flow(file: Path, actions: ActionParams) -> Loaded:
    """Read and check one file, collecting its problems instead of stopping at the first."""
    name = str(file)
    text, problem = _read_text(file)
    if text is None:
        return Loaded(file, None, None, [Issue(name, None, problem)])
    markers = [Issue(name, n, "a merge conflict marker is left in the file",
                     "keep the version you want, and delete the <<<<<<< ======= >>>>>>> lines")
               for n, line in enumerate(text.splitlines(keepends=True), start=1)
               if line.startswith(_CONFLICT_MARKERS)]
    if markers:
        return Loaded(file, None, None, markers)
    root, data, issues = read_yaml(name, text)
    loaded = Loaded(file, None, root, issues)
    if data is None and not issues:
        issues.append(Issue(name, 1, "the file is empty", "start from flows/README.md"))
    if data is None:
        return loaded
    if not isinstance(data, dict):
        issues.append(Issue(name, 1, "a flow file must be a mapping (name:, keywords:, "
                            "states: ...)", "start from the example in flows/README.md"))
        return loaded
    try:
        loaded.spec = FlowSpec.model_validate(data)
    except ValidationError as exc:
        issues.extend(explain(name, root, data, exc))
        issues.extend(_place(loaded, p) for p in _check_the_rest(data, exc, actions))
        issues.sort(key=lambda i: i.line or 0)
        return loaded
    problems = [*check_spec(loaded.spec, actions), *check_graph(loaded.spec, actions),
                *_text_warnings(loaded.spec), *check_consent_texts(loaded.spec)]
    issues.extend(_place(loaded, p) for p in problems)
    issues.sort(key=lambda i: i.line or 0)
    return loaded


def _check_the_rest(data: dict[str, object], error: ValidationError, actions: ActionParams
                    ) -> list[Problem]:
    """The state-by-state checks of the states whose keys are right, so one broken state
    does not hide the mistakes of the others. (The checks of the whole graph wait until
    every state reads: a broken state's links are unknown.)"""
    broken: set[str] = set()
    for detail in error.errors():
        loc = detail["loc"]
        if loc[0] != "states" or len(loc) < 2:
            return []  # the flow itself (name, keywords, start...) does not read yet
        broken.add(str(loc[1]))
    states = data.get("states")
    if not isinstance(states, dict):
        return []
    stand_in = {n: ({"end": True} if n in broken else s) for n, s in states.items()}
    try:
        spec = FlowSpec.model_validate({**data, "states": stand_in})
    except ValidationError:
        return []
    return [p for p in check_spec(spec, actions)
            if not (p.path[:1] == ["states"] and str(p.path[1]) in broken)]


def _read_text(file: Path) -> tuple[str | None, str]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"
    if len(raw) > MAX_FILE_BYTES:
        return None, f"file is larger than {MAX_FILE_BYTES} bytes"
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text (save the file as UTF-8)"


def _place(loaded: Loaded, problem: Problem) -> Issue:
    return Issue(str(loaded.file), loaded.line(problem.path, key=problem.key), problem.message,
                 problem.hint, problem.warning)


def _text_warnings(spec: FlowSpec) -> Iterator[Problem]:
    """Texts that cost more than they look: over 2 segments, or forced into UCS-2."""
    for name, state in spec.states.items():
        for key in ("say", "reprompt"):
            text: Text | None = getattr(state, key)
            variants = text.items() if isinstance(text, dict) else [
                ("", v) for v in text_variants(text)]
            for lang, variant in variants:
                path: list[int | str] = ["states", name, key, *([lang] if lang else [])]
                seg = count_segments(variant)
                if seg.encoding == "UCS-2":
                    yield Problem(path, f"{key} has {seg.ucs2_chars!r}, which makes the text "
                                  "UCS-2: 70 characters a segment instead of 160",
                                  "use plain quotes and letters without accents", warning=True)
                if seg.count > MAX_SEGMENTS:
                    yield Problem(path, f"{key} is {seg.count} SMS segments long (before "
                                  "placeholders are filled); each segment is billed",
                                  f"keep a text to {MAX_SEGMENTS} segments (about 300 plain "
                                  "characters)", warning=True)


def _keyword_paths(spec: FlowSpec) -> Iterator[tuple[list[int | str], str]]:
    if isinstance(spec.keywords, list):
        for i, word in enumerate(spec.keywords):
            yield ["keywords", i], word
        return
    for lang, words in spec.keywords.items():
        for i, word in enumerate(words):
            yield ["keywords", lang, i], word


def _across_flows(loaded: list[Loaded], others: list[Loaded]) -> list[Issue]:
    """Names and trigger keywords are unique across flows, and never compliance words."""
    issues: list[Issue] = []
    every = [*others, *loaded]
    lists = DEFAULT_LISTS
    for f in every:
        c = _spec(f).compliance
        lists = lists.extended(c.stop_words, c.help_words, c.start_words)
    names: dict[str, Loaded] = {}
    owners: dict[str, tuple[Loaded, list[int | str]]] = {}
    for f in every:
        spec = _spec(f)
        reporting = f in loaded
        if spec.name in names and reporting:
            issues.append(Issue(str(f.file), f.line(["name"]), f"another file already defines "
                                f"flow {spec.name!r} ({names[spec.name].file})",
                                "give each flow its own name"))
        names.setdefault(spec.name, f)
        for path, word in _keyword_paths(spec):
            key = normalise(word)
            if reporting and key in owners and owners[key][0] is not f:
                owner, where = owners[key]
                issues.append(Issue(str(f.file), f.line(path), f"keyword {word!r} is also "
                                    f"used by flow {_spec(owner).name!r} ({owner.file}:"
                                    f"{owner.line(where)})",
                                    "a keyword can start only one flow: pick another word"))
            elif reporting and key in owners and owners[key][1][1:2] != path[1:2] \
                    and isinstance(path[1], str):
                where = owners[key][1]
                issues.append(Issue(str(f.file), f.line(path), f"keyword {word!r} is listed "
                                    f"for {where[1]} (line {f.line(where)}) and for {path[1]}: "
                                    "the keyword picks the conversation's language, so all "
                                    "who text it would get the same one",
                                    "give each language its own keyword"))
            owners.setdefault(key, (f, path))
            kind = classify(word, lists)
            if reporting and kind in (Keyword.STOP, Keyword.HELP, Keyword.START):
                issues.append(Issue(str(f.file), f.line(path), f"trigger keyword {word!r} is a "
                                    f"compliance word ({kind.value}): it would "
                                    f"{_COMPLIANCE_EFFECT[kind]} instead of starting the flow",
                                    "pick a word that is not a STOP, HELP or START word"))
    return issues


_COMPLIANCE_EFFECT: dict[Keyword, str] = {
    Keyword.STOP: "opt the voter out", Keyword.HELP: "send the help text",
    Keyword.START: "re-subscribe the voter",
}


def _spec(loaded: Loaded) -> FlowSpec:
    assert loaded.spec is not None
    return loaded.spec


def text_for(text: Text | None, lang: str, default_lang: str) -> str | None:
    """Pick the variant of a message for a language (falling back to the flow's first)."""
    if text is None or isinstance(text, str):
        return text
    return text.get(lang) or text.get(default_lang)
