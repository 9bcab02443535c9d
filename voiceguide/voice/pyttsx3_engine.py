"""The pyttsx3 engine: a small pool of long-lived spawned workers (voice.workers), each with its own engine."""

from __future__ import annotations

import difflib
import sys
import time

from ..errors import EngineError, UnknownVoiceError
from . import espeak_setup
from .base import VoiceInfo, VoiceOptions
from .workers import Worker, WorkerPoolEngine

# How a worker is started: a fresh interpreter running pyttsx3_worker. A seam for tests, which put a worker
# that hangs, crashes or writes broken clips here.
WORKER_COMMAND = [sys.executable, "-m", "voiceguide.voice.pyttsx3_worker"]
START_TIMEOUT_S = 60.0
VOICES_TIMEOUT_S = 30.0
# See WorkerPoolEngine.reply_grace_s.
REPLY_GRACE_S = 5.0


def _timeout_s(text: str) -> float:
    return 20.0 + len(text) / 20.0


class Pyttsx3Engine(WorkerPoolEngine):
    name = "pyttsx3"

    def version(self) -> str:
        try:
            from importlib import metadata

            pyttsx3_version = metadata.version("pyttsx3")
        except Exception:  # noqa: BLE001
            pyttsx3_version = "?"
        return f"pyttsx3-{pyttsx3_version}/{espeak_setup.library_identity()}"

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

    def job_message(self, job: int, text: str, options: VoiceOptions, path: str, timeout_s: float) -> tuple:
        voice = options.voice or _default_voice(options.language)
        return ("synth", job, text, voice, options.rate_wpm, options.volume, options.pitch, path, timeout_s)

    def is_refusal(self, detail: str) -> bool:
        return "refused voice" in detail

    def refused(self, worker: Worker, options: VoiceOptions, detail: str) -> Exception:
        return self._unknown_voice(worker, options.voice or _default_voice(options.language), detail)

    def voices(self) -> list[VoiceInfo]:
        return self._voices_of(self._start(1)[0])

    def _voices_of(self, worker: Worker) -> list[VoiceInfo]:
        worker.send(("voices",))
        deadline = time.monotonic() + VOICES_TIMEOUT_S
        while True:
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                raise EngineError(f"the text-to-speech engine did not list its voices within {VOICES_TIMEOUT_S:.0f} s")
            if item[0] is worker and item[1][0] == "voices":
                return [VoiceInfo(id=i, name=n, languages=tuple(lang), gender=g, engine=self.name) for i, n, lang, g in item[1][1]]
            if item[0] is worker and item[1][0] == "eof":
                raise EngineError("the text-to-speech engine exited while listing voices")

    def _unknown_voice(self, worker: Worker, voice: str | None, detail: str) -> EngineError:
        """The error for a voice the engine refused: close matches from the installed voices when it is unknown."""
        try:
            voices = self._voices_of(worker)
        except EngineError:
            voices = []
        names = {v.id for v in voices} | {v.name for v in voices} | {lang for v in voices for lang in v.languages}
        wanted = (voice or "").lower()
        if voices and any(wanted == n.lower() for n in names):
            return EngineError(f"the text-to-speech engine refused the voice settings: {detail}")
        by_lower = {n.lower(): n for n in names}
        close = [by_lower[m] for m in difflib.get_close_matches(wanted, list(by_lower), n=3, cutoff=0.6)]
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return UnknownVoiceError(
            f"unknown voice {voice!r}{hint}: run 'voiceguide voices' to list the installed voices, "
            "then use --voice or the routine's 'voice:'"
        )


def _default_voice(language: str) -> str:
    # espeak's plain "en" is British; most users of English routines expect the US voice by default.
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return {"en": "en-us"}.get(language, language)
    return None  # other platforms: the system default voice
