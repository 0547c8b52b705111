"""Compile a checked `FlowSpec` into one `transitions` machine and its route table, once,
at start-up.

An engine step fires its trigger on the route table (`CompiledFlow.routes`: per state and
trigger, the transitions in the machine's order, each a destination, a condition and a
`before` hook), with the machine's semantics for the options used here (conditions tried
in order, the first that holds wins; `before`, then the destination's `on_enter`, also
when it is the same state; no exit callbacks; a trigger a state does not have is
ignored). Dispatching through `transitions` itself cost about 40 % of a step (event
objects, callback resolution, its debug logging); the machine is still built from the same
closures, as the reference a test holds the table to. Conditions and callbacks are
closures built here from the closed registry of matchers, never strings from YAML, and they
only record what should happen on the turn: no I/O happens in a step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from transitions import EventData, Machine, State

from bot.compliance import normalise
from bot.flow.predicates import (
    Matcher,
    VarTest,
    compile_match,
    compile_var_test,
    hint_for,
    match_menu_item,
    match_number,
)
from bot.flow.schema import FlowSpec, StateSpec, Transition, VarMatch
from bot.flow.turn import ADVANCE, EXPIRE, FAIL, GIVE_UP, REPLY, SUCCEED, TurnHooks


class Driver:
    """The one model of a flow's machine, added once at compile time (the reference the
    route table is tested against: `fire_machine`); it points at the turn being fired."""

    def __init__(self) -> None:
        self.turn: TurnHooks | None = None
        self.state = ""


Condition = Callable[[TurnHooks], bool]
Hook = Callable[[TurnHooks], None]


@dataclass(frozen=True, slots=True)
class Route:
    """One transition of the route table: where it leads, when, and what runs before."""

    dest: str
    condition: Condition | None = None
    before: Hook | None = None


@dataclass
class CompiledFlow:
    """A flow ready to run: its spec, its route table (and the machine it mirrors), and its
    trigger keywords."""

    spec: FlowSpec
    machine: Machine
    driver: Driver
    keywords: dict[str, str]  # normalised keyword -> language
    hints: dict[tuple[str, str], str] = field(default_factory=dict)  # (state, lang) -> hint
    routes: dict[tuple[str, str], tuple[Route, ...]] = field(default_factory=dict)
    enters: dict[str, Hook] = field(default_factory=dict)  # state -> its on_enter

    def fire(self, turn: TurnHooks, trigger: str) -> None:
        """Run one trigger from the turn's state; the callbacks record onto the turn."""
        for route in self.routes.get((turn.conv.state or self.spec.start, trigger), ()):
            if route.condition is None or route.condition(turn):
                if route.before is not None:
                    route.before(turn)
                self.enters[route.dest](turn)
                return

    def fire_machine(self, turn: TurnHooks, trigger: str) -> None:
        """`fire` through the `transitions` machine (the reference; not used by steps)."""
        driver = self.driver
        driver.turn = turn
        try:
            self.machine.set_state(turn.conv.state or self.spec.start, model=driver)
            event = self.machine.events.get(trigger)
            if event is not None:
                event.trigger(driver)
        finally:
            driver.turn = None

    @property
    def name(self) -> str:
        return self.spec.name

    def state(self, name: str) -> StateSpec:
        return self.spec.states[name]


def compile_flow(spec: FlowSpec) -> CompiledFlow:
    """Build the machine for `spec` (already checked by the loader)."""
    enters = {name: _on_enter(name, s) for name, s in spec.states.items()}
    states = [State(name, on_enter=[_machine_hook(enters[name])])
              for name, s in spec.states.items()]
    driver = Driver()
    machine = Machine(
        model=driver,
        states=states,
        initial=spec.start,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=True,
        queued=False,
    )
    routes: dict[tuple[str, str], list[Route]] = {}
    for name, state in spec.states.items():
        _add_transitions(machine, routes, name, state)
    keywords = {
        normalise(word): lang
        for lang, words in spec.keywords_by_language().items()
        for word in words
    }
    hints = {
        (name, lang): " ".join(dict.fromkeys(h for t in s.on if (h := hint_for(t.when, lang))))
        for name, s in spec.states.items()
        for lang in spec.languages
    }
    return CompiledFlow(spec=spec, machine=machine, driver=driver, keywords=keywords,
                        hints=hints, routes={k: tuple(v) for k, v in routes.items()},
                        enters=enters)


def _add_transitions(machine: Machine, routes: dict[tuple[str, str], list[Route]],
                     name: str, state: StateSpec) -> None:
    """The state's transitions, in order, into the route table and the machine alike."""
    def add(trigger: str, dest: str, condition: Condition | None = None,
            before: Hook | None = None) -> None:
        routes.setdefault((name, trigger), []).append(Route(dest, condition, before))
        machine.add_transition(
            trigger, name, dest,
            conditions=[_machine_condition(condition)] if condition is not None else None,
            before=[_machine_hook(before)] if before is not None else None)

    for transition in state.on:
        when = transition.when
        condition = (_stored_condition(compile_var_test(when)) if isinstance(when, VarMatch)
                     else _choice_condition(_said(state)) if when == "choice"
                     else _reply_condition(compile_match(when)))
        add(REPLY, transition.goto, condition, _before_enter(transition))
    for trigger, routes_ in ((SUCCEED, state.on_success), (FAIL, state.on_failure)):
        if isinstance(routes_, str):
            add(trigger, routes_)
        elif routes_:
            for route in routes_:
                add(trigger, route.goto, _reason_condition(route.when))
    if state.goto:
        add(ADVANCE, state.goto)
    if state.timeout:
        add(EXPIRE, state.timeout.goto)
    if state.on_max_attempts:
        add(GIVE_UP, state.on_max_attempts)


def _turn(event: EventData) -> TurnHooks:
    turn = cast(Driver, event.model).turn
    assert turn is not None, "a flow machine fired outside an engine step"
    return turn


def _machine_condition(condition: Condition) -> Callable[[EventData], bool]:
    return lambda event: condition(_turn(event))


def _machine_hook(hook: Hook) -> Callable[[EventData], None]:
    def run(event: EventData) -> None:
        hook(_turn(event))

    return run


def _reply_condition(matcher: Matcher) -> Condition:
    def condition(turn: TurnHooks) -> bool:
        value = matcher(turn.text_in)
        turn.matched = value
        return value is not None

    return condition


def _said(state: StateSpec) -> dict[str, object]:
    """The state's own texts (every language), where a menu written into the flow lives."""
    texts = [state.say, state.reprompt]
    return {f"said_{i}_{lang}": body for i, text in enumerate(texts) if text is not None
            for lang, body in (text.items() if isinstance(text, dict) else [("", text)])}


def _choice_condition(said: dict[str, object]) -> Condition:
    """`when: choice`: a menu number (digits or a word), or the name of one item of a menu:
    one the conversation holds ("clean water" for "1) Clean Water Now" in
    `{campaigns_menu}`) or one written in the state's own text; kept as its number."""
    def condition(turn: TurnHooks) -> bool:
        value = (match_number(turn.text_in)
                 or match_menu_item(turn.text_in, {**said, **turn.stored()}))
        turn.matched = value
        return value is not None

    return condition


def _stored_condition(test: VarTest) -> Condition:
    """A reply route on what is stored: any reply, kept as typed, while the test holds."""
    def condition(turn: TurnHooks) -> bool:
        if not test(turn.stored()):
            return False
        turn.matched = turn.text_in.strip()[:160]
        return True

    return condition


def _before_enter(transition: Transition) -> Hook:
    def before(turn: TurnHooks) -> None:
        turn.on_reply_taken(transition)

    return before


def _reason_condition(when: str | VarMatch | None) -> Condition:
    """An action's route: by its result's tag, or by what is stored after saving the result."""
    if isinstance(when, VarMatch):
        test = compile_var_test(when)
        return lambda turn: test(turn.stored())

    def condition(turn: TurnHooks) -> bool:
        return when is None or turn.reason == when

    return condition


def _on_enter(name: str, state: StateSpec) -> Hook:
    def enter(turn: TurnHooks) -> None:
        turn.enter(name, state)

    return enter
