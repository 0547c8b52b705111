"""The engine's compliance path: opt-out, opt-in, and the answers to HELP, START and idle
texts. Pure like the engine: each function returns a `Step` (the new conversation, the
effects, the consent-log lines) and the caller commits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bot.clock import IdFactory
from bot.compliance import AnswerCheck, looks_like_street, normalise, quotes
from bot.flow import FlowSet
from bot.flow.predicates import compile_match
from bot.flow.schema import FlowSpec, StateSpec, VarMatch
from bot.models import (
    CarrierOptOut,
    ConsentChange,
    Conversation,
    FireTimer,
    Inbound,
    Lane,
    RunAction,
    SendSms,
    SetTimer,
    Step,
)
from bot.rules import Rules
from bot.texts import default_text, pick, render

CONSENT_SYNC = "consent_sync"
Effects = list[SendSms | RunAction | SetTimer | FireTimer]  # as `Step.effects` holds them


def join_words(spec: FlowSpec) -> Mapping[str, str]:
    """`{join_en}` and `{join_es}`: the first trigger keyword of each language (either
    language falls back to the other, so a one-language flow still renders). Every step
    renders with them, so they are worked out once per loaded flow (a reload loads new
    specs; the cache keeps the last few)."""
    cached = _JOIN_WORDS.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    words = spec.keywords_by_language()
    first = {lang: ws[0] for lang, ws in words.items() if ws}
    fallback = next(iter(first.values()), "JOIN")
    found = MappingProxyType({"join_en": first.get("en", fallback),
                              "join_es": first.get("es", fallback)})
    if len(_JOIN_WORDS) >= 64:
        _JOIN_WORDS.clear()
    _JOIN_WORDS[id(spec)] = (spec, found)
    return found


_JOIN_WORDS: dict[int, tuple[FlowSpec, Mapping[str, str]]] = {}


def values(flows: FlowSet, rules: Rules) -> dict[str, object]:
    """What every compliance text may name."""
    return {"program": rules.program, "help_contact": rules.help_contact or "",
            **join_words(flows.flows[flows.default].spec)}


def compliance_text(flows: FlowSet, conv: Conversation, kind: str, rules: Rules) -> str:
    """A flow's own wording of a compliance answer, else the built-in one."""
    flow = flows.flows.get(conv.flow or flows.default) or flows.flows[flows.default]
    custom = pick(getattr(flow.spec.compliance, kind, None), conv.lang, flow.spec.languages[0])
    if custom:
        return custom
    if kind == "help" and not rules.help_contact:
        kind = "help_no_contact"
    return default_text(kind, conv.lang)


def answer_check(flows: FlowSet, conv: Conversation) -> AnswerCheck | bool:
    """Whether a text is the reply the conversation waits for: one the state accepts (for
    free text, one that reads as a street), or one quoting what the bot offered (a campaign
    name from a menu). Only asked for a sentence opening with a per-se word."""
    state = _current_state(flows, conv)
    replies = state.on if state else []
    if not replies:
        return False

    def is_answer(body: str) -> bool:
        if quotes(body, conv.vars.values()):
            return True
        for reply_ in replies:
            when = reply_.when
            if isinstance(when, VarMatch):
                continue  # a test of stored values, not of the reply
            if when in ("text", "any"):
                if looks_like_street(body):
                    return True
            elif compile_match(when)(body) is not None:
                return True
        return False

    return is_answer


def optin_pending(flows: FlowSet, conv: Conversation) -> bool:
    """The conversation waits in a state whose replies include the opt-in (YES)."""
    state = _current_state(flows, conv)
    return state is not None and any(t.opt_in for t in state.on)


def _current_state(flows: FlowSet, conv: Conversation) -> StateSpec | None:
    """The state the conversation is in; None when none (or a reload removed it)."""
    flow = flows.flows.get(conv.flow or "")
    if flow is None or conv.state is None or conv.state not in flow.spec.states:
        return None
    return flow.state(conv.state)


URGENT_KINDS = ("help", "start", "stop")
"""Answers that go in the first lane of the carrier pace (`bot.pace`), with the codes."""


def reply(flows: FlowSet, conv: Conversation, kind: str, ids: IdFactory, rules: Rules,
          note: str, *, asked_while_out: bool = False) -> Step:
    """Answer with one compliance text (none of ours when the provider answers keywords)."""
    effects: Effects = []
    provider_answers = rules.provider_handles_keywords and kind in ("help", "start", "welcome")
    if not provider_answers:
        body = render(compliance_text(flows, conv, kind, rules), values(flows, rules))
        lane = Lane.URGENT if kind in URGENT_KINDS else Lane.REPLY
        effects.append(SendSms(id=ids.new_id(), phone=conv.phone, body=body,
                               asked_while_out=asked_while_out, lane=lane))
    return Step(conversation=conv, effects=effects, note=note)


def opt_out(flows: FlowSet, conv: Conversation, event: Inbound | CarrierOptOut, now: float,
            ids: IdFactory, rules: Rules, *, confirm: bool = True) -> Step:
    """Opt the phone out at once; confirm once unless the provider or carrier did it (or
    `confirm` is false: a number outside SMS_COUNTRIES already had its one answer)."""
    by_carrier = isinstance(event, CarrierOptOut)
    conv.opted_out, conv.flow, conv.state, conv.pending = True, None, None, None
    conv.optout_by = "carrier" if by_carrier else (
        "provider" if rules.provider_handles_keywords else None)
    conv.token += 1
    conv.attempts = 0
    effects: Effects = []
    if conv.optout_by is None and confirm:
        body = render(compliance_text(flows, conv, "stop", rules), values(flows, rules))
        effects.append(SendSms(id=ids.new_id(), phone=conv.phone, body=body,
                               stop_confirmation=True, lane=Lane.URGENT))
    if rules.consent_sync:
        effects.append(RunAction(id=ids.new_id(), phone=conv.phone, action=CONSENT_SYNC,
                                 params={"opted_in": False}))
    keyword = "CARRIER-OPTOUT" if by_carrier else "STOP"
    return Step(conversation=conv, effects=effects, note="stop",
                consent=[consent(event, now, keyword, opted_out=True)])


def opt_in(flows: FlowSet, conv: Conversation, event: Inbound, now: float, ids: IdFactory,
           rules: Rules) -> Step:
    """START (or YES) after an opt-out: subscribed again, confirmed, pushed upstream."""
    silent = conv.optout_by is not None  # the provider's own START answers the voter
    conv.opted_out, conv.optout_by = False, None
    if silent:
        step = Step(conversation=conv, note="start")
    else:
        step = reply(flows, conv, "start", ids, rules, note="start")
    step.effects.extend(sync_opt_in(conv, ids, rules))
    step.consent.append(consent(event, now, event_keyword(event), opted_out=False))
    return step


def sync_opt_in(conv: Conversation, ids: IdFactory, rules: Rules) -> Effects:
    """The upstream push of a renewed opt-in (nothing when consent sync is off)."""
    if not rules.consent_sync:
        return []
    return [RunAction(id=ids.new_id(), phone=conv.phone, action=CONSENT_SYNC,
                      params={"opted_in": True})]


def event_keyword(event: Inbound) -> str:
    """The consent log's short form of what the voter texted."""
    return normalise(event.body)[:20]


def consent(event: Inbound | CarrierOptOut, now: float, keyword: str, *,
            opted_out: bool, prompt: str = "") -> ConsentChange:
    """One consent-log line for this event (`prompt`: the opt-in text's reference)."""
    text = event.body if isinstance(event, Inbound) else ""
    return ConsentChange(at=now, phone=event.phone, keyword=keyword, text=text[:320],
                         message_id=event.message_id, provider=event.provider,
                         opted_out=opted_out, prompt=prompt)
