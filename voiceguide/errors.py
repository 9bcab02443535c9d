"""One root exception; the CLI turns each kind into a message and an exit code (2: bad input, 1: a failure)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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
    """The text-to-speech engine could not be started, failed on an utterance or timed out."""


class UnknownVoiceError(EngineError):
    """The engine has no voice by the name the routine or --voice asked for: bad input, not a failure."""

    exit_code = 2


class AudioError(VoiceguideError):
    """An audio file (music) could not be read or written."""


class AudioInputError(AudioError):
    """A music file the user named is missing, unreadable, empty, too short or not audio: bad input."""

    exit_code = 2


class OutputError(VoiceguideError):
    """An output file could not be written (no space left, read-only or failing disk); the previous file is kept."""


class ParameterError(UsageError):
    """A request's parameter (`parameter`: "pace", "length_s", "output", "cues"...) is refused; front ends may
    name it in their own words (the command line's --pace, --length, -o)."""

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


class Cancelled(VoiceguideError):
    """The caller cancelled the work (a Cancel token was set); nothing was written."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """The hint every "unknown ..." message ends with: " (did you mean 'hold'?)", or "" when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
