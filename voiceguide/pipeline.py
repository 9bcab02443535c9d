"""The one place that joins the stages: routine -> clips -> plan -> mix -> encoded file."""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import Config
from .errors import Cancelled, UsageError, VoiceguideError  # noqa: F401 (Cancelled: re-exported)
from . import __version__
from .chimes import SETS as CHIME_SETS, chime
from .export import atomic_output, check_output_path, encode_blocks, open_encoder
from .export.captions import write_captions
from .export.tags import Metadata, chapters_for, cover_png
import numpy as np

from .dsp import db_to_gain
from .library import is_circular
from .loudness import loudness_from_hops
from .mix import BLOCK_FRAMES, DEFAULT_LOUDNESS_LUFS, SAMPLE_RATE, Mixer, level_voice
from .memory import fixed_mmap_threshold
from .music import _track_key as music_key, loop_hops, open_loop
from .plan import CHIME_S, Chapter, Plan, build_plan, check_session_length, estimated_speech, fit_to_length, spoken_texts
from .requests import (  # noqa: F401 (check_length_s, default_output...: part of this module's API before requests.py)
    PACE_AND_LENGTH, STEM_NAMES, Cancel, Output, ResolvedSession, Session, apply_overrides, check_length_s,
    check_stems_folder, default_output, output_of, refuse_shared_outputs, resolve_request, resolve_session, session_of,
    voice_options,
)
from .settings import given, resolve
from .routine import Routine, has_words, text_problem
from .voice import DEFAULT_ENGINE, ClipCache, ClipStats, Engine, VoiceOptions, engine_session, prepare_clips
from .voice.auto import concrete_engine
from .voice.eviction import enforce_cap, touch_music
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
    pan: bool | None = None,
) -> tuple[Plan, dict, ClipStats]:
    """Find or synthesise every clip, then lay out the plan from their real lengths.

    With `length_s`, the action time is scaled (never the speech) so the session lasts that long (+-1 s).
    """
    session = session_of(
        routine, voice=voice, rate_wpm=rate_wpm, volume=volume, preset=preset, engine=engine, pace=pace,
        length_s=length_s, chimes=chimes, config=config, pan=pan,
    )
    return synthesize_session(resolve_session(session), cache, progress)


def synthesize_session(
    session: ResolvedSession, cache: ClipCache | None = None, progress: Progress | None = None, cancel: Cancel | None = None
) -> tuple[Plan, dict, ClipStats]:
    """The clips and the plan of a resolved session (see synthesize_plan)."""
    routine, options, length_s = session.routine, session.options, session.length_s
    if length_s is None:
        # Before any synthesis: an estimate (the real check follows) keeps a 400-hour routine from running for hours.
        check_session_length(build_plan(routine, estimated_speech(routine, options.rate_wpm)), routine.source, estimated=True)
    if cancel is not None:
        cancel.check()

    def on_clips(done: int, total: int) -> None:
        if progress:
            progress("voice", done, total)
        if cancel is not None:
            cancel.check()

    with engine_session(session.engine) as engine_obj:
        clips, stats = prepare_clips(
            spoken_texts(routine),
            engine_obj,
            options,
            cache or ClipCache(),
            SAMPLE_RATE,
            progress=on_clips if progress or cancel is not None else None,
        )
    if cancel is not None:
        cancel.check()
    speech_s = {t: c.frames / SAMPLE_RATE for t, c in clips.items()}
    if length_s is not None:
        routine = fit_to_length(routine, speech_s, length_s)
    plan = build_plan(routine, speech_s)
    check_session_length(plan, routine.source)
    return plan, clips, stats


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
    pan: bool | None = None,
) -> RenderResult:
    """Render a routine (object, file path or built-in name) to an audio file; return the plan it followed.

    `cues` (JSON), `captions` (.vtt, .srt or .txt transcript) and `stems` (a folder for voice.wav, music.wav
    and chimes.wav, aligned) are extra outputs. MP3 files get ID3 tags, cover art and chapters
    (`chapters`: sections, steps or none). `output`, `loudness_lufs` and `bitrate_kbps` left out (None) come from
    `config` (its output_dir, loudness_lufs, bitrate_kbps), else the built-in defaults.
    `pan` (None: the routine's, else on) leans a sided step's voice and cues toward its side.
    A thin wrapper: it builds a Session and an Output and calls render_request.
    """
    session = session_of(
        routine, voice=voice, rate_wpm=rate_wpm, volume=volume, preset=preset, engine=engine, pace=pace,
        length_s=length_s, chimes=chimes, config=config, pan=pan,
    )
    out = output_of(
        output, force=force, cues=cues, captions=captions, stems=stems, chapters=chapters, cover=cover, artist=artist,
        loudness_lufs=loudness_lufs, bitrate_kbps=bitrate_kbps,
    )
    return render_request(session, out, progress=progress, cache=cache, block_frames=block_frames)


def render_request(
    session: Session,
    output: Output,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    *,
    cache: ClipCache | None = None,
    block_frames: int = BLOCK_FRAMES,
) -> RenderResult:
    """Make the session `session` asks for and write it where `output` says; every check is done before any work.

    `cancel` (a Cancel token) is checked between synthesis batches and mixer blocks: once set, Cancelled is
    raised and no output is left (neither the file nor its temporary).
    """
    started = time.perf_counter()
    resolved, out = resolve_request(session, output)
    cache = cache or ClipCache()
    # What this render uses stays leased until it ends, so no other render's eviction takes it mid-mix.
    config = session.config if isinstance(session.config, Config) else Config()
    with cache.lease():
        result = _render_leased(resolved, out, cache, progress, cancel, block_frames, started)
        # Inside the lease: this render's own clips are the newest, and kept even under a cap they exceed.
        enforce_cap(cache, resolve("cache_max_mb", config=given(config.cache_max_mb)))
    return result


def _render_leased(
    resolved: ResolvedSession, out, cache: ClipCache, progress: Progress | None, cancel: Cancel | None, block_frames: int,
    started: float,
) -> RenderResult:
    timings: dict[str, float] = {}
    # The music's loop, the chimes and the cover depend only on the routine: they are made (the loop decoded,
    # levelled and measured once per track) while the voice is synthesised or looked up, not after.
    wants_cover = out.format.tag_writer is not None and not out.cover_png
    sounds = _in_background(_prepare_sounds, resolved.routine, cache, wants_cover)
    plan, clips, stats = synthesize_session(resolved, cache, progress, cancel)
    routine, options = resolved.routine.with_overrides(pace=plan.pace), resolved.options
    timings["voice"] = time.perf_counter() - started
    output, out_format, force, chapters, stems_dir = out.path, out.format, out.force, out.chapters, out.stems
    loudness_lufs, bitrate_kbps = out.loudness_lufs, out.bitrate_kbps

    fixed_mmap_threshold()
    # Streamed from a 16-bit file in the cache: memory does not depend on the music's length.
    loop, hops, cover = sounds()
    meta = None
    if out_format.tag_writer is not None:
        meta = Metadata(
            title=plan.title,
            artist=out.artist,
            year=datetime.date.today().year,
            comment=settings_comment(routine, options, loudness_lufs, _engine_name(resolved.engine, routine)),
            cover_png=out.cover_png or cover,
        )
    mixer = Mixer(plan, clips, loop, SAMPLE_RATE, loudness_lufs=loudness_lufs, music_hops=hops)
    written = 0
    written_chapters: tuple[Chapter, ...] = ()

    def on_block(frames: int) -> None:
        nonlocal written
        written += frames
        if progress:
            progress("mix", written, mixer.total_frames)
        if cancel is not None:
            cancel.check()

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
        if out.cues:
            write_json(out.cues, plan.to_json(), replace=force)
        if out.captions:
            write_captions(out.captions, plan, replace=force)
        if stems_dir is not None:
            write_stems(mixer, stems_dir, block_frames, replace=force)
        if cancel is not None:
            cancel.check()
    timings["total"] = time.perf_counter() - started
    return RenderResult(plan, output, stats.synthesized, stats.cached, timings, chapters=written_chapters)


def _prepare_sounds(routine: Routine, cache: ClipCache, wants_cover: bool):
    """The chimes of the routine's set made (they are remembered); the music's loop with its hop energies; and
    the routine's own cover (PNG bytes) if wanted, else None. The cover's image buffers are freed before the
    mix starts, so they never add to its peak memory."""
    # The same every time for the same titles (plan.title is the routine's).
    cover = cover_png(routine.title, " ".join(s.title for s in routine.sections)) if wants_cover else None
    if routine.chimes in CHIME_SETS:
        for kind in CHIME_S:
            chime(kind, SAMPLE_RATE, routine.chimes)
    loop, hops = _prepare_music(routine.music.path, cache) if routine.music is not None else (None, None)
    return loop, hops, cover


def _prepare_music(path: Path, cache: ClipCache):
    """The music's loop, opened from the cache (made there the first time), and its hop energies."""
    with cache.shared_lock():
        cache.use([music_key(path, SAMPLE_RATE)])
    touch_music(cache.root, music_key(path, SAMPLE_RATE))
    fold = not is_circular(path)
    loop = open_loop(path, SAMPLE_RATE, cache.root, fold)
    return loop, loop_hops(path, loop, SAMPLE_RATE, cache.root, fold)


def _in_background(fn, *args) -> Callable[[], object]:
    """Start fn(*args) on a daemon thread (an interrupted command never waits for it); the returned function
    waits for it and returns its result, or raises what it raised."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, in its own thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name="voiceguide-music")
    thread.start()

    def result():
        thread.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]

    return result


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
    with engine_session(concrete_engine(engine or DEFAULT_ENGINE, language, options.voice)) as engine_obj:
        clips, _ = prepare_clips([cleaned], engine_obj, options, cache or ClipCache(), SAMPLE_RATE)
    clip = clips[cleaned]
    level = loudness_from_hops(clip.hops, SAMPLE_RATE)
    gain = db_to_gain(loudness_lufs - level) if np.isfinite(level) else 1.0
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
