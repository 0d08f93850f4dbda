"""The scenario package's exception tree."""

from __future__ import annotations

from dataclasses import dataclass

from drydock.emulator.errors import DrydockError

__all__ = [
    "ScenarioError",
    "ScenarioFileError",
    "ScenarioProblem",
    "UnknownScenario",
    "WorkloadGaveUp",
    "ReplayMismatch",
]


class ScenarioError(DrydockError):
    """Base of the errors this package raises on purpose."""


@dataclass(frozen=True)
class ScenarioProblem:
    """One problem in a scenario file: where (file, line, dotted path) and what."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


class ScenarioFileError(ScenarioError):
    """A scenario file that cannot be used: bad YAML, unknown keys, wrong types, unknown fault
    kinds, negative times, unknown shapes or base models. `problems` lists each one with its line."""

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownScenario(ScenarioError):
    """Neither a built-in scenario name nor a readable file."""


class WorkloadGaveUp(ScenarioError):
    """A client program stopped trying (e.g. too many reconnects); a normal, reported outcome."""


class ReplayMismatch(ScenarioError):
    """A replayed run's event log differs from the recorded one."""
