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

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class KeywordMatch(Strict):
    """`when: {keyword: [CALL, AGAIN]}`: the reply is one of these words (case ignored)."""

    keyword: list[str] = Field(min_length=1)
    """Words that match this reply (case, accents and punctuation ignored)."""


class ChoiceMatch(Strict):
    """`when: {choice: 2}`: the reply is this menu number."""

    choice: int = Field(ge=0, le=99)
    """The menu number that matches (`2`, `#2` and `2.` all do)."""


Scalar = str | int | bool


class VarMatch(Strict):
    """`when: {var: campaign_id, equals: 1001}`: route on what is stored, not on the reply.

    Exactly one of `equals`, `in` or `exists`. Values compare as text, case ignored
    (`1001` equals `"1001"`, `true` equals `"True"`). `var: lang` is the conversation's
    language. In an `on:` list it takes any reply while the condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              use_attribute_docstrings=True)

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
    """What reply this is: yes, no, zip, code, number, choice, text, any,
    `{keyword: [...]}`, `{choice: N}`, or `{var: NAME, equals: VALUE}` (any reply while a
    stored value matches)."""
    goto: Name
    """The state this reply leads to."""
    save: Name | None = None
    """Keep the normalised reply (the ZIP, the number, the code, the text) under this name."""
    set: dict[Name, str | int | bool] = Field(default_factory=dict)
    """Fixed values to store when this reply comes (`set: {target: ALL}`)."""
    opt_in: bool = False
    """This reply is the voter's consent: it is written to the consent log."""


class ActionRef(Strict):
    """`action: {type: p2a_call, params: {...}}`: a named action from the registry."""

    type: Name
    """Which action: see `python -m bot flows actions` (docs/actions.md)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Values may hold `{placeholders}`, filled from the conversation when the action runs."""
    save: Name | None = None
    """Keep the action's result data under `save_<key>` (else each key under its own name)."""


class Route(Strict):
    """Where an action's result leads: `when` is the result's tag (a failure reason, or a
    success tag such as `single`), or absent to catch every other result."""

    when: str | VarMatch | None = None
    """The result's tag or failure reason (e.g. `cooldown`), or `{var: NAME, equals: VALUE}`
    on what is stored once the result is saved; leave it out on the last route."""
    goto: Name
    """The state this result leads to."""


FailureRoute = Route


class Timeout(Strict):
    """Leave the state when no reply comes within `after` seconds."""

    after: int = Field(gt=0, le=90 * 24 * 3600)
    """Seconds without a reply (86400 is a day; at most 90 days)."""
    goto: Name
    """The state to go to then."""
    quiet_hours: bool = False
    """Never fire during the voter's quiet hours (local night): wait for the morning."""


class StateSpec(Strict):
    """One step of the conversation. It waits for a reply (`on`), for an action
    (`action` with `on_success`/`on_failure`), moves on at once (`goto`), or ends (`end`)."""

    say: Text | None = None
    """What the bot sends on entering the state: one text per language (`en: ...`)."""
    on: list[Transition] = Field(default_factory=list)
    """The replies this state waits for, first match wins."""
    action: ActionRef | None = None
    """The action this state calls; the state waits for its result."""
    on_success: Name | list[Route] | None = None
    """Where the action's success leads: a state, or routes by success tag."""
    on_failure: Name | list[Route] | None = None
    """Where the action's failure leads: a state, or routes by failure reason."""
    goto: Name | None = None
    """Move on to this state at once (after `say`)."""
    end: bool = False
    """The conversation ends here (after `say`)."""
    reprompt: Text | None = None
    """What to send after a reply no `when:` matches (default: sorry + what is expected +
    `say` again)."""
    max_attempts: int = Field(3, ge=1, le=20)
    """Unmatched replies before giving up (default 3)."""
    on_max_attempts: Name | None = None
    """Where to go after `max_attempts` unmatched replies (default: a goodbye, the end)."""
    timeout: Timeout | None = None
    """Leave the state when no reply comes in time."""
    forget: list[str] = Field(default_factory=list)
    """On entering the state, drop every stored value whose name starts with one of these
    (a conversation must stay under 1 KiB: forget what the rest of the flow won't use)."""


class ComplianceSpec(Strict):
    """A flow's own wording for the compliance answers, and extra keywords."""

    help: Text | None = None
    """The answer to HELP (must name the program, how to get help and how to stop)."""
    stop: Text | None = None
    """The one confirmation after STOP."""
    start: Text | None = None
    """The answer to START after an opt-out."""
    idle: Text | None = None
    """The answer to a text when no conversation is going on."""
    stop_words: list[str] = Field(default_factory=list)
    """Extra words that opt a voter out, besides STOP, CANCEL, PARAR..."""
    help_words: list[str] = Field(default_factory=list)
    """Extra words that ask for help, besides HELP, INFO, AYUDA."""
    start_words: list[str] = Field(default_factory=list)
    """Extra words that opt a voter back in, besides START, UNSTOP..."""


class FlowSpec(Strict):
    """A whole flow, as written in one YAML file."""

    name: Name
    """The flow's name: lowercase letters, digits and _ (unique across files)."""
    description: str = ""
    """What the flow is for, for the people who maintain it."""
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=lambda: ["en"], min_length=1
    )
    """Two-letter language codes; with more than one, every text has one per language."""
    keywords: dict[str, list[str]] | list[str]
    """Trigger words: a list (the first language), or `language -> words`."""
    start: Name
    """The first state."""
    states: dict[Name, StateSpec] = Field(min_length=1)
    """The states, by name."""
    compliance: ComplianceSpec = Field(default_factory=ComplianceSpec)
    """This flow's own wording for STOP, HELP, START and idle answers, and extra words."""

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
