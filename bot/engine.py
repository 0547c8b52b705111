"""The engine: one pure step, `(conversation, event) -> Step(conversation', effects)`.

Compliance keywords are handled first, from any state; then the conversation's flow
machine takes the event. Nothing here awaits or touches the network or Redis, so a step is
fast, deterministic under a frozen clock, and safe to retry after a version clash.
"""

from __future__ import annotations

from bot.clock import IdFactory
from bot.compliance import Keyword, classify, language_hint, normalise
from bot.compliance_steps import (
    CONSENT_SYNC,
    answer_check,
    consent,
    opt_in,
    opt_out,
    optin_pending,
    reply,
    sync_opt_in,
)
from bot.engine_turn import Turn
from bot.flow import FlowSet
from bot.flow.schema import StateSpec
from bot.flow.turn import ADVANCE, EXPIRE, FAIL, GIVE_UP, REPLY, SUCCEED
from bot.models import (
    ActionResult,
    BroadcastStart,
    CarrierOptOut,
    Conversation,
    Event,
    Inbound,
    Lane,
    SendSms,
    Step,
    TimerFired,
)
from bot.phone import region_of
from bot.reached import reach
from bot.rules import Rules
from bot.safety import voter_texted
from bot.texts import default_text, render

#: Most `goto`s one event may follow (mailroom caps a sprint at 250 steps); the tighter
#: bound across events is `Rules.max_auto_steps`.
STEP_BUDGET = 50
__all__ = ["CONSENT_SYNC", "STEP_BUDGET", "Rules", "Turn", "step"]

FLOOD_WINDOW = 60.0


def step(flows: FlowSet, conv: Conversation, event: Event, now: float, ids: IdFactory,
         rules: Rules) -> Step:
    """Apply one event to one conversation. Pure: the caller commits, then acts. What the
    phone reached for the first time is marked for the funnel (`bot.reached`)."""
    return reach(flows, conv, _step(flows, conv, event, now, ids, rules))


def _step(flows: FlowSet, conv: Conversation, event: Event, now: float, ids: IdFactory,
          rules: Rules) -> Step:
    work = conv.for_step(now)
    if isinstance(event, Inbound):
        return _inbound(flows, work, event, now, ids, rules)
    if isinstance(event, CarrierOptOut):
        return opt_out(flows, work, event, now, ids, rules)
    if isinstance(event, BroadcastStart):
        return _in_lane(_broadcast(flows, work, event, now, ids, rules), Lane.BULK)
    if work.flow is None or work.state is None:
        return Step(conversation=work, note="stale")
    if _vanished(flows, work):
        if isinstance(event, TimerFired):  # the voter is not waiting: never text at random
            work.flow = work.state = work.pending = None
            work.token += 1
            return Step(conversation=work, note="flow_gone_quiet")
        return _after_reload(flows, work, now, ids, rules)
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
        return _in_lane(_run(turn, EXPIRE, note="timeout"), Lane.REMINDER)
    return Step(conversation=work, note="unknown")


def _inbound(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
             rules: Rules) -> Step:
    """A text: never answered when it comes from one of our own numbers (a loop); answered
    in the writer's language (AYUDA, HOLA: Spanish); once only from outside SMS_COUNTRIES."""
    if event.phone in rules.own_numbers or event.phone == event.to:
        return Step(conversation=conv, note="own_number")
    conv.texts_in += 1
    if conv.flow is None and (hint := language_hint(event.body)):
        conv.lang = hint
    if region_of(conv.phone) not in rules.countries:
        return _not_served(flows, conv, event, now, ids, rules)
    return _paced_text(flows, conv, event, now, ids, rules)


def _paced_text(flows: FlowSet, conv: Conversation, event: Inbound, now: float,
                ids: IdFactory, rules: Rules) -> Step:
    """A text from a served country: answered, unless the phone floods and already had its
    few answers this minute (then only recorded, as an ignored text)."""
    voter_texted(conv)
    flooding = _count_text(conv, now, rules)
    if flooding and conv.rate_out >= rules.flood_answers:
        return Step(conversation=conv, note="ignored")
    result = _on_text(flows, conv, event, now, ids, rules)
    if flooding and any(isinstance(e, SendSms) for e in result.effects):
        result.conversation.rate_out += 1
    return result


def _count_text(conv: Conversation, now: float, rules: Rules) -> bool:
    """Count a text in the phone's current minute; True while the phone floods (over
    `flood_texts` a minute, until a minute passes at a person's pace)."""
    flooding = conv.flooding
    if now - conv.rate_t0 >= FLOOD_WINDOW:
        flooding = flooding and conv.rate_in > rules.flood_texts
        conv.rate_t0, conv.rate_in, conv.rate_out = now, 1, 0
    else:
        conv.rate_in += 1
    flooding = flooding or conv.rate_in > rules.flood_texts
    if flooding != conv.flooding:  # (written only when it changes: a write costs)
        conv.flooding = flooding
    return flooding


def _not_served(flows: FlowSet, conv: Conversation, event: Inbound, now: float,
                ids: IdFactory, rules: Rules) -> Step:
    """A phone outside SMS_COUNTRIES: one short answer, the first time, and nothing else
    ever (no flow, so no code). A STOP is still recorded, answered only if it came first."""
    first = conv.texts_in == 1
    if classify(event.body, flows.lists) is Keyword.STOP and not conv.opted_out:
        return opt_out(flows, conv, event, now, ids, rules, confirm=first)
    if not first:
        return Step(conversation=conv, note="ignored")
    countries = ", ".join(sorted(rules.countries))
    body = render(default_text("not_served", conv.lang),
                  {"program": rules.program, "countries": countries})
    return Step(conversation=conv, effects=[SendSms(id=ids.new_id(), phone=conv.phone,
                                                    body=body)], note="not_served")


def _on_text(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
             rules: Rules) -> Step:
    keyword = classify(event.body, flows.lists, answering=answer_check(flows, conv))
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


def _while_opted_out(flows: FlowSet, conv: Conversation, event: Inbound,
                     keyword: Keyword | None, now: float, ids: IdFactory,
                     rules: Rules) -> Step:
    """After STOP only what the voter asks: HELP answered, a flow keyword gets its opt-in
    question (YES re-subscribes), START opts in; a carrier's or provider's opt-out: nothing
    until the provider's own START or YES."""
    if conv.optout_by is not None:
        if keyword in (Keyword.START, Keyword.YES):
            return opt_in(flows, conv, event, now, ids, rules)
        return Step(conversation=conv, note="ignored")
    if keyword is Keyword.HELP:
        return reply(flows, conv, "help", ids, rules, note="help", asked_while_out=True)
    if keyword is Keyword.YES and optin_pending(flows, conv):
        conv.opted_out = False
        result = _flow_text(flows, conv, event, now, ids, rules)
        result.effects.extend(sync_opt_in(conv, ids, rules))
        return result
    if keyword in (Keyword.START, Keyword.YES):
        return opt_in(flows, conv, event, now, ids, rules)
    started = flows.keywords.get(normalise(event.body))
    if started is not None:
        return _ask_to_rejoin(flows, conv, event, started, now, ids, rules)
    return Step(conversation=conv, note="ignored")


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
    result = turn.finish("rejoin")
    result.effects = [e.model_copy(update={"asked_while_out": True})
                      if isinstance(e, SendSms) else e for e in result.effects]
    result.consent.append(consent(event, now, f"REJOIN-ASKED:{name}", opted_out=True))
    return result


def _flow_text(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
               rules: Rules) -> Step:
    started = flows.keywords.get(normalise(event.body))
    if _vanished(flows, conv):
        if started is None:
            return _after_reload(flows, conv, now, ids, rules)
        conv.flow = conv.state = conv.pending = None
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
            return turn.finish("busy")
    if started is None:
        return reply(flows, conv, "idle", ids, rules, note="idle")
    name, lang = started
    conv.flow, conv.lang, conv.vars = name, lang, {}
    turn = Turn(conv, flows.flows[name], now, ids, rules, text_in=event.body, event=event)
    turn.enter(turn.flow.spec.start, turn.flow.state(turn.flow.spec.start))
    return _settle(turn, note="start")


def _vanished(flows: FlowSet, conv: Conversation) -> bool:
    """The conversation is in a flow or state that a reload removed."""
    if conv.flow is None or conv.state is None:
        return False
    flow = flows.flows.get(conv.flow)
    return flow is None or conv.state not in flow.spec.states


def _after_reload(flows: FlowSet, conv: Conversation, now: float, ids: IdFactory,
                  rules: Rules) -> Step:
    """Never stuck after a reload: back to the flow's start if the flow is still there
    (what was saved is dropped: it may not fit the new flow), else ended, with a short text."""
    flow = flows.flows.get(conv.flow or "")
    conv.pending, conv.attempts = None, 0
    conv.token += 1
    if flow is None:
        conv.flow = conv.state = None
        body = render(default_text("flow_gone", conv.lang), {"program": rules.program})
        return Step(conversation=conv, effects=[SendSms(id=ids.new_id(), phone=conv.phone,
                                                        body=body)], note="flow_gone")
    conv.vars = {}
    turn = Turn(conv, flow, now, ids, rules)
    turn.say(default_text("flow_restarted", conv.lang))
    turn.enter(flow.spec.start, flow.state(flow.spec.start))
    return _settle(turn, note="flow_restarted")


def _run(turn: Turn, trigger: str, note: str) -> Step:
    """Fire one trigger on the flow machine, then follow automatic `goto`s."""
    turn.flow.fire(turn, trigger)
    return _settle(turn, note)


def _settle(turn: Turn, note: str) -> Step:
    conv = turn.conv
    for _ in range(STEP_BUDGET):
        if turn.halted or conv.state is None or not turn.flow.state(conv.state).goto:
            break
        turn.flow.fire(turn, ADVANCE)
    if turn.halted:
        return _halt(turn)
    return turn.finish(note)


def _halt(turn: Turn) -> Step:
    """A run-time bound broke: end the conversation, say sorry (the flow cannot go on)."""
    conv = turn.conv
    conv.flow = conv.state = conv.pending = None
    conv.token += 1
    conv.attempts = 0
    turn.say(default_text("halted", conv.lang))
    return turn.finish(f"halted:{turn.halted}")


def _reprompt(turn: Turn, state: StateSpec) -> Step:
    conv = turn.conv
    conv.attempts += 1
    if conv.attempts >= state.max_attempts:
        if state.on_max_attempts:
            return _run(turn, GIVE_UP, note="give_up")
        turn.say(default_text("goodbye", conv.lang))
        conv.flow = conv.state = None
        return turn.finish("give_up")
    custom = turn.text(state.reprompt)
    if custom:
        turn.say(custom)
    else:
        hint = turn.flow.hints.get((conv.state or "", conv.lang), "")
        turn.say(" ".join(p for p in (default_text("sorry", conv.lang), hint) if p))
        turn.say(turn.text(state.say))
    return turn.finish("reprompt")


def _save_result(turn: Turn, event: ActionResult) -> None:
    state = turn.flow.state(turn.conv.state or "")
    prefix = f"{state.action.save}_" if state.action and state.action.save else ""
    for key, value in event.data.items():
        if value is None or value == "":
            turn.conv.vars.pop(prefix + key, None)  # unset: nothing stored for nothing
        elif isinstance(value, str | int | float | bool):
            turn.conv.vars[prefix + key] = value


def _broadcast(flows: FlowSet, conv: Conversation, event: BroadcastStart, now: float,
               ids: IdFactory, rules: Rules) -> Step:
    """Start a broadcast's flow (or one state of it) for a subscribed phone; an opted-out
    phone gets nothing (the runner skips them too: this is the last word, in the commit)."""
    flow = flows.flows.get(event.flow)
    if conv.opted_out or flow is None:
        return Step(conversation=conv, note="broadcast_skipped")
    start = event.state or flow.spec.start
    if start not in flow.spec.states:
        return Step(conversation=conv, note="broadcast_skipped")
    conv.flow = flow.name
    if conv.lang not in flow.spec.languages:
        conv.lang = flow.spec.languages[0]
    turn = Turn(conv, flow, now, ids, rules, event=event)
    turn.enter(start, flow.state(start))
    return _settle(turn, note="broadcast")


def _in_lane(result: Step, lane: Lane) -> Step:
    """The same step with its texts in `lane` (texts a timer or a broadcast caused)."""
    result.effects = [e.model_copy(update={"lane": lane}) if isinstance(e, SendSms) else e
                      for e in result.effects]
    return result
