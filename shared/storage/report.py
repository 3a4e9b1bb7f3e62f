"""What ``relay check`` reports, whatever the backend: problems found, and what a repair did."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the store, with the file and (for a line) the 1-based line number."""

    path: Path
    line: int | None
    kind: str
    detail: str
    offset: int = 0
    length: int = 0
    repairable: bool = True  # --repair fixes it by moving lines or the entry aside
    error: bool = True  # False for a note that does not make the check fail

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class CheckReport:
    """Everything one run of ``relay check`` found and did."""

    files: int = 0
    lines: int = 0
    problems: list[Problem] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    repaired: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def unrepaired(self) -> int:
        return len(self.errors) - self.repaired

    def summary(self, repair: bool) -> str:
        found = f"checked {self.files} channel file(s), {self.lines} line(s): {len(self.errors)} problem(s)"
        if notes := len(self.problems) - len(self.errors):
            found += f" and {notes} note(s)"
        if not repair:
            return found + (" (run `relay check --repair` to fix them)" if self.errors else "")
        return f"{found}, {self.repaired} repaired, {self.unrepaired} left"
