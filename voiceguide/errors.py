"""One root exception; the CLI turns each kind into a message and an exit code."""

from __future__ import annotations

from dataclasses import dataclass


class VoiceguideError(Exception):
    """Anything voiceguide reports to the user as a plain message (never a traceback)."""

    exit_code = 1


class UsageError(VoiceguideError):
    """The user asked for something that cannot be done as asked (bad option, existing output)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    line: int | None
    column: int | None
    message: str


class RoutineError(UsageError):
    """A routine file has one or more problems; each carries its line and column (1-based)."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = list(problems)
        super().__init__(self.format())

    def format(self) -> str:
        lines = []
        for p in self.problems:
            where = self.source
            if p.line is not None:
                where += f":{p.line}"
                if p.column is not None:
                    where += f":{p.column}"
            lines.append(f"{where}: {p.message}")
        return "\n".join(lines)


class EngineError(VoiceguideError):
    """The text-to-speech engine could not be started or failed on an utterance."""


class AudioError(VoiceguideError):
    """An audio file (music) could not be read or written."""
