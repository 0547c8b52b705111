"""What every action is: a name, a params model, and one async `run` that calls upstream.

Actions stay thin: validate params, call one client method, translate the answer into an
`Outcome`. They never touch the store; the worker feeds the outcome back to the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from bot.config import Settings


class ActionRetry(Exception):
    """A passing failure (upstream down, rate limited): the worker tries again later."""


@dataclass(frozen=True)
class Outcome:
    """An action's result: `ok` with data for the flow, or a failure `reason`."""

    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


async def _no_send(body: str) -> object:
    raise RuntimeError("this action context cannot send texts")


@dataclass(frozen=True)
class ActionContext:
    """What an action may use: the phone, the idempotency key, the time, settings, the
    upstream clients, and `send_sms` (through the opt-out guard) for codes the bot makes."""

    phone: str
    idempotency_key: str
    settings: Settings
    upstreams: Any  # bot.upstream.Upstreams; typed loosely to keep actions importable alone
    now: float = 0.0
    lang: str = "en"
    send_sms: Callable[[str], Awaitable[object]] = _no_send


class Action(Protocol):
    """One named action. `replies` says whether the engine waits for its result."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    replies: ClassVar[bool]

    async def run(self, params: BaseModel, ctx: ActionContext) -> Outcome: ...


class Registry:
    """The closed set of actions a flow may name; registering a name twice is an error."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is registered twice")
        self._actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def params_models(self) -> dict[str, type[BaseModel] | None]:
        """Names and params models, for the flow loader's checks."""
        return {name: action.Params for name, action in self._actions.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._actions
