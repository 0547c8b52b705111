"""The one error a broken flow raises: which file, which line, and why."""

from __future__ import annotations

from pathlib import Path


class FlowError(Exception):
    """A flow file that cannot be used. `str()` reads `flows/join.yaml:12: reason`."""

    def __init__(self, file: Path | str, line: int | None, reason: str) -> None:
        self.file = str(file)
        self.line = line
        self.reason = reason
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {reason}")
