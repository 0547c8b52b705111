"""What every action is: a name, a params model, and one async `run` that calls upstream.

Actions stay thin: take their typed params, call one client method, translate the answer
into an `ActionOutcome`. They never touch the store (the worker feeds the outcome back to
the engine) and never turn a passing upstream failure into a retry: `UpstreamUnavailable`
propagates, and the worker alone decides to try again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from bot.sms import Refused
from bot.upstream import Upstreams

P = TypeVar("P", bound=BaseModel)


class ActionRetry(Exception):
    """A passing failure only the action can see (e.g. an unclear call that the lookup
    shows never started): the worker tries again later, bounded."""


@dataclass(frozen=True)
class ActionOutcome:
    """An action's result: `ok` with data for the flow, or a failure `reason`."""

    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


#: The reason (or success tag) of an action whose upstream call ended unclearly: it may or
#: may not have taken effect. The flow tells the voter so; the worker also dead-letters the
#: effect marked unknown, so every unclear give-up is in `python -m bot dead list`.
UNCLEAR = "unclear"

SendText = Callable[[str], Awaitable[Refused | str]]
"""Sends one text to the context's phone through the opt-out guard: the provider's message
id, or why the guard refused it."""


async def _no_send(body: str) -> Refused | str:
    raise RuntimeError("this action context cannot send texts")


@dataclass(frozen=True)
class ActionContext:
    """What an action may use: the phone, the idempotency key, the time, the upstream
    clients, and `send_sms` (through the opt-out guard) for codes the bot makes. Settings
    are not here: each action is built with the few it needs."""

    phone: str
    idempotency_key: str
    upstreams: Upstreams
    now: float = 0.0
    lang: str = "en"
    send_sms: SendText = _no_send


BoundAction = Callable[[ActionContext], Awaitable[ActionOutcome]]
"""An action with its params validated: run it (again, on a retry) with a context."""


class Action(ABC, Generic[P]):
    """One named action over its params model `P`. `replies`: the engine waits for it."""

    name: ClassVar[str]
    replies: ClassVar[bool] = True
    Params: type[P]

    def bind(self, raw: Mapping[str, object]) -> BoundAction:
        """Validate the flow's params; pydantic's `ValidationError` when they do not fit
        (the only error that means "invalid params")."""
        params = self.Params.model_validate(raw)
        return partial(self.run, params)

    @abstractmethod
    async def run(self, params: P, ctx: ActionContext) -> ActionOutcome:
        """Do the action once; raise `UpstreamUnavailable` or `ActionRetry` to be retried."""


class Registry:
    """The closed set of actions a flow may name; registering a name twice is an error."""

    def __init__(self) -> None:
        self._actions: dict[str, Action[Any]] = {}

    def register(self, action: Action[Any]) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is registered twice")
        self._actions[action.name] = action

    def get(self, name: str) -> Action[Any] | None:
        return self._actions.get(name)

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._actions)

    def params_models(self) -> dict[str, type[BaseModel] | None]:
        """Names and params models, for the flow loader's checks."""
        return {name: action.Params for name, action in self._actions.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._actions
