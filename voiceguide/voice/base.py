"""The engine interface every text-to-speech backend implements, and the options it takes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


DEFAULT_RATE_WPM = 150
DEFAULT_VOLUME = 1.0


@dataclass(frozen=True)
class VoiceOptions:
    voice: str | None = None
    rate_wpm: int = DEFAULT_RATE_WPM
    volume: float = DEFAULT_VOLUME
    language: str = "en"
    pitch: int | None = None  # engine scale 0-100 (espeak: 50 is normal); None leaves the engine default
    preset: str = "plain"  # post-processing of each clip: plain or soft
    # The routine's `pronounce:` (word, respelling) pairs: every caller that voices a routine applies them.
    pronounce: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None = None
    engine: str = ""
    # How strongly the voice claims each of `languages` (lower is stronger; espeak ranks them so). Empty when
    # the engine does not say: then a voice's first language counts before its later ones.
    priorities: tuple[int, ...] = ()


class Engine(ABC):
    """A text-to-speech backend. One call synthesises many texts so backends can batch or parallelise."""

    name: str = ""

    @abstractmethod
    def version(self) -> str:
        """Identifies the engine build; part of the clip cache key, so it must be cheap (no synthesis)."""

    def voice_identity(self, options: VoiceOptions) -> str | None:
        """The voice these options really speak with, for the clip cache key: the engine's own id for what the
        user typed (an id, name or language tag; or the routine's language when no voice is given), and
        whatever else tells voices apart (e.g. which model file it is), so that two spellings of one voice
        share clips and two voices never do. Cheap (no synthesis). May raise a UsageError for a voice that
        cannot be used at all (unknown, or a missing model file). The default trusts the name as given."""
        return options.voice

    @abstractmethod
    def synthesize(
        self,
        texts: list[str],
        options: VoiceOptions,
        out_dir: Path,
        on_clip: Callable[[str, Path], None],
    ) -> None:
        """Write one WAV per text into out_dir and call on_clip(text, path) as each one is ready."""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        ...

    def close(self) -> None:
        """Release worker processes or other resources."""

