"""What to make and where it goes: the Session and Output requests, resolved and cross-checked once."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .config import Config, apply_config
from .errors import Cancelled, ParameterError, UsageError
from .export import check_output_path, output_format
from .export.files import same_file_key
from .export.captions import caption_format
from .export.formats import OutputFormat
from .export.tags import DEFAULT_ARTIST, load_cover
from .routine import MAX_SESSION_S, Routine, format_duration, load_routine
from .settings import NOT_GIVEN, SETTINGS, given, resolve
from .voice import Engine, VoiceOptions
from .voice.auto import concrete_engine
from .voice.presets import PRESETS


@dataclass(frozen=True)
class Session:
    """What to make: the routine (object, file path or built-in name) and the caller's settings (NOT_GIVEN: the
    routine's, else the config's, else the built-in default). `pace` and `length_s` exclude each other."""

    routine: Routine | str | Path
    voice: Any = NOT_GIVEN
    rate_wpm: Any = NOT_GIVEN
    volume: Any = NOT_GIVEN
    preset: Any = NOT_GIVEN
    engine: Any = NOT_GIVEN
    pace: Any = NOT_GIVEN
    length_s: Any = NOT_GIVEN
    chimes: Any = NOT_GIVEN
    config: Any = NOT_GIVEN
    pan: Any = NOT_GIVEN


def session_of(routine: Routine | str | Path, **options: Any) -> Session:
    """The Session of a call's keyword options, where None means "not given" (render(), synthesize_plan, the CLI)."""
    return Session(routine, **{name: given(value) for name, value in options.items()})


@dataclass(frozen=True)
class Output:
    """Where a session goes: the audio file (NOT_GIVEN: ROUTINE-NAME.mp3 in the config's output_dir) and the
    extra outputs (cue sheet, captions, stems folder), tags, loudness and bitrate."""

    path: Any = NOT_GIVEN
    force: bool = False
    cues: Any = NOT_GIVEN
    captions: Any = NOT_GIVEN
    stems: Any = NOT_GIVEN
    chapters: Any = NOT_GIVEN
    cover: Any = NOT_GIVEN
    artist: Any = NOT_GIVEN
    loudness_lufs: Any = NOT_GIVEN
    bitrate_kbps: Any = NOT_GIVEN


def output_of(path: Any, **options: Any) -> Output:
    """The Output of a call's keyword options, where None means "not given" (render(), the CLI)."""
    return Output(given(path), **{name: given(value) for name, value in options.items()})


@dataclass(frozen=True)
class ResolvedSession:
    routine: Routine  # the config, pace and chimes applied
    options: VoiceOptions
    engine: Engine | str
    length_s: float | None


@dataclass(frozen=True)
class ResolvedOutput:
    path: Path
    format: OutputFormat
    force: bool
    cues: Path | None
    captions: Path | None
    stems: Path | None
    chapters: str
    cover_png: bytes | None
    artist: str
    loudness_lufs: float
    bitrate_kbps: int


class Cancel:
    """A cancellation token: `set()` from any thread; the render stops at its next check and raises Cancelled."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


def request_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _value(value: Any) -> Any:
    """NOT_GIVEN as None, for the helpers that take None for "not given"."""
    return None if value is NOT_GIVEN else value


PACE_AND_LENGTH = "use either --pace or --length, not both: --length chooses the pace itself"


def check_pace_and_length(session: Session) -> None:
    if _value(session.length_s) is not None and _value(session.pace) is not None:
        raise ParameterError(PACE_AND_LENGTH, "pace")


def resolve_session(session: Session) -> ResolvedSession:
    """Load the routine and apply the config and the call's settings; every cross-check of a session is here."""
    pace, length_s = _value(session.pace), _value(session.length_s)
    check_pace_and_length(session)
    check_length_s(length_s)
    routine = apply_overrides(session.routine, pace, _value(session.chimes), _value(session.config), _value(session.pan))
    options = voice_options(routine, _value(session.voice), _value(session.rate_wpm), _value(session.volume), _value(session.preset))
    # Like the other voice settings: the caller's choice, else the routine's (with the config's filled in).
    engine = resolve("engine", given(_value(session.engine)), given(routine.voice.engine))
    # Once, here: from now on every stage (cache keys, cue sheet, tags, messages) names the engine that speaks.
    engine = concrete_engine(engine, routine.language, options.voice)
    return ResolvedSession(routine, options, engine, length_s)


def resolve_output(output: Output, session: Session) -> ResolvedOutput:
    """Every check of the outputs, before any work: paths, clashes, formats, chapters, cover, loudness."""
    config = _value(session.config)
    defaults = config or Config()
    force = bool(output.force)
    loudness_lufs = resolve("loudness_lufs", given(_value(output.loudness_lufs)), config=given(defaults.loudness_lufs))
    bitrate_kbps = resolve("bitrate_kbps", given(_value(output.bitrate_kbps)), config=given(defaults.bitrate_kbps))
    path = _value(output.path)
    path = Path(path) if path is not None else default_output(session.routine, config)
    check_output_path(path, force)
    out_format = output_format(path)
    cues, captions = _value(output.cues), _value(output.captions)
    # Every output gets the checks -o gets: a regular file (or nothing) there, a folder that takes a new file.
    for extra in (cues, captions):
        if extra:
            check_output_path(Path(extra), force, audio=False)
    if captions:
        caption_format(captions)
    chapters = resolve("chapters", given(_value(output.chapters)))
    if chapters not in SETTINGS["chapters"].choice_list():
        raise ParameterError(f"--chapters must be one of: {', '.join(SETTINGS['chapters'].choice_list())}", "chapters")
    cover = _value(output.cover)
    cover_png_bytes = load_cover(cover) if cover else None
    stems = _value(output.stems)
    stems_dir = Path(stems) if stems else None
    if stems_dir is not None:
        check_stems_folder(stems_dir, force)  # made only once the routine and its music have been accepted
    refuse_shared_outputs(
        [("the session (-o)", path, "output"), ("--cues", cues, "cues"), ("--captions", captions, "captions")]
        + [(f"--stems ({name}.wav)", stems_dir / f"{name}.wav", "stems") for name in STEM_NAMES if stems_dir is not None]
    )
    knob = SETTINGS["loudness_lufs"]
    if not knob.low <= loudness_lufs <= knob.high:
        raise ParameterError(
            f"--loudness {loudness_lufs:g} is out of range; use {knob.range_text()} LUFS (-16 is usual for speech)", "loudness_lufs"
        )
    return ResolvedOutput(
        path, out_format, force, Path(cues) if cues else None, Path(captions) if captions else None, stems_dir, chapters,
        cover_png_bytes, _value(output.artist) or DEFAULT_ARTIST, loudness_lufs, bitrate_kbps,
    )


def resolve_request(session: Session, output: Output) -> tuple[ResolvedSession, ResolvedOutput]:
    """Both requests resolved: the outputs first (refused before the routine is even loaded), then the session."""
    check_pace_and_length(session)
    resolved_output = resolve_output(output, session)
    return resolve_session(session), resolved_output


def voice_options(
    routine: Routine,
    voice: str | None = None,
    rate_wpm: int | None = None,
    volume: float | None = None,
    preset: str | None = None,
) -> VoiceOptions:
    """CLI options override the routine's voice settings (the config's filled in), which override the defaults
    (and the preset's)."""
    preset = resolve("preset", given(preset), given(routine.voice.preset))
    soft = preset == "soft"
    return VoiceOptions(
        voice=resolve("voice", given(voice), given(routine.voice.name)),
        rate_wpm=resolve(
            "rate_wpm", given(rate_wpm), given(routine.voice.rate_wpm), default=PRESETS["soft"].rate_wpm if soft else NOT_GIVEN
        ),
        volume=resolve("volume", given(volume), given(routine.voice.volume)),
        language=routine.language,
        pitch=PRESETS["soft"].pitch if soft else None,
        preset=preset,
        pronounce=routine.pronounce,
    )


def apply_overrides(
    routine: Routine | str | Path, pace: float | None = None, chimes: str | None = None, config: Config | None = None,
    pan: bool | None = None,
) -> Routine:
    """Load the routine if needed; fill in the user's defaults (config), then apply command-line options."""
    loaded = routine if isinstance(routine, Routine) else load_routine(routine)
    if config is not None:
        loaded = apply_config(loaded, config)
    if pace is not None:
        knob = SETTINGS["pace"]
        if not knob.low <= pace <= knob.high:
            raise ParameterError(f"--pace {pace:g} is out of range; use a factor between {knob.range_text(' and ')}", "pace")
        loaded = loaded.with_overrides(pace=pace)
    if chimes is not None:
        choices = SETTINGS["chimes"].choice_list()
        if chimes not in choices:
            raise ParameterError(f"unknown chime set '{chimes}' (choose from: {', '.join(choices)})", "chimes")
        loaded = loaded.with_overrides(chimes=chimes)
    if pan is not None:
        loaded = loaded.with_overrides(pan=bool(pan))
    return loaded


def check_length_s(length_s: float | None) -> None:
    if length_s is not None and not 0 < length_s <= MAX_SESSION_S:
        raise ParameterError(
            f"--length {format_duration(length_s)} is out of range: a session may last at most {format_duration(MAX_SESSION_S)}",
            "length_s",
        )


def default_output(routine: Routine | str | Path, config: Config | None = None) -> Path:
    """Where a session goes without -o: ROUTINE-NAME.mp3 in the config's output_dir (else the current folder)."""
    name = Path(routine.source if isinstance(routine, Routine) else routine).stem
    return Path(resolve("output_dir", config=given((config or Config()).output_dir))) / f"{name}.mp3"


STEM_NAMES = ("voice", "music", "chimes")


def check_stems_folder(folder: Path, force: bool) -> None:
    """Refuse, before any work, a --stems folder that is a file or cannot be made, or stems that may not be replaced.

    Nothing is created here: a render refused later (a routine problem) must leave no folder behind.
    """
    if os.path.lexists(folder) and not folder.is_dir():
        raise ParameterError(f"--stems {folder} is not a folder; give a folder name (it is made if missing)", "stems")
    if folder.is_dir():
        for name in STEM_NAMES:
            check_output_path(folder / f"{name}.wav", force)
        return
    existing = next((p for p in folder.absolute().parents if os.path.lexists(p)), None)
    if existing is None or not existing.is_dir():
        raise ParameterError(f"cannot make the --stems folder {folder}: {existing} is not a folder", "stems")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ParameterError(f"cannot make the --stems folder {folder}: {existing} is not writable", "stems")


def refuse_shared_outputs(outputs: list[tuple[str, str | Path | None, str]]) -> None:
    """Refuse, before any work, two outputs bound for one file (the later one would replace the earlier)."""
    seen: dict[str, str] = {}
    for label, path, parameter in outputs:
        if not path:
            continue
        path = Path(path)
        key = same_file_key(path)
        if key in seen:
            raise ParameterError(f"{seen[key]} and {label} name the same file, {path}: give each output its own name", parameter)
        seen[key] = label


__all__ = ["Cancel", "Cancelled", "Output", "ParameterError", "Session", "UsageError", "resolve_request"]
