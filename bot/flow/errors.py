"""What is wrong with a flow: every problem of every file, each with its file, line and a hint.

The check collects `Issue`s instead of stopping at the first, so staff fix a file in one
pass; `FlowError` carries all the errors (its `file`, `line` and `reason` are the first's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Issue:
    """One problem: `file:line: message`, then how to fix it. Warnings do not stop a flow."""

    file: str
    line: int | None
    message: str
    hint: str = ""
    warning: bool = False

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def render(self) -> str:
        """`file:line: message` (and `warning:` for a warning), the hint on the next line."""
        kind = "warning: " if self.warning else ""
        text = f"{self.where()}: {kind}{self.message}"
        return f"{text}\n    fix: {self.hint}" if self.hint else text


class FlowError(Exception):
    """Flows that cannot be used. `str()` lists every error, one `file:line: reason` each."""

    def __init__(self, file: Path | str, line: int | None, reason: str, *,
                 hint: str = "", issues: list[Issue] | None = None) -> None:
        self.issues = issues or [Issue(str(file), line, reason, hint)]
        first = self.issues[0]
        self.file = first.file
        self.line = first.line
        self.reason = first.message
        super().__init__("\n".join(issue.render() for issue in self.issues))

    @classmethod
    def from_issues(cls, issues: list[Issue]) -> FlowError:
        """One error for many problems (at least one)."""
        first = issues[0]
        return cls(first.file, first.line, first.message, hint=first.hint, issues=issues)
