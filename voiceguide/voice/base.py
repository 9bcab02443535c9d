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


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None = None
    engine: str = ""


class Engine(ABC):
    """A text-to-speech backend. One call synthesises many texts so backends can batch or parallelise."""

    name: str = ""

    @abstractmethod
    def version(self) -> str:
        """Identifies the engine build; part of the clip cache key, so it must be cheap (no synthesis)."""

    def voice_identity(self, options: VoiceOptions) -> str | None:
        """What the clip cache must know about the voice beyond its name (e.g. which model file it resolves
        to), so another model under the same name never reuses clips. Cheap; None when the name says it all.
        May raise a UsageError for a voice that cannot be used at all (a missing model file)."""
        return None

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

