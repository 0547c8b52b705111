"""One engine step's work inside a flow: the flow machine's callbacks record onto a `Turn`
(it is the machine's `bot.flow.turn.TurnHooks`), and the engine makes the `Step` from it.

Entering a state says its text, asks for its action, sets its timer; taking a reply saves
what was matched and records an opt-in with the text the voter answered. No I/O.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import lru_cache

from bot.clock import IdFactory
from bot.compliance_steps import consent, join_words
from bot.flow import CompiledFlow
from bot.flow.schema import StateSpec, Transition
from bot.models import (
    ConsentChange,
    Conversation,
    Event,
    Inbound,
    RunAction,
    SendSms,
    SetTimer,
    Step,
    disclosure_id,
)
from bot.quiet import outside_quiet_hours
from bot.rules import Rules
from bot.safety import calling_action, entering_state
from bot.texts import pick, render


@dataclass
class Turn:
    """One step's work: the flow machine's callbacks record onto it (it is the machine's
    `bot.flow.turn.TurnHooks`)."""

    conv: Conversation
    flow: CompiledFlow
    now: float
    ids: IdFactory
    rules: Rules
    text_in: str = ""
    matched: str | None = None
    reason: str | None = None
    effects: list[SendSms | RunAction | SetTimer] = field(default_factory=list)
    consent: list[ConsentChange] = field(default_factory=list)
    event: Event | None = None
    halted: str | None = None  # the run-time bound this step broke (bot/safety.py)
    entered: list[str] = field(default_factory=list)
    disclosures: dict[str, str] = field(default_factory=dict)  # opt-in texts, by reference

    def finish(self, note: str) -> Step:
        """The step this turn recorded."""
        return Step(conversation=self.conv, effects=list(self.effects), consent=self.consent,
                    flow=self.flow.name, entered=self.entered, note=note,
                    disclosures=dict(self.disclosures))

    # --- recording helpers -----------------------------------------------------------
    def say(self, text: str | None) -> None:
        if text:
            body = self.render(text)
            self.effects.append(SendSms(id=self.ids.new_id(), phone=self.conv.phone, body=body))

    def render(self, text: str) -> str:
        """`text` filled with `values()`. Most texts name built-ins only (`{program}`): what
        they say then depends on the flow and the deployment alone, so it is filled once."""
        if "{" not in text:
            return text
        if names_builtins_only(text):
            join = join_words(self.flow.spec)
            return _filled(text, self.rules.program, self.rules.help_contact or "",
                           join["join_en"], join["join_es"])
        return render(text, self.values())

    def values(self) -> dict[str, object]:
        """What `{placeholders}` in texts and action params read: the stored values, and
        the built-ins (`{program}`, `{help_contact}`, `{join_en}`...: the check lets both
        use them)."""
        return {**self.conv.vars, "program": self.rules.program,
                "help_contact": self.rules.help_contact or "", **join_words(self.flow.spec)}

    def stored(self) -> dict[str, object]:
        """What `when: {var: ...}` reads: the stored values, and `lang`."""
        return {**self.conv.vars, "lang": self.conv.lang}

    def text(self, value: object) -> str | None:
        return pick(value, self.conv.lang, self.flow.spec.languages[0])  # type: ignore[arg-type]

    # --- callbacks from the machine ----------------------------------------------------
    def enter(self, name: str, state: StateSpec) -> None:
        """Entering a state: say its message, call its action, set its timer, or end."""
        conv = self.conv
        if self.halted is None:
            self.halted = entering_state(conv, self.rules.max_auto_steps)
        if self.halted is None and state.action is not None:
            self.halted = calling_action(conv, self.now, self.rules.max_actions_per_hour)
        if self.halted is not None:
            return  # `_settle` ends the conversation with an apology
        self.entered.append(name)
        conv.state = name
        conv.token += 1
        conv.attempts = 0
        if state.forget:
            prefixes = tuple(state.forget)
            conv.vars = {k: v for k, v in conv.vars.items() if not k.startswith(prefixes)}
        self.say(self.text(state.say))
        pending = None
        if state.action is not None:
            effect = RunAction(id=self.ids.new_id(), phone=conv.phone, action=state.action.type,
                               params=self._fill(state.action.params), lang=conv.lang)
            pending = effect.id
            self.effects.append(effect)
        conv.pending = pending  # the action this state waits for; none in a state without
        if state.timeout is not None:
            due = self.now + state.timeout.after
            if state.timeout.quiet_hours:
                due = outside_quiet_hours(due, conv.phone, self.rules.quiet_start,
                                          self.rules.quiet_end)
            self.effects.append(SetTimer(id=self.ids.new_id(), phone=conv.phone,
                                         name=f"timeout:{name}", due=due, token=conv.token))
        if state.end:
            conv.flow = None
            conv.state = None

    def on_reply_taken(self, transition: Transition) -> None:
        if transition.save and self.matched is not None:
            self.conv.vars[transition.save] = self.matched
        self.conv.vars.update(transition.set)
        if transition.opt_in and isinstance(self.event, Inbound):
            prompt = self._prompt()[:480]
            ref = disclosure_id(prompt) if prompt else ""
            if ref:
                self.disclosures[ref] = prompt
            self.consent.append(consent(self.event, self.now, f"OPT-IN:{self.flow.name}",
                                        opted_out=False, prompt=ref))

    def _prompt(self) -> str:
        """The text of the state the voter is answering, as it was sent to them."""
        if self.conv.state is None:
            return ""
        text = self.text(self.flow.state(self.conv.state).say)
        if not text:
            return ""
        return self.render(text)

    def _fill(self, params: dict[str, object]) -> dict[str, object]:
        return {k: self.render(v) if isinstance(v, str) else v for k, v in params.items()}


BUILTINS = frozenset({"program", "help_contact", "join_en", "join_es"})
"""The placeholders `Turn.values` fills from the flow and the deployment (they win over a
stored value of the same name)."""


@lru_cache(maxsize=1024)
def names_builtins_only(text: str) -> bool:
    """Every placeholder of `text` is a bare built-in (`{program}`; no attribute, index or
    nested field): the text fills the same whatever the conversation stores."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return False  # a broken text fails in `render`, as before
    return all(name is None or (name in BUILTINS and "{" not in (spec or ""))
               for _, name, spec, _ in fields)


@lru_cache(maxsize=1024)
def _filled(text: str, program: str, help_contact: str, join_en: str, join_es: str) -> str:
    """A text naming built-ins only, filled (a flow's texts times a deployment's names)."""
    return render(text, {"program": program, "help_contact": help_contact,
                         "join_en": join_en, "join_es": join_es})
