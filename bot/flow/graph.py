"""The checks of a flow as a graph of states: reachable, never stuck, never looping on its own,
and every `{placeholder}` saved on some way to the text that uses it.

A loop of states joined only by `goto`, action results and timeouts runs without the voter
(one such loop once made 1,285 upstream calls in 11 seconds), so it is refused. Replies and
`on_max_attempts` (which follows a reply) are the edges that wait for the voter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from bot.flow.catalog import CATALOG
from bot.flow.checks import BUILT_IN, Problem, placeholders, targets, text_variants
from bot.flow.schema import FlowSpec, StateSpec, VarMatch
from bot.flow.suggest import did_you_mean, listing

WAITS_FOR_VOTER = frozenset({"reply", "on_max_attempts"})


def check_graph(spec: FlowSpec, actions: Collection[str]) -> Iterator[Problem]:
    """Every graph problem of a flow whose references all resolve. `actions`: the names
    of the registered actions (what an unknown one saves is unknown: nothing)."""
    if spec.start not in spec.states:
        return
    whole = all(t in spec.states for s in spec.states.values() for _, t, _ in targets(s))
    # With a link to an undefined state, what is unreachable is not known: check them all.
    yield from _unsaved_placeholders(spec, actions, _reachable(spec) if whole else
                                     set(spec.states))
    if not whole:
        return  # a dangling reference is reported already; the graph is not whole
    yield from _unreachable(spec)
    yield from _automatic_loops(spec)
    yield from _dead_ends(spec)


def _reachable(spec: FlowSpec) -> set[str]:
    """The states some way from the start leads to (links to undefined states ignored)."""
    seen = {spec.start}
    todo = [spec.start]
    while todo:
        for _, target, _ in targets(spec.states[todo.pop()]):
            if target not in seen and target in spec.states:
                seen.add(target)
                todo.append(target)
    return seen


def _unreachable(spec: FlowSpec) -> Iterator[Problem]:
    seen = _reachable(spec)
    for name in spec.states:
        if name not in seen:
            yield Problem(["states", name], f"state {name!r} is unreachable from "
                          f"{spec.start!r}", "lead to it from another state, or delete it",
                          key=True)


def _automatic_loops(spec: FlowSpec) -> Iterator[Problem]:
    """Strongly connected groups over the edges that need no reply (Tarjan, iterative).
    Each is reported at the line of the link that closes the circle: the one to change."""
    edges = {name: [(t, kind, loc) for loc, t, kind in targets(s)
                    if kind not in WAITS_FOR_VOTER] for name, s in spec.states.items()}
    for group in _components(list(spec.states), {n: [t for t, _, _ in e] for n, e in
                                                 edges.items()}):
        members = set(group)
        if len(group) == 1 and group[0] not in [t for t, _, _ in edges[group[0]]]:
            continue
        ordered = [n for n in spec.states if n in members]
        first = ordered[0]
        cycle = _cycle_from(first, members, edges)
        steps = " -> ".join(f"{a} ({kind})" for a, kind, _ in cycle) + f" -> {first}"
        last, _, closing = cycle[-1]
        yield Problem(["states", last, *closing], "these states can repeat forever without "
                      f"waiting for the voter: {steps}", "send one of them to a state that "
                      "waits for a reply (on:) or ends (end: true), e.g. on_failure: to a "
                      "state that says sorry and offers RETRY")


def _cycle_from(first: str, members: set[str],
                edges: dict[str, list[tuple[str, str, list[int | str]]]]
                ) -> list[tuple[str, str, list[int | str]]]:
    """One way round the loop from `first`: each state, the key that moves it on, and where
    that key is in the state."""
    path: list[tuple[str, str, list[int | str]]] = []
    seen: set[str] = set()
    current = first
    while current not in seen:
        seen.add(current)
        options = [(t, k, loc) for t, k, loc in edges[current] if t in members]
        target, kind, loc = next((o for o in options if o[0] == first), options[0])
        path.append((current, kind, loc))
        if target == first:
            break
        current = target
    return path


def _components(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _dead_ends(spec: FlowSpec) -> Iterator[Problem]:
    """States from which neither an end nor a timeout can ever be reached."""
    back: dict[str, list[str]] = {name: [] for name in spec.states}
    for name, state in spec.states.items():
        for _, target, _ in targets(state):
            back[target].append(name)
    good = [n for n, s in spec.states.items() if s.end or s.timeout]
    seen = set(good)
    while good:
        for source in back[good.pop()]:
            if source not in seen:
                seen.add(source)
                good.append(source)
    for name in spec.states:
        if name not in seen:
            yield Problem(["states", name], f"from state {name!r} the conversation can never "
                          "end: no way leads to a state with `end: true` or a `timeout:`",
                          "add `timeout: {after: 86400, goto: ...}` to a state that waits, or "
                          "a way to a state with `end: true`", key=True)


def _saved_by(state: StateSpec, kind: str, index: int | None, actions: Collection[str]
              ) -> set[str]:
    """Names a way out of a state stores on the way."""
    if kind == "reply" and index is not None:
        t = state.on[index]
        return ({t.save} if t.save else set()) | set(t.set)
    if kind in ("on_success", "on_failure") and state.action is not None:
        info = CATALOG.get(state.action.type)
        if info is None and state.action.type not in actions:
            return set()  # an unknown action: reported as such
        names = set(info.saves) if info else {"*"}
        if info and info.saves_from_param:
            listed = str(state.action.params.get(info.saves_from_param, ""))
            names |= {n.strip() for n in listed.split(",") if n.strip()}
        prefix = f"{state.action.save}_" if state.action.save else ""
        return {prefix + n if n != "*" else n for n in names}
    return set()


def may_be_saved(spec: FlowSpec, actions: Collection[str]) -> dict[str, set[str]]:
    """For each state, the names some way from the start has stored on entering it
    (after its `forget:`). "*" means an action the catalog does not know: anything."""
    entering: dict[str, set[str]] = {name: set() for name in spec.states}
    changed = True
    while changed:
        changed = False
        for name, state in spec.states.items():
            inside = _after_forget(state, entering[name])
            for loc, target, kind in targets(state):
                if target not in entering:
                    continue
                index = loc[1] if kind == "reply" and isinstance(loc[1], int) else None
                out = inside | _saved_by(state, kind, index, actions)
                if not out <= entering[target]:
                    entering[target] |= out
                    changed = True
    return {name: _after_forget(spec.states[name], names) for name, names in entering.items()}


def _after_forget(state: StateSpec, names: set[str]) -> set[str]:
    if not state.forget:
        return names
    prefixes = tuple(state.forget)
    return {n for n in names if not n.startswith(prefixes)}


def _unsaved_vars(name: str, state: StateSpec, known: set[str], everywhere: set[str],
                  actions: Collection[str]) -> Iterator[Problem]:
    """A `when: {var: ...}` must test a name something saves (or `lang`). `known`: what is
    saved on entering the state; not `{program}`, which texts see but `var:` does not."""
    tests: list[tuple[list[int | str], VarMatch, set[str]]] = [
        (["on", i, "when", "var"], t.when, known) for i, t in enumerate(state.on)
        if isinstance(t.when, VarMatch)]
    for key, kind in (("on_success", "on_success"), ("on_failure", "on_failure")):
        routes = getattr(state, key)
        if isinstance(routes, list):
            after = known | _saved_by(state, kind, None, actions)
            tests += [([key, i, "when", "var"], r.when, after) for i, r in enumerate(routes)
                      if isinstance(r.when, VarMatch)]
    for loc, when, names in tests:
        if when.var != "lang" and when.var not in names and "*" not in names:
            yield Problem(["states", name, *loc], f"`when: {{var: {when.var}}}` tests a value "
                          f"never saved before state {name!r}, so it is never set."
                          f"{did_you_mean(when.var, (everywhere | {'lang'}) - {'*'} - BUILT_IN)}",
                          f"test a saved name or `lang`: {listing(names | {'lang'})}")


def _unsaved_placeholders(spec: FlowSpec, actions: Collection[str], reachable: set[str]
                          ) -> Iterator[Problem]:
    """Only `reachable` states: one no way reaches is reported as such, and nothing saves a
    value before it, so blaming its placeholders too would bury the one real mistake."""
    saved = may_be_saved(spec, actions)
    everywhere = set(BUILT_IN).union(*saved.values())
    for name, state in spec.states.items():
        if name not in reachable:
            continue
        known = saved[name] | BUILT_IN
        if "*" in known:
            continue
        uses: list[tuple[list[int | str], str]] = [
            (["say"], p) for v in text_variants(state.say) for p in placeholders(v)]
        uses += [(["reprompt"], p) for v in text_variants(state.reprompt)
                 for p in placeholders(v)]
        if state.action is not None:
            uses += [(["action", "params", k], p) for k, v in state.action.params.items()
                     if isinstance(v, str) for p in placeholders(v)]
        yield from _unsaved_vars(name, state, saved[name], everywhere, actions)
        reported: set[str] = set()
        for loc, placeholder in uses:
            if placeholder in known or placeholder in reported:
                continue
            reported.add(placeholder)
            gap = ("the action would get it empty" if loc[0] == "action"
                   else "the voter would read an empty gap")
            hint = (f"save it first (`save: {placeholder}` on a reply, or an action that "
                    f"saves it), or use a known name: {listing(known)}")
            if placeholder == "lang":  # `var: lang` works, so staff try `{lang}` too
                hint = ("the conversation's language is not a placeholder; route on it with "
                        "`when: {var: lang, equals: es}` and write each language's text")
            yield Problem(["states", name, *loc], f"{{{placeholder}}} is never saved before "
                          f"state {name!r}: {gap}."
                          f"{did_you_mean(placeholder, everywhere - {'*'})}", hint)
