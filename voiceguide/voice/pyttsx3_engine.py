"""The pyttsx3 engine: a small pool of long-lived spawned workers (voice.workers), each with its own engine."""

from __future__ import annotations

import sys
import threading
import time
import warnings

from ..errors import EngineError, UnknownVoiceError
from . import espeak_setup
from .base import VoiceInfo, VoiceOptions
from .protocol import Gone, ListVoices, Pyttsx3Job, Voices
from .resolve import close_matches, normal, resolve_language, resolve_voice
from .workers import Worker, WorkerPoolEngine

# How a worker is started: a fresh interpreter running pyttsx3_worker. A seam for tests, which put a worker
# that hangs, crashes or writes broken clips here.
WORKER_COMMAND = [sys.executable, "-m", "voiceguide.voice.pyttsx3_worker"]
START_TIMEOUT_S = 60.0
VOICES_TIMEOUT_S = 30.0
# See WorkerPoolEngine.reply_grace_s.
REPLY_GRACE_S = 5.0


# espeak-ng speaks faster than the rate it is given. Measured over five paragraphs of sculpt (speech only,
# leading and trailing silence left out), rates 80 to 260 were heard at 1.2013 x rate - 3.37 words a minute
# (within 3.6 % at every rate; 150 was heard as 177), so the engine is asked for the rate that is heard as
# `rate_wpm`. espeak's own floor is 80 (heard as 93): slower requests are spoken at that.
ESPEAK_HEARD_PER_RATE = 1.2013
ESPEAK_HEARD_OFFSET_WPM = -3.37
ESPEAK_MIN_RATE = 80
# Part of the engine's version, so clips spoken before the calibration (or with another) are never reused.
RATE_CALIBRATION = "heard-wpm-1"


def espeak_rate(rate_wpm: int) -> int:
    """The rate to give espeak so that `rate_wpm` words a minute are heard."""
    return max(ESPEAK_MIN_RATE, round((rate_wpm - ESPEAK_HEARD_OFFSET_WPM) / ESPEAK_HEARD_PER_RATE))


def _timeout_s(text: str) -> float:
    return 20.0 + len(text) / 20.0


class Pyttsx3Engine(WorkerPoolEngine):
    name = "pyttsx3"

    def __init__(self, workers: int | None = None):
        super().__init__(workers)
        self._voice_list: list[VoiceInfo] | None = None
        self._voices_lock = threading.Lock()
        self._resolved: dict[tuple[str | None, str], str | None] = {}

    def version(self) -> str:
        try:
            from importlib import metadata

            pyttsx3_version = metadata.version("pyttsx3")
        except Exception:  # noqa: BLE001
            pyttsx3_version = "?"
        calibration = f"/{RATE_CALIBRATION}" if _is_espeak() else ""
        return f"pyttsx3-{pyttsx3_version}/{espeak_setup.library_identity()}{calibration}"

    # The module-level seams are read at call time, so tests can swap them.
    def worker_command(self) -> list[str]:
        return list(WORKER_COMMAND)

    def start_timeout_s(self) -> float:
        return START_TIMEOUT_S

    def reply_grace_s(self) -> float:
        return REPLY_GRACE_S

    def job_timeout_s(self, text: str) -> float:
        return _timeout_s(text)

    def install_hint(self) -> str:
        return espeak_setup.install_hint()

    def job_message(self, job: int, text: str, options: VoiceOptions, path: str, timeout_s: float) -> Pyttsx3Job:
        # SAPI5 and macOS take words a minute as they are heard; espeak needs its calibrated rate.
        rate = espeak_rate(options.rate_wpm) if _is_espeak() else options.rate_wpm
        return Pyttsx3Job(job, text, path, timeout_s, self.resolved_voice(options), rate, options.volume, options.pitch)

    def refused(self, worker: Worker, options: VoiceOptions, detail: str) -> Exception:
        return self._unknown_voice(options.voice or self.resolved_voice(options), detail)

    def voices(self) -> list[VoiceInfo]:
        """The engine's voices, asked of a worker once per engine and kept (a render asks for them anyway)."""
        with self._voices_lock:
            if self._voice_list is None:
                self._voice_list = self._voices_of(self._start(1)[0])
            return list(self._voice_list)

    def voice_identity(self, options: VoiceOptions) -> str | None:
        return self.resolved_voice(options)

    def resolved_voice(self, options: VoiceOptions) -> str | None:
        """The engine's id for options.voice (an id, name or language tag, see voice.resolve), else for the
        routine's language. None means the system's default voice (only where the engine reports no voice
        for the language and is not espeak). An unknown voice is a UsageError; an unknown language a warning."""
        key = (options.voice, options.language)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(options.voice, options.language)
        return self._resolved[key]

    def _resolve(self, voice: str | None, language: str) -> str | None:
        voices = self.voices()
        if voice:
            found = resolve_voice(voice, voices)
            if found is not None:
                return found.id
            base, plus, variant = voice.partition("+")  # espeak's VOICE+VARIANT: en-us+f3
            found = resolve_voice(base, voices) if plus and variant else None
            if found is not None:
                return f"{found.id}+{variant}"
            raise self._unknown_voice(voice, None)
        if not _is_espeak() and normal(language).split("-")[0] == DEFAULT_LANGUAGE:
            # SAPI5 and macOS list novelty voices among the English ones; the user's own default voice is the
            # right one for an English routine, as it always was.
            return None
        found = resolve_language(_default_language(language), voices)
        if found is not None:
            return found.id
        # Not silently English: say so, then speak with the default voice (espeak's en-us; elsewhere the
        # system's own default, which for an English routine is what was wanted anyway).
        fallback = resolve_language(_default_language(DEFAULT_LANGUAGE), voices) if _is_espeak() else None
        if fallback is not None or normal(language).split("-")[0] != DEFAULT_LANGUAGE:
            _warn_once(
                f"no {self.name} voice speaks the language '{language}' (see 'voiceguide voices'); speaking "
                f"with the default voice {fallback.id if fallback else '(the system default)'}: correct the "
                "routine's 'language:', or choose a voice with 'voice:' or --voice"
            )
        return fallback.id if fallback is not None else None

    def _voices_of(self, worker: Worker) -> list[VoiceInfo]:
        worker.send(ListVoices())
        deadline = time.monotonic() + VOICES_TIMEOUT_S
        while True:
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                raise EngineError(f"the text-to-speech engine did not list its voices within {VOICES_TIMEOUT_S:.0f} s")
            if item[0] is worker and isinstance(item[1], Voices):
                found = []
                for entry in item[1].voices:
                    voice_id, name, languages, gender, *rest = entry
                    priorities = tuple(rest[0]) if rest and len(rest[0]) == len(languages) else ()
                    found.append(VoiceInfo(id=voice_id, name=name, languages=tuple(languages), gender=gender, engine=self.name, priorities=priorities))
                return found
            if item[0] is worker and isinstance(item[1], Gone):
                raise EngineError("the text-to-speech engine exited while listing voices")

    def _unknown_voice(self, voice: str | None, detail: str | None) -> EngineError:
        """The error for a voice that is not installed (with close matches), or that the engine refused."""
        try:
            voices = self.voices()
        except EngineError:
            voices = []
        if detail is not None and voices and resolve_voice(voice or "", voices) is not None:
            return EngineError(f"the text-to-speech engine refused the voice settings: {detail}")
        close = close_matches(voice or "", voices)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return UnknownVoiceError(
            f"unknown voice {voice!r}{hint}: run 'voiceguide voices' to list the installed voices, "
            "then use --voice or the routine's 'voice:'"
        )


DEFAULT_LANGUAGE = "en"
# Languages already warned about in this process (a batch renders one routine several times).
_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=4)


def _is_espeak() -> bool:
    return sys.platform.startswith("linux") or sys.platform.startswith("freebsd")


def _default_language(language: str) -> str:
    """The tag whose voice speaks a routine in `language` when no voice is given."""
    # espeak's plain "en" is British; most users of English routines expect the US voice by default.
    if _is_espeak() and normal(language) == "en":
        return "en-us"
    return language
