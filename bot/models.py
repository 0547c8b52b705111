"""Messages of the core: the inbound text, the stored conversation, events in, effects out.

Events and effects are frozen pydantic models in discriminated unions on `type`, so they
cross Redis as small JSON and come back as the same typed objects.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

JsonScalar = str | int | float | bool | None


class Frozen(BaseModel):
    """Base of every immutable message."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- events: what the engine reacts to -------------------------------------------------


class Inbound(Frozen):
    """One text from a phone, as any provider's webhook hands it over."""

    type: Literal["text"] = "text"
    provider: str
    message_id: str
    phone: str  # E.164
    to: str = ""
    body: str
    received_at: float


class ActionResult(Frozen):
    """The outcome of a named action the engine asked for."""

    type: Literal["action_result"] = "action_result"
    effect_id: str
    phone: str
    action: str
    ok: bool
    data: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


class TimerFired(Frozen):
    """A timer the engine set has come due; `token` tells a stale timer from a live one."""

    type: Literal["timer"] = "timer"
    timer_id: str
    phone: str
    name: str
    token: int


class CarrierOptOut(Frozen):
    """The provider told us the phone is opted out at the carrier (Twilio 21610)."""

    type: Literal["carrier_optout"] = "carrier_optout"
    phone: str
    message_id: str
    provider: str


class BroadcastStart(Frozen):
    """A broadcast reaches this phone: start `flow` (at `state`, else its start state)."""

    type: Literal["broadcast"] = "broadcast"
    phone: str
    broadcast_id: str
    flow: str
    state: str | None = None


Event = Annotated[Inbound | ActionResult | TimerFired | CarrierOptOut | BroadcastStart,
                  Field(discriminator="type")]


# --- effects: what the worker does after the commit ------------------------------------


class Lane(IntEnum):
    """Which texts go first when the carrier's rate is the limit (lower goes first): a
    voter's code must not wait behind thousands of replies, nor a reply behind an alert."""

    URGENT = 0  # verification codes, STOP/HELP/START answers
    REPLY = 1  # conversation replies
    REMINDER = 2  # texts a timer caused
    BULK = 3  # broadcasts


class SendSms(Frozen):
    """Send one text. `stop_confirmation` is the single message allowed after an opt-out;
    `asked_while_out` marks an answer an opted-out phone asked for itself (HELP, or the
    opt-in question after a flow keyword), which the send guard lets through too."""

    type: Literal["send_sms"] = "send_sms"
    id: str
    phone: str
    body: str
    stop_confirmation: bool = False
    asked_while_out: bool = False
    lane: Lane = Lane.REPLY


class RunAction(Frozen):
    """Call a named action from the registry; its result comes back as an `ActionResult`."""

    type: Literal["action"] = "action"
    id: str
    phone: str
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    lang: str = "en"


class SetTimer(Frozen):
    """Fire a `TimerFired` event at `due` (epoch seconds)."""

    type: Literal["set_timer"] = "set_timer"
    id: str
    phone: str
    name: str
    due: float
    token: int


class FireTimer(Frozen):
    """A due timer moved into the outbox; the worker turns it into a `TimerFired` event."""

    type: Literal["fire_timer"] = "fire_timer"
    id: str
    phone: str
    name: str
    token: int


Effect = Annotated[SendSms | RunAction | SetTimer | FireTimer, Field(discriminator="type")]
EFFECTS: TypeAdapter[list[Effect]] = TypeAdapter(list[Effect])
EVENT: TypeAdapter[Event] = TypeAdapter(Event)


# --- state ------------------------------------------------------------------------------


class Conversation(BaseModel):
    """Everything the bot remembers about one phone: kept small (< 1 KiB) and versioned."""

    model_config = ConfigDict(extra="ignore")

    phone: str
    version: int = 0
    flow: str | None = None
    state: str | None = None
    lang: str = "en"
    vars: dict[str, JsonScalar] = Field(default_factory=dict)
    attempts: int = 0
    token: int = 0  # bumped on every state entry; stale timers and action results are dropped
    pending: str | None = None  # effect id of the action the current state waits for
    opted_out: bool = False
    optout_by: str | None = None  # "provider" or "carrier": silent until their START/YES
    texts_in: int = 0
    updated_at: float = 0.0
    # Flood guard (see `bot.engine`): the current minute's start, texts and answers in it,
    # and whether the phone is texting faster than a person can.
    rate_t0: float = 0.0
    rate_in: int = 0
    rate_out: int = 0
    flooding: bool = False
    auto: int = 0  # states entered since the voter's last text (bot/safety.py)
    acts: int = 0  # actions called since `acts_at`, in a window of an hour
    acts_at: float = 0.0
    reached: str = ""  # what the funnel has counted for this phone (bot/reached.py)

    def for_step(self, now: float) -> Conversation:
        """The copy one engine step works on (its own `vars`, `updated_at` now): what
        `model_copy(update=...)` gives, at half its cost (a copy per step). A conversation
        has no extra fields (`extra="ignore"`) and no private attributes to carry over."""
        copied = Conversation.__new__(Conversation)
        fields = self.__dict__.copy()
        fields["vars"] = dict(self.vars)
        fields["updated_at"] = now
        _set_attribute(copied, "__dict__", fields)
        _set_attribute(copied, "__pydantic_fields_set__",
                       self.__pydantic_fields_set__ | _STEP_UPDATES)
        _set_attribute(copied, "__pydantic_extra__", None)
        _set_attribute(copied, "__pydantic_private__", None)
        return copied

    if not TYPE_CHECKING:  # (for mypy: assignments stay checked against the fields)

        def __setattr__(self, name: str, value: Any) -> None:
            """A field written as pydantic writes it (no assignment validation here), in
            one call instead of two: a step writes a dozen fields or more."""
            if name in _CONVERSATION_FIELDS:
                self.__dict__[name] = value
                self.__pydantic_fields_set__.add(name)
            else:
                super().__setattr__(name, value)


_CONVERSATION_FIELDS = frozenset(Conversation.model_fields)
_STEP_UPDATES = frozenset({"vars", "updated_at"})
_set_attribute = object.__setattr__


@functools.lru_cache(maxsize=256)  # the same few opt-in texts, on every opt-in
def disclosure_id(text: str) -> str:
    """A short, stable name for an opt-in text (what a consent line stores): 12 hex digits
    (a text always has a space, so a reference is never mistaken for one)."""
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


class ConsentChange(Frozen):
    """One line of the append-only consent log.

    A line lives as long as the log, one per change of every phone, so it is stored with
    short keys (`model_dump_json(by_alias=True, exclude_defaults=True)`, see
    `bot.store.consent`); lines read back by either name, so lines written with the long
    names (before) read the same."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True)

    at: float
    phone: str = Field(alias="ph")
    keyword: str = Field(alias="k")
    text: str = Field(alias="x")
    message_id: str = Field(alias="m")
    provider: str = Field(alias="pv")
    #: A stored line without it is not an opt-out (defaults are left out).
    opted_out: bool = Field(False, alias="o")
    #: The opt-in text the voter answered (the disclosure they agreed to), by reference: the
    #: digest `disclosure_id` gives it; the text itself is kept once per shard, not per line.
    prompt: str = Field("", alias="pr")


@dataclass(frozen=True, slots=True)
class Firsts:
    """Which of a step's funnel marks the phone reaches for the first time today, and ever:
    `@opted_in`/`@opted_out` (per phone), `f:<state>` (in the step's flow), `c:<state>`
    (in its campaign). See `bot.reached`. (A plain dataclass: made on every step.)"""

    today: frozenset[str] = frozenset()
    ever: frozenset[str] = frozenset()


@dataclass(slots=True, kw_only=True)
class Step:
    """What one engine step decided: the new conversation and what must happen next.

    A plain dataclass, like `Firsts`: one is made on every step, from values the engine
    made itself (the validation of a pydantic model cost more than the rest of a step's
    bookkeeping); nothing from outside is ever read into one."""

    conversation: Conversation
    effects: list[SendSms | RunAction | SetTimer | FireTimer] = field(default_factory=list)
    consent: list[ConsentChange] = field(default_factory=list)
    note: str = ""  # why, for the log line: "flow", "stop", "help", "ignored", ...
    flow: str | None = None  # the flow the step ran in
    entered: list[str] = field(default_factory=list)  # its states entered, in order
    disclosures: dict[str, str] = field(default_factory=dict)  # prompt id -> the text
    #: What the funnel counts (set by the engine, `bot.reached`); None: a step made outside
    #: the engine, with no record to check, counts every mark.
    firsts: Firsts | None = None
