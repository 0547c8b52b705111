"""The engine: one pure step, `(conversation, event) -> Step(conversation', effects)`.

Compliance keywords are handled first, from any state; then the conversation's flow
machine takes the event. Nothing here awaits or touches the network or Redis, so a step is
fast, deterministic under a frozen clock, and safe to retry after a version clash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.clock import IdFactory
from bot.compliance import Keyword, classify, normalise
from bot.flow import CompiledFlow, FlowSet
from bot.flow.schema import StateSpec, Transition
from bot.flow.turn import ADVANCE, EXPIRE, FAIL, GIVE_UP, REPLY, SUCCEED
from bot.models import (
    ActionResult,
    CarrierOptOut,
    ConsentChange,
    Conversation,
    Event,
    Inbound,
    RunAction,
    SendSms,
    SetTimer,
    Step,
    TimerFired,
)
from bot.quiet import outside_quiet_hours
from bot.texts import default_text, pick, render

#: Most state changes one event may cause (mailroom caps a sprint at 250 steps).
STEP_BUDGET = 50
CONSENT_SYNC = "consent_sync"


@dataclass(frozen=True)
class Rules:
    """Deployment-wide facts the engine needs: names for texts, who answers keywords."""

    program: str = "civictext"
    help_contact: str = "ask the organizer who shared this number"
    provider_handles_keywords: bool = False
    consent_sync: bool = True  # push opt-outs/opt-ins upstream with the `consent_sync` action
    quiet_start: int = 21  # local hour quiet hours begin (timers marked quiet_hours wait)
    quiet_end: int = 8


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

    # --- recording helpers -----------------------------------------------------------
    def say(self, text: str | None) -> None:
        if text:
            values = {**self.conv.vars, "program": self.rules.program,
                      "help_contact": self.rules.help_contact}
            body = render(text, values)
            self.effects.append(SendSms(id=self.ids.new_id(), phone=self.conv.phone, body=body))

    def text(self, value: object) -> str | None:
        return pick(value, self.conv.lang, self.flow.spec.languages[0])  # type: ignore[arg-type]

    # --- callbacks from the machine ----------------------------------------------------
    def enter(self, name: str, state: StateSpec) -> None:
        """Entering a state: say its message, call its action, set its timer, or end."""
        conv = self.conv
        conv.state = name
        conv.token += 1
        conv.attempts = 0
        conv.pending = None
        if state.forget:
            prefixes = tuple(state.forget)
            conv.vars = {k: v for k, v in conv.vars.items() if not k.startswith(prefixes)}
        self.say(self.text(state.say))
        if state.action is not None:
            effect = RunAction(id=self.ids.new_id(), phone=conv.phone, action=state.action.type,
                               params=self._fill(state.action.params), lang=conv.lang)
            conv.pending = effect.id
            self.effects.append(effect)
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
            self.consent.append(_consent(self.event, self.now, f"OPT-IN:{self.flow.name}",
                                         opted_out=False))

    def _fill(self, params: dict[str, object]) -> dict[str, object]:
        values = self.conv.vars
        return {k: render(v, values) if isinstance(v, str) else v for k, v in params.items()}


def step(flows: FlowSet, conv: Conversation, event: Event, now: float, ids: IdFactory,
         rules: Rules) -> Step:
    """Apply one event to one conversation. Pure: the caller commits, then acts."""
    work = conv.model_copy(update={"vars": dict(conv.vars), "updated_at": now})
    if isinstance(event, Inbound):
        work.texts_in += 1
        return _on_text(flows, work, event, now, ids, rules)
    if isinstance(event, CarrierOptOut):
        return _opt_out(flows, work, event, now, ids, rules, confirm=False)
    if work.flow is None or work.state is None or work.flow not in flows.flows:
        return Step(conversation=work, note="stale")
    turn = Turn(work, flows.flows[work.flow], now, ids, rules, event=event)
    if isinstance(event, ActionResult):
        if event.effect_id != work.pending:
            return Step(conversation=work, note="stale")
        _save_result(turn, event)
        turn.reason = event.reason
        return _run(turn, SUCCEED if event.ok else FAIL, note="action")
    if isinstance(event, TimerFired):
        if event.token != work.token:
            return Step(conversation=work, note="stale")
        return _run(turn, EXPIRE, note="timeout")
    return Step(conversation=work, note="unknown")


def _on_text(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
             rules: Rules) -> Step:
    keyword = classify(event.body, flows.lists)
    if keyword is Keyword.STOP:
        if conv.opted_out:
            return Step(conversation=conv, note="ignored")
        return _opt_out(flows, conv, event, now, ids, rules, confirm=True)
    if conv.opted_out:
        if keyword in (Keyword.START, Keyword.YES):
            return _opt_in(flows, conv, event, now, ids, rules)
        return Step(conversation=conv, note="ignored")
    if keyword is Keyword.HELP:
        return _compliance_reply(flows, conv, "help", ids, rules, note="help")
    if keyword is Keyword.START:
        return _compliance_reply(flows, conv, "start", ids, rules, note="start")
    return _flow_text(flows, conv, event, now, ids, rules)


def _flow_text(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
               rules: Rules) -> Step:
    started = flows.keywords.get(normalise(event.body))
    if conv.flow in flows.flows and conv.state is not None:
        flow = flows.flows[conv.flow]
        turn = Turn(conv, flow, now, ids, rules, text_in=event.body, event=event)
        state = flow.state(conv.state)
        if state.on:
            before = conv.token
            result = _run(turn, REPLY, note="reply")
            if conv.token != before:
                return result
            if started is None:
                return _reprompt(turn, state)
        elif started is None:
            turn.say(default_text("busy", conv.lang))
            return Step(conversation=conv, effects=list(turn.effects), note="busy")
    if started is None:
        return _compliance_reply(flows, conv, "idle", ids, rules, note="idle")
    name, lang = started
    conv.flow, conv.lang, conv.vars = name, lang, {}
    turn = Turn(conv, flows.flows[name], now, ids, rules, text_in=event.body, event=event)
    turn.enter(turn.flow.spec.start, turn.flow.state(turn.flow.spec.start))
    return _settle(turn, note="start")


def _run(turn: Turn, trigger: str, note: str) -> Step:
    """Fire one trigger on the flow machine, then follow automatic `goto`s."""
    turn.flow.fire(turn, trigger)
    return _settle(turn, note)


def _settle(turn: Turn, note: str) -> Step:
    conv = turn.conv
    for _ in range(STEP_BUDGET):
        if conv.state is None or not turn.flow.state(conv.state).goto:
            break
        turn.flow.fire(turn, ADVANCE)
    return Step(conversation=conv, effects=list(turn.effects), consent=turn.consent, note=note)


def _reprompt(turn: Turn, state: StateSpec) -> Step:
    conv = turn.conv
    conv.attempts += 1
    if conv.attempts >= state.max_attempts:
        if state.on_max_attempts:
            return _run(turn, GIVE_UP, note="give_up")
        turn.say(default_text("goodbye", conv.lang))
        conv.flow = conv.state = None
        return Step(conversation=conv, effects=list(turn.effects), note="give_up")
    custom = turn.text(state.reprompt)
    if custom:
        turn.say(custom)
    else:
        hint = turn.flow.hints.get((conv.state or "", conv.lang), "")
        turn.say(" ".join(p for p in (default_text("sorry", conv.lang), hint) if p))
        turn.say(turn.text(state.say))
    return Step(conversation=conv, effects=list(turn.effects), note="reprompt")


def _save_result(turn: Turn, event: ActionResult) -> None:
    state = turn.flow.state(turn.conv.state or "")
    prefix = f"{state.action.save}_" if state.action and state.action.save else ""
    for key, value in event.data.items():
        if value is None or value == "":
            turn.conv.vars.pop(prefix + key, None)  # unset: nothing stored for nothing
        elif isinstance(value, str | int | float | bool):
            turn.conv.vars[prefix + key] = value


def _compliance_text(flows: FlowSet, conv: Conversation, kind: str) -> str:
    flow = flows.flows.get(conv.flow or flows.default) or flows.flows[flows.default]
    custom = pick(getattr(flow.spec.compliance, kind, None), conv.lang, flow.spec.languages[0])
    return custom or default_text(kind, conv.lang)


def _compliance_reply(flows: FlowSet, conv: Conversation, kind: str, ids: IdFactory,
                      rules: Rules, note: str) -> Step:
    effects: list[SendSms | RunAction | SetTimer] = []
    if not rules.provider_handles_keywords or kind == "idle":
        body = render(_compliance_text(flows, conv, kind),
                      {"program": rules.program, "help_contact": rules.help_contact})
        effects.append(SendSms(id=ids.new_id(), phone=conv.phone, body=body))
    return Step(conversation=conv, effects=effects, note=note)


def _opt_out(flows: FlowSet, conv: Conversation, event: Inbound | CarrierOptOut, now: float,
             ids: IdFactory, rules: Rules, *, confirm: bool) -> Step:
    conv.opted_out, conv.flow, conv.state, conv.pending = True, None, None, None
    conv.token += 1
    conv.attempts = 0
    effects: list[SendSms | RunAction | SetTimer] = []
    if confirm and not rules.provider_handles_keywords:
        body = render(_compliance_text(flows, conv, "stop"),
                      {"program": rules.program, "help_contact": rules.help_contact})
        effects.append(SendSms(id=ids.new_id(), phone=conv.phone, body=body,
                               stop_confirmation=True))
    if rules.consent_sync:
        effects.append(RunAction(id=ids.new_id(), phone=conv.phone, action=CONSENT_SYNC,
                                 params={"opted_in": False}))
    keyword = "STOP" if isinstance(event, Inbound) else "CARRIER-OPTOUT"
    return Step(conversation=conv, effects=effects, note="stop",
                consent=[_consent(event, now, keyword, opted_out=True)])


def _opt_in(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
            rules: Rules) -> Step:
    conv.opted_out = False
    step_ = _compliance_reply(flows, conv, "start", ids, rules, note="start")
    if rules.consent_sync:
        step_.effects.append(RunAction(id=ids.new_id(), phone=conv.phone, action=CONSENT_SYNC,
                                       params={"opted_in": True}))
    step_.consent.append(_consent(event, now, normalise(event.body)[:20], opted_out=False))
    return step_


def _consent(event: Inbound | CarrierOptOut, now: float, keyword: str, *,
             opted_out: bool) -> ConsentChange:
    text = event.body if isinstance(event, Inbound) else ""
    return ConsentChange(at=now, phone=event.phone, keyword=keyword, text=text[:320],
                         message_id=event.message_id, provider=event.provider,
                         opted_out=opted_out)
