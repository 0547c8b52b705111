"""The seam between the engine and a compiled flow machine: the trigger names the engine
fires, and the one engine step (`TurnHooks`) the machine's callbacks read and record onto.

Both `bot.engine` and `bot.flow.compiler` import this module, and neither imports the
other's internals, so the compiler needs no import of the engine (not even for types).
"""

from __future__ import annotations

from typing import Protocol

from bot.flow.schema import StateSpec, Transition
from bot.models import Conversation

REPLY = "reply"  # a text arrived: try the state's `on:` list in order
SUCCEED = "succeed"  # the state's action succeeded
FAIL = "fail"  # the state's action failed
EXPIRE = "expire"  # the state's timer fired
ADVANCE = "advance"  # follow the state's automatic `goto`
GIVE_UP = "give_up"  # too many unmatched replies


class TurnHooks(Protocol):
    """One engine step, as the machine's conditions and callbacks see it. They only read the
    text and the action's reason and record onto the step: no I/O happens in the machine."""

    conv: Conversation
    text_in: str
    matched: str | None  # what the last `when:` matcher took from the text
    reason: str | None  # the action's failure reason, for `on_failure` routes

    def stored(self) -> dict[str, object]:
        """What `when: {var: ...}` reads: the stored values, and `lang`."""
        ...

    def enter(self, name: str, state: StateSpec) -> None:
        """The machine entered state `name`."""
        ...

    def on_reply_taken(self, transition: Transition) -> None:
        """A reply matched `transition`, before its target state is entered."""
        ...
