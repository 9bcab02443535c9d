"""The one place that joins the stages: routine -> clips -> plan -> mix -> encoded file."""

from __future__ import annotations

import datetime
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import Config, apply_config
from .errors import UsageError, VoiceguideError
from . import __version__
from .export import atomic_output, check_output_path, encode_blocks, open_encoder, output_format
from .export.captions import caption_format, write_captions
from .export.tags import DEFAULT_ARTIST, Metadata, chapters_for, cover_png, load_cover
import numpy as np

from .loudness import loudness_from_hops
from .mix import BLOCK_FRAMES, DEFAULT_LOUDNESS_LUFS, SAMPLE_RATE, Mixer, level_voice
from .memory import fixed_mmap_threshold
from .music import loop_hops, open_loop
from .plan import Chapter, Plan, build_plan, check_session_length, estimated_speech, fit_to_length, spoken_texts
from .settings import NOT_GIVEN, SETTINGS, given, resolve
from .routine import MAX_SESSION_S, Routine, format_duration, has_words, load_routine, text_problem
from .voice import DEFAULT_ENGINE, ClipCache, ClipStats, Engine, VoiceOptions, engine_session, prepare_clips
from .voice.presets import PRESETS

# progress(stage, done, total): stage is "voice" (clips ready) or "mix" (frames written)
Progress = Callable[[str, int, int], None]


@dataclass
class RenderResult:
    plan: Plan
    output: Path | None
    clips_synthesized: int = 0
    clips_cached: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    # The chapter marks written into the file's tags (none for .wav, or with chapters="none").
    chapters: tuple[Chapter, ...] = ()


# The soft preset: slower, lower and in a small room (defined in voice.presets).
SOFT_RATE_WPM = PRESETS["soft"].rate_wpm
SOFT_PITCH = PRESETS["soft"].pitch


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
        rate_wpm=resolve("rate_wpm", given(rate_wpm), given(routine.voice.rate_wpm), default=SOFT_RATE_WPM if soft else NOT_GIVEN),
        volume=resolve("volume", given(volume), given(routine.voice.volume)),
        language=routine.language,
        pitch=SOFT_PITCH if soft else None,
        preset=preset,
    )


def apply_overrides(
    routine: Routine | str | Path, pace: float | None = None, chimes: str | None = None, config: Config | None = None
) -> Routine:
    """Load the routine if needed; fill in the user's defaults (config), then apply command-line options."""
    loaded = routine if isinstance(routine, Routine) else load_routine(routine)
    if config is not None:
        loaded = apply_config(loaded, config)
    if pace is not None:
        knob = SETTINGS["pace"]
        if not knob.low <= pace <= knob.high:
            raise UsageError(f"--pace {pace:g} is out of range; use a factor between {knob.range_text(' and ')}")
        loaded = loaded.with_overrides(pace=pace)
    if chimes is not None:
        choices = SETTINGS["chimes"].choice_list()
        if chimes not in choices:
            raise UsageError(f"unknown chime set '{chimes}' (choose from: {', '.join(choices)})")
        loaded = loaded.with_overrides(chimes=chimes)
    return loaded


PACE_AND_LENGTH = "use either --pace or --length, not both: --length chooses the pace itself"


def synthesize_plan(
    routine: Routine | str | Path,
    *,
    voice: str | None = None,
    rate_wpm: int | None = None,
    volume: float | None = None,
    preset: str | None = None,
    pace: float | None = None,
    chimes: str | None = None,
    length_s: float | None = None,
    config: Config | None = None,
    engine: Engine | str | None = None,
    cache: ClipCache | None = None,
    progress: Progress | None = None,
) -> tuple[Plan, dict, ClipStats]:
    """Find or synthesise every clip, then lay out the plan from their real lengths.

    With `length_s`, the action time is scaled (never the speech) so the session lasts that long (+-1 s).
    """
    if length_s is not None and pace is not None:
        raise UsageError(PACE_AND_LENGTH)
    check_length_s(length_s)
    routine = apply_overrides(routine, pace, chimes, config)
    options = voice_options(routine, voice, rate_wpm, volume, preset)
    if length_s is None:
        # Before any synthesis: an estimate (the real check follows) keeps a 400-hour routine from running for hours.
        check_session_length(build_plan(routine, estimated_speech(routine, options.rate_wpm)), routine.source, estimated=True)
    # Like the other voice settings: the caller's (CLI) choice, else the routine's (with the config's filled in).
    engine = resolve("engine", given(engine), given(routine.voice.engine))
    with engine_session(engine) as engine_obj:
        clips, stats = prepare_clips(
            spoken_texts(routine),
            engine_obj,
            options,
            cache or ClipCache(),
            SAMPLE_RATE,
            progress=(lambda d, t: progress("voice", d, t)) if progress else None,
        )
    speech_s = {t: c.frames / SAMPLE_RATE for t, c in clips.items()}
    if length_s is not None:
        routine = fit_to_length(routine, speech_s, length_s)
    plan = build_plan(routine, speech_s)
    check_session_length(plan, routine.source)
    return plan, clips, stats


def check_length_s(length_s: float | None) -> None:
    if length_s is not None and not 0 < length_s <= MAX_SESSION_S:
        raise UsageError(
            f"--length {format_duration(length_s)} is out of range: a session may last at most {format_duration(MAX_SESSION_S)}"
        )


def default_output(routine: Routine | str | Path, config: Config | None = None) -> Path:
    """Where a session goes without -o: ROUTINE-NAME.mp3 in the config's output_dir (else the current folder)."""
    name = Path(routine.source if isinstance(routine, Routine) else routine).stem
    return Path(resolve("output_dir", config=given((config or Config()).output_dir))) / f"{name}.mp3"


def render(
    routine: Routine | str | Path,
    output: str | Path | None = None,
    *,
    voice: str | None = None,
    rate_wpm: int | None = None,
    volume: float | None = None,
    preset: str | None = None,
    pace: float | None = None,
    chimes: str | None = None,
    length_s: float | None = None,
    config: Config | None = None,
    engine: Engine | str | None = None,
    cache: ClipCache | None = None,
    force: bool = False,
    cues: str | Path | None = None,
    captions: str | Path | None = None,
    chapters: str = "sections",
    cover: str | Path | None = None,
    artist: str | None = None,
    stems: str | Path | None = None,
    loudness_lufs: float | None = None,
    bitrate_kbps: int | None = None,
    block_frames: int = BLOCK_FRAMES,
    progress: Progress | None = None,
) -> RenderResult:
    """Render a routine (object, file path or built-in name) to an audio file; return the plan it followed.

    `cues` (JSON), `captions` (.vtt, .srt or .txt transcript) and `stems` (a folder for voice.wav, music.wav
    and chimes.wav, aligned) are extra outputs. MP3 files get ID3 tags, cover art and chapters
    (`chapters`: sections, steps or none). `output`, `loudness_lufs` and `bitrate_kbps` left out (None) come from
    `config` (its output_dir, loudness_lufs, bitrate_kbps), else the built-in defaults.
    """
    if length_s is not None and pace is not None:
        raise UsageError(PACE_AND_LENGTH)
    defaults = config or Config()
    loudness_lufs = resolve("loudness_lufs", given(loudness_lufs), config=given(defaults.loudness_lufs))
    bitrate_kbps = resolve("bitrate_kbps", given(bitrate_kbps), config=given(defaults.bitrate_kbps))
    output = Path(output) if output is not None else default_output(routine, config)
    check_output_path(output, force)
    out_format = output_format(output)
    # Every output gets the checks -o gets: a regular file (or nothing) there, a folder that takes a new file.
    for path in (cues, captions):
        if path:
            check_output_path(Path(path), force, audio=False)
    if captions:
        caption_format(captions)
    if chapters not in SETTINGS["chapters"].choice_list():
        raise UsageError(f"--chapters must be one of: {', '.join(SETTINGS['chapters'].choice_list())}")
    cover_png_bytes = load_cover(cover) if cover else None
    stems_dir = Path(stems) if stems else None
    if stems_dir is not None:
        check_stems_folder(stems_dir, force)  # made only once the routine and its music have been accepted
    refuse_shared_outputs(
        [("the session (-o)", output), ("--cues", cues), ("--captions", captions)]
        + [(f"--stems ({name}.wav)", stems_dir / f"{name}.wav") for name in STEM_NAMES if stems_dir is not None]
    )
    knob = SETTINGS["loudness_lufs"]
    if not knob.low <= loudness_lufs <= knob.high:
        raise UsageError(f"--loudness {loudness_lufs:g} is out of range; use {knob.range_text()} LUFS (-16 is usual for speech)")
    cache = cache or ClipCache()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    routine = apply_overrides(routine, pace, chimes, config)
    options = voice_options(routine, voice, rate_wpm, volume, preset)
    plan, clips, stats = synthesize_plan(
        routine, voice=voice, rate_wpm=rate_wpm, volume=volume, preset=preset, length_s=length_s, engine=engine,
        cache=cache, progress=progress,
    )
    routine = routine.with_overrides(pace=plan.pace)
    timings["voice"] = time.perf_counter() - started

    meta = None
    if out_format.tag_writer is not None:
        # Made before the music is decoded: the cover's image buffers then never add to the mix's peak memory.
        meta = Metadata(
            title=plan.title,
            artist=artist or DEFAULT_ARTIST,
            year=datetime.date.today().year,
            comment=settings_comment(routine, options, loudness_lufs, _engine_name(engine, routine)),
            cover_png=cover_png_bytes or cover_png(plan.title, " ".join(s.title for s in routine.sections)),
        )
    fixed_mmap_threshold()
    # Streamed from a 16-bit file in the cache: memory does not depend on the music's length.
    loop = open_loop(plan.music.path, SAMPLE_RATE, cache.root) if plan.music is not None else None
    mixer = Mixer(
        plan, clips, loop, SAMPLE_RATE, loudness_lufs=loudness_lufs,
        loop_hops=(lambda loop: loop_hops(plan.music.path, loop, SAMPLE_RATE, cache.root)) if plan.music else None,
    )
    written = 0
    written_chapters: tuple[Chapter, ...] = ()

    def on_block(frames: int) -> None:
        nonlocal written
        written += frames
        if progress:
            progress("mix", written, mixer.total_frames)

    if stems_dir is not None:
        try:
            stems_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the --stems folder {stems_dir}: {exc.strerror or exc}") from None
    with atomic_output(output, replace=force) as tmp:
        if out_format.session_writer is not None:
            # The format renders the session itself (MP3: segments mixed and encoded on every core, joined gaplessly).
            out_format.session_writer(tmp, lambda: mixer.fork().block, mixer.total_frames, SAMPLE_RATE, 2, bitrate_kbps, block_frames, on_block)
        else:
            with out_format.encoder(tmp, SAMPLE_RATE, 2, bitrate_kbps=bitrate_kbps) as encoder:
                encode_blocks(encoder, mixer.blocks(block_frames), on_block)
        if meta is not None:
            marks = None if chapters == "none" or not out_format.chapters else chapters
            out_format.tag_writer(tmp, plan, meta, marks)
            written_chapters = () if marks is None else chapters_for(plan, marks)
        if cues:
            write_json(Path(cues), plan.to_json(), replace=force)
        if captions:
            write_captions(captions, plan, replace=force)
        if stems_dir is not None:
            write_stems(mixer, stems_dir, block_frames, replace=force)
    timings["total"] = time.perf_counter() - started
    return RenderResult(plan, output, stats.synthesized, stats.cached, timings, chapters=written_chapters)


STEM_NAMES = ("voice", "music", "chimes")


def check_stems_folder(folder: Path, force: bool) -> None:
    """Refuse, before any work, a --stems folder that is a file or cannot be made, or stems that may not be replaced.

    Nothing is created here: a render refused later (a routine problem) must leave no folder behind.
    """
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(f"--stems {folder} is not a folder; give a folder name (it is made if missing)")
    if folder.is_dir():
        for name in STEM_NAMES:
            check_output_path(folder / f"{name}.wav", force)
        return
    existing = next((p for p in folder.absolute().parents if os.path.lexists(p)), None)
    if existing is None or not existing.is_dir():
        raise UsageError(f"cannot make the --stems folder {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot make the --stems folder {folder}: {existing} is not writable")


def refuse_shared_outputs(outputs: list[tuple[str, str | Path | None]]) -> None:
    """Refuse, before any work, two outputs bound for one file (the later one would replace the earlier)."""
    seen: dict[str, str] = {}
    for label, path in outputs:
        if not path:
            continue
        path = Path(path)
        # The folder is resolved (symbolic links, '..'); the name is not: an output replaces a link, not its target.
        key = os.path.normcase(os.path.join(os.path.realpath(path.parent if str(path.parent) else "."), path.name))
        if key in seen:
            raise UsageError(f"{seen[key]} and {label} name the same file, {path}: give each output its own name")
        seen[key] = label


def _engine_name(engine: Engine | str | None, routine: Routine) -> str:
    if engine is not None and not isinstance(engine, str):
        return engine.name
    return resolve("engine", given(engine), given(routine.voice.engine))


def settings_comment(routine: Routine, options: VoiceOptions, loudness_lufs: float, engine: str = DEFAULT_ENGINE) -> str:
    """The settings a session was made with, for the file's comment tag."""
    return (
        f"voiceguide {__version__}: {engine} voice {options.voice or 'default'} ({options.language}), {options.rate_wpm} wpm, "
        f"preset {options.preset}, pace {routine.pace:g}, chimes {routine.chimes}, "
        f"music {routine.music.track if routine.music else 'none'}, loudness {loudness_lufs:g} LUFS"
    )


def write_stems(mixer: Mixer, folder: Path, block_frames: int = BLOCK_FRAMES, replace: bool = True) -> None:
    """Each source as its own WAV, sample-aligned with the session (32-bit float, so nothing clips)."""
    import soundfile

    with ExitStack() as stack:
        files = {}
        for name in STEM_NAMES:
            tmp = stack.enter_context(atomic_output(folder / f"{name}.wav", replace))
            channels = 2 if name == "music" else 1
            files[name] = stack.enter_context(soundfile.SoundFile(str(tmp), "w", mixer.sample_rate, channels, format="WAV", subtype="FLOAT"))
        for start in range(0, mixer.total_frames, block_frames):
            parts = mixer.stems(start, min(start + block_frames, mixer.total_frames))
            for name, data in parts.items():
                files[name].write(data)
        # Files close (in reverse) before their temporary paths are renamed into place.


def write_json(path: Path, data: dict, replace: bool = True) -> None:
    with atomic_output(path, replace) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def say(
    text: str,
    output: str | Path,
    *,
    voice: str | None = None,
    rate_wpm: int | None = None,
    volume: float | None = None,
    preset: str | None = None,
    language: str = "en",
    engine: Engine | str | None = None,
    cache: ClipCache | None = None,
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS,
    force: bool = False,
) -> float:
    """Speak one text to a file, levelled and polished like a session's narration; return its length (s)."""
    output = Path(output)
    check_output_path(output, force)
    cleaned = " ".join(str(text).split())
    if not has_words(cleaned):
        raise UsageError(f"nothing to say in {cleaned!r}: give some words (letters or digits)" if cleaned else "nothing to say: give some text")
    problem = text_problem(cleaned, "the text")
    if problem:
        raise UsageError(problem)
    routine = Routine(title="say", sections=(), language=language)
    options = voice_options(routine, voice, rate_wpm, volume, preset)
    with engine_session(engine or DEFAULT_ENGINE) as engine_obj:
        clips, _ = prepare_clips([cleaned], engine_obj, options, cache or ClipCache(), SAMPLE_RATE)
    clip = clips[cleaned]
    level = loudness_from_hops(clip.hops, SAMPLE_RATE)
    gain = 10 ** ((loudness_lufs - level) / 20) if np.isfinite(level) else 1.0
    samples = level_voice(clip, gain, SAMPLE_RATE)
    with atomic_output(output, replace=force) as tmp:
        with open_encoder(tmp, SAMPLE_RATE, 2, suffix=output.suffix) as encoder:
            encoder.write(np.repeat(samples[:, None], 2, axis=1))
    return len(samples) / SAMPLE_RATE


def render_batch(
    jobs: list[dict], progress: Callable[[int, int], None] | None = None, workers: int | None = None
) -> list[float | str]:
    """Render several sessions (each job holds render()'s keyword arguments, with `routine` and `output`).

    Every distinct voice is synthesised once first, so lengths of one routine share their clips; then the
    sessions render side by side on threads (LAME and numpy release the GIL, so they use all cores).
    Returns each session's duration in seconds, or the message of the error that stopped it.
    """
    voice_keys = ("voice", "rate_wpm", "volume", "preset", "engine", "config")
    results: list[float | str | None] = [None] * len(jobs)
    seen: set = set()
    for job in jobs:
        key = (str(job["routine"]), *(repr(job.get(k)) for k in voice_keys))
        if key in seen:
            continue
        seen.add(key)
        try:
            synthesize_plan(job["routine"], **{k: job[k] for k in voice_keys if k in job}, cache=job.get("cache"))
        except VoiceguideError as exc:
            for j, other in enumerate(jobs):
                if str(other["routine"]) == str(job["routine"]):
                    results[j] = str(exc)
    done = 0

    def run(index: int) -> None:
        nonlocal done
        if results[index] is None:
            try:
                results[index] = render(**jobs[index]).plan.duration_s
            except VoiceguideError as exc:
                results[index] = str(exc)
        done += 1
        if progress:
            progress(done, len(jobs))

    with ThreadPoolExecutor(max_workers=workers or max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        list(pool.map(run, range(len(jobs))))
    return results  # type: ignore[return-value]
