"""The flow format campaign staff write, as pydantic models (unknown keys are refused).

A flow names its trigger keywords, its states, what each state says (one text, or one per
language), the replies it expects and where each leads, the action a state calls and where
its success and failure lead, a re-prompt with a bound on attempts, and a timeout.
`flows/README.md` explains the format with examples.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
Text = str | dict[str, str]
"""A message: one text for every language, or a mapping `language -> text`."""

#: Reply matchers a transition's `when:` may name. See `bot/flow/predicates.py`.
BuiltinMatch = Literal["yes", "no", "zip", "code", "number", "choice", "text", "any"]


class Strict(BaseModel):
    """Base of every flow model: frozen, and unknown keys are an error with a line number."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KeywordMatch(Strict):
    """`when: {keyword: [CALL, AGAIN]}`: the reply is one of these words (case ignored)."""

    keyword: list[str] = Field(min_length=1)


class ChoiceMatch(Strict):
    """`when: {choice: 2}`: the reply is this menu number."""

    choice: int = Field(ge=0, le=99)


Scalar = str | int | bool


class VarMatch(Strict):
    """`when: {var: campaign_id, equals: 1001}`: route on what is stored, not on the reply.

    Exactly one of `equals`, `in` or `exists`. Values compare as text, case ignored
    (`1001` equals `"1001"`, `true` equals `"True"`). `var: lang` is the conversation's
    language. In an `on:` list it takes any reply while the condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    var: Name = Field(description="The stored value to test (`lang`: the conversation's "
                      "language).")
    equals: Scalar | None = Field(None, description="Matches when the value is this.")
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1,
                                     description="Matches when the value is one of these.")
    exists: bool | None = Field(None, description="true: matches when the value is stored "
                                "and not empty; false: when it is not.")

    @model_validator(mode="after")
    def _exactly_one_test(self) -> VarMatch:
        given = [k for k, v in (("equals", self.equals), ("in", self.in_),
                                ("exists", self.exists)) if v is not None]
        if len(given) != 1:
            raise ValueError("a `when: {var: ...}` needs exactly one of equals, in or exists"
                             f" (it has {', '.join(given) or 'none'})")
        return self


ReplyMatch = BuiltinMatch | KeywordMatch | ChoiceMatch | VarMatch


class Transition(Strict):
    """One expected reply: first match wins, in the order written."""

    when: ReplyMatch
    goto: Name
    save: Name | None = None
    """Keep the normalised reply (the ZIP, the number, the code, the text) under this name."""
    set: dict[Name, str | int | bool] = Field(default_factory=dict)
    opt_in: bool = False
    """This reply is the voter's consent: it is written to the consent log."""


class ActionRef(Strict):
    """`action: {type: p2a_connect, params: {...}}`: a named action from the registry."""

    type: Name
    params: dict[str, Any] = Field(default_factory=dict)
    """Values may hold `{placeholders}`, filled from the conversation when the action runs."""
    save: Name | None = None
    """Keep the action's result data under `save_<key>` (else each key under its own name)."""


class Route(Strict):
    """Where an action's result leads: `when` is the result's tag (a failure reason, or a
    success tag such as `single`), or absent to catch every other result."""

    when: str | VarMatch | None = None
    goto: Name


FailureRoute = Route


class Timeout(Strict):
    """Leave the state when no reply comes within `after` seconds."""

    after: int = Field(gt=0, le=90 * 24 * 3600)
    goto: Name
    quiet_hours: bool = False
    """Never fire during the voter's quiet hours (local night): wait for the morning."""


class StateSpec(Strict):
    """One step of the conversation. It waits for a reply (`on`), for an action
    (`action` with `on_success`/`on_failure`), moves on at once (`goto`), or ends (`end`)."""

    say: Text | None = None
    on: list[Transition] = Field(default_factory=list)
    action: ActionRef | None = None
    on_success: Name | list[Route] | None = None
    on_failure: Name | list[Route] | None = None
    goto: Name | None = None
    end: bool = False
    reprompt: Text | None = None
    max_attempts: int = Field(3, ge=1, le=20)
    on_max_attempts: Name | None = None
    timeout: Timeout | None = None
    forget: list[str] = Field(default_factory=list)
    """On entering the state, drop every stored value whose name starts with one of these
    (a conversation must stay under 1 KiB: forget what the rest of the flow won't use)."""


class ComplianceSpec(Strict):
    """A flow's own wording for the compliance answers, and extra keywords."""

    help: Text | None = None
    stop: Text | None = None
    start: Text | None = None
    idle: Text | None = None
    stop_words: list[str] = Field(default_factory=list)
    help_words: list[str] = Field(default_factory=list)
    start_words: list[str] = Field(default_factory=list)


class FlowSpec(Strict):
    """A whole flow, as written in one YAML file."""

    name: Name
    description: str = ""
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=lambda: ["en"], min_length=1
    )
    keywords: dict[str, list[str]] | list[str]
    """Trigger words: a list (the first language), or `language -> words`."""
    start: Name
    states: dict[Name, StateSpec] = Field(min_length=1)
    compliance: ComplianceSpec = Field(default_factory=ComplianceSpec)

    @field_validator("keywords")
    @classmethod
    def _keywords_not_empty(
        cls, value: dict[str, list[str]] | list[str]
    ) -> dict[str, list[str]] | list[str]:
        words = value if isinstance(value, list) else [w for ws in value.values() for w in ws]
        if not words:
            raise ValueError("a flow needs at least one trigger keyword")
        return value

    def keywords_by_language(self) -> dict[str, list[str]]:
        """Trigger words per language (a plain list belongs to the first language)."""
        if isinstance(self.keywords, list):
            return {self.languages[0]: self.keywords}
        return self.keywords
