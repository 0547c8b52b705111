"""The engine: one pure step, `(conversation, event) -> Step(conversation', effects)`.

Compliance keywords are handled first, from any state; then the conversation's flow
machine takes the event. Nothing here awaits or touches the network or Redis, so a step is
fast, deterministic under a frozen clock, and safe to retry after a version clash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.clock import IdFactory
from bot.compliance import (
    AnswerCheck,
    Keyword,
    classify,
    language_hint,
    looks_like_street,
    normalise,
    quotes,
)
from bot.compliance_steps import (
    CONSENT_SYNC,
    consent,
    join_words,
    opt_in,
    opt_out,
    reply,
    sync_opt_in,
)
from bot.flow import CompiledFlow, FlowSet
from bot.flow.predicates import compile_match
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
from bot.rules import Rules
from bot.texts import default_text, pick, render

__all__ = ["CONSENT_SYNC", "STEP_BUDGET", "Rules", "Turn", "step"]

#: Most state changes one event may cause (mailroom caps a sprint at 250 steps).
STEP_BUDGET = 50


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
                      "help_contact": self.rules.help_contact or "",
                      **join_words(self.flow.spec)}
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
            self.consent.append(consent(self.event, self.now, f"OPT-IN:{self.flow.name}",
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
        return opt_out(flows, work, event, now, ids, rules)
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
    if event.phone in rules.own_numbers or event.phone == event.to:
        return Step(conversation=conv, note="own_number")  # never text ourselves: a loop
    if conv.flow is None:
        conv.lang = language_hint(event.body) or conv.lang
    keyword = classify(event.body, flows.lists, answering=_answer_check(flows, conv))
    if keyword is Keyword.STOP:
        if conv.opted_out:
            conv.flow = conv.state = None  # a pending re-join question is void
            return Step(conversation=conv, note="ignored")
        return opt_out(flows, conv, event, now, ids, rules)
    if conv.opted_out:
        return _while_opted_out(flows, conv, event, keyword, now, ids, rules)
    if keyword is Keyword.HELP:
        return reply(flows, conv, "help", ids, rules, note="help")
    if keyword is Keyword.START:
        return reply(flows, conv, "welcome", ids, rules, note="start")
    return _flow_text(flows, conv, event, now, ids, rules)


def _answer_check(flows: FlowSet, conv: Conversation) -> AnswerCheck | bool:
    """Whether a text is the reply the conversation waits for: one the state accepts (for
    free text, one that reads as a street), or one quoting what the bot offered (a campaign
    name from a menu). Only asked for a sentence opening with a per-se word."""
    if conv.flow not in flows.flows or conv.state is None:
        return False
    replies = flows.flows[conv.flow].state(conv.state).on
    if not replies:
        return False

    def is_answer(body: str) -> bool:
        if quotes(body, conv.vars.values()):
            return True
        for reply_ in replies:
            if reply_.when in ("text", "any"):
                if looks_like_street(body):
                    return True
            elif compile_match(reply_.when)(body) is not None:
                return True
        return False

    return is_answer


def _while_opted_out(flows: FlowSet, conv: Conversation, event: Inbound,
                     keyword: Keyword | None, now: float, ids: IdFactory,
                     rules: Rules) -> Step:
    """After STOP only what the voter asks for: HELP is answered, a flow keyword gets its
    opt-in question (YES then re-subscribes), START opts back in. A phone the carrier or
    provider opted out gets nothing until the provider's own START or YES."""
    if conv.optout_by is not None:
        if keyword in (Keyword.START, Keyword.YES):
            return opt_in(flows, conv, event, now, ids, rules)
        return Step(conversation=conv, note="ignored")
    if keyword is Keyword.HELP:
        return reply(flows, conv, "help", ids, rules, note="help", asked_while_out=True)
    if keyword is Keyword.YES and _optin_pending(flows, conv):
        conv.opted_out = False
        result = _flow_text(flows, conv, event, now, ids, rules)
        result.effects.extend(sync_opt_in(conv, ids, rules))
        return result
    if keyword in (Keyword.START, Keyword.YES):
        return opt_in(flows, conv, event, now, ids, rules)
    started = flows.keywords.get(normalise(event.body))
    if started is not None and rules.serves(conv.phone):
        return _ask_to_rejoin(flows, conv, event, started, now, ids, rules)
    return Step(conversation=conv, note="ignored")


def _optin_pending(flows: FlowSet, conv: Conversation) -> bool:
    """The conversation waits in a state whose replies include the opt-in (YES)."""
    if conv.flow not in flows.flows or conv.state is None:
        return False
    return any(t.opt_in for t in flows.flows[conv.flow].state(conv.state).on)


def _ask_to_rejoin(flows: FlowSet, conv: Conversation, event: Inbound,
                   started: tuple[str, str], now: float, ids: IdFactory,
                   rules: Rules) -> Step:
    """A flow keyword from a phone that opted out with us: exactly one text, the flow's
    opt-in question (only a flow that opens with one may ask)."""
    name, lang = started
    flow = flows.flows[name]
    first = flow.state(flow.spec.start)
    if not any(t.opt_in for t in first.on):
        return Step(conversation=conv, note="ignored")
    conv.flow, conv.lang, conv.vars = name, lang, {}
    turn = Turn(conv, flow, now, ids, rules, text_in=event.body, event=event)
    turn.enter(flow.spec.start, first)
    effects = [e.model_copy(update={"asked_while_out": True}) if isinstance(e, SendSms) else e
               for e in turn.effects]
    return Step(conversation=conv, effects=effects, note="rejoin",
                consent=[consent(event, now, f"REJOIN-ASKED:{name}", opted_out=True)])


def _flow_text(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
               rules: Rules) -> Step:
    if conv.flow is None and not rules.serves(conv.phone):
        return reply(flows, conv, "unsupported", ids, rules, note="unsupported")
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
        return reply(flows, conv, "idle", ids, rules, note="idle")
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
