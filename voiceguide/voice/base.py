"""The engine interface every text-to-speech backend implements, and the options it takes."""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UsageError

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


class VoiceNotFound(UsageError):
    """The requested voice matches no installed voice."""


def resolve_voice(requested: str, voices: list[VoiceInfo]) -> str:
    """An installed voice id for a voice id, an id's last part (en-us), a name or a language.

    Raises VoiceNotFound with the closest matches when nothing fits.
    """
    want = requested.strip().lower()
    by_id = {v.id.lower(): v.id for v in voices}
    if want in by_id:
        return by_id[want]
    for v in voices:
        if v.id.lower().rsplit("/", 1)[-1] == want or v.name.lower() == want:
            return v.id
    speaking = [v for v in voices if any(lang.lower() == want for lang in v.languages)]
    if not speaking:
        speaking = [v for v in voices if any(lang.lower().startswith(want + "-") for lang in v.languages)]
    if speaking:
        # Prefer the voice named after the language itself (en-us for en-us), then the US voice for "en".
        speaking.sort(key=lambda v: (v.id.lower().rsplit("/", 1)[-1] != want, "en-us" not in v.id.lower(), v.id))
        return speaking[0].id
    names = sorted({v.id.rsplit("/", 1)[-1] for v in voices} | {v.name for v in voices} | {lang for v in voices for lang in v.languages})
    close = difflib.get_close_matches(requested, names, n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise VoiceNotFound(f"no installed voice matches '{requested}'{hint} ('voiceguide voices' lists them all)")
