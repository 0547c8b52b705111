"""Compile a checked `FlowSpec` into one `transitions` machine, once, at start-up.

One `Machine` per flow, with one `Driver` model added once (adding and removing a model per
step cost half of a step); each step points the driver at its turn (`TurnHooks`). Conditions and
callbacks are closures built here from the closed registry of matchers, never strings from
YAML, and they only record what should happen on the turn: no I/O happens in the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

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
    """The one model of a flow's machine, added once at compile time. Each engine step points
    it at that step's turn; steps never await, so one driver serves every conversation."""

    def __init__(self) -> None:
        self.turn: TurnHooks | None = None
        self.state = ""


@dataclass
class CompiledFlow:
    """A flow ready to run: its spec, its machine and its trigger keywords."""

    spec: FlowSpec
    machine: Machine
    driver: Driver
    keywords: dict[str, str]  # normalised keyword -> language
    hints: dict[tuple[str, str], str] = field(default_factory=dict)  # (state, lang) -> hint

    def fire(self, turn: TurnHooks, trigger: str) -> None:
        """Run one trigger from the turn's state; the callbacks record onto the turn."""
        driver = self.driver
        driver.turn = turn
        try:
            self.machine.set_state(turn.conv.state or self.spec.start, model=driver)
            self.machine.events[trigger].trigger(driver)
        finally:
            driver.turn = None

    @property
    def name(self) -> str:
        return self.spec.name

    def state(self, name: str) -> StateSpec:
        return self.spec.states[name]


def compile_flow(spec: FlowSpec) -> CompiledFlow:
    """Build the machine for `spec` (already checked by the loader)."""
    states = [State(name, on_enter=[_on_enter(name, s)]) for name, s in spec.states.items()]
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
    for name, state in spec.states.items():
        _add_transitions(machine, name, state)
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
                        hints=hints)


def _add_transitions(machine: Machine, name: str, state: StateSpec) -> None:
    for transition in state.on:
        when = transition.when
        condition = (_stored_condition(compile_var_test(when)) if isinstance(when, VarMatch)
                     else _choice_condition(_said(state)) if when == "choice"
                     else _reply_condition(compile_match(when)))
        machine.add_transition(REPLY, name, transition.goto, conditions=[condition],
                               before=[_before_enter(transition)])
    for trigger, routes in ((SUCCEED, state.on_success), (FAIL, state.on_failure)):
        if isinstance(routes, str):
            machine.add_transition(trigger, name, routes)
        elif routes:
            for route in routes:
                machine.add_transition(trigger, name, route.goto,
                                       conditions=[_reason_condition(route.when)])
    if state.goto:
        machine.add_transition(ADVANCE, name, state.goto)
    if state.timeout:
        machine.add_transition(EXPIRE, name, state.timeout.goto)
    if state.on_max_attempts:
        machine.add_transition(GIVE_UP, name, state.on_max_attempts)


def _turn(event: EventData) -> TurnHooks:
    turn = cast(Driver, event.model).turn
    assert turn is not None, "a flow machine fired outside an engine step"
    return turn


def _reply_condition(matcher: Matcher) -> Callable[[EventData], bool]:
    def condition(event: EventData) -> bool:
        turn = _turn(event)
        value = matcher(turn.text_in)
        turn.matched = value
        return value is not None

    return condition


def _said(state: StateSpec) -> dict[str, object]:
    """The state's own texts (every language), where a menu written into the flow lives."""
    texts = [state.say, state.reprompt]
    return {f"said_{i}_{lang}": body for i, text in enumerate(texts) if text is not None
            for lang, body in (text.items() if isinstance(text, dict) else [("", text)])}


def _choice_condition(said: dict[str, object]) -> Callable[[EventData], bool]:
    """`when: choice`: a menu number (digits or a word), or the name of one item of a menu:
    one the conversation holds ("clean water" for "1) Clean Water Now" in
    `{campaigns_menu}`) or one written in the state's own text; kept as its number."""
    def condition(event: EventData) -> bool:
        turn = _turn(event)
        value = (match_number(turn.text_in)
                 or match_menu_item(turn.text_in, {**said, **turn.stored()}))
        turn.matched = value
        return value is not None

    return condition


def _stored_condition(test: VarTest) -> Callable[[EventData], bool]:
    """A reply route on what is stored: any reply, kept as typed, while the test holds."""
    def condition(event: EventData) -> bool:
        turn = _turn(event)
        if not test(turn.stored()):
            return False
        turn.matched = turn.text_in.strip()[:160]
        return True

    return condition


def _before_enter(transition: Transition) -> Callable[[EventData], None]:
    def before(event: EventData) -> None:
        turn = _turn(event)
        turn.on_reply_taken(transition)

    return before


def _reason_condition(when: str | VarMatch | None) -> Callable[[EventData], bool]:
    """An action's route: by its result's tag, or by what is stored after saving the result."""
    if isinstance(when, VarMatch):
        test = compile_var_test(when)
        return lambda event: test(_turn(event).stored())

    def condition(event: EventData) -> bool:
        return when is None or _turn(event).reason == when

    return condition


def _on_enter(name: str, state: StateSpec) -> Callable[[EventData], Any]:
    def enter(event: EventData) -> None:
        turn = _turn(event)
        turn.enter(name, state)

    return enter
