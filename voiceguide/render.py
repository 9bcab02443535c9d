"""The one place that joins the stages: routine -> clips -> plan -> mix -> encoded file."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import UsageError
from .export import atomic_output, check_output_path, encode_blocks, open_encoder
from .export.encoders import DEFAULT_BITRATE_KBPS
from .mix import BLOCK_FRAMES, SAMPLE_RATE, Mixer
from .music import decode
from .plan import Plan, build_plan, spoken_texts
from .routine import Routine, load_routine
from .voice import ClipCache, Engine, VoiceOptions, get_engine, prepare_clips
from .voice.base import DEFAULT_RATE_WPM, DEFAULT_VOLUME

# progress(stage, done, total): stage is "voice" (clips ready) or "mix" (frames written)
Progress = Callable[[str, int, int], None]


@dataclass
class RenderResult:
    plan: Plan
    output: Path | None
    clips_synthesized: int = 0
    clips_cached: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)


def voice_options(routine: Routine, voice: str | None = None, rate_wpm: int | None = None, volume: float | None = None) -> VoiceOptions:
    """CLI options override the routine's voice settings, which override the defaults."""
    return VoiceOptions(
        voice=voice or routine.voice.name,
        rate_wpm=rate_wpm or routine.voice.rate_wpm or DEFAULT_RATE_WPM,
        volume=volume if volume is not None else (routine.voice.volume if routine.voice.volume is not None else DEFAULT_VOLUME),
        language=routine.language,
    )


def _as_routine(routine: Routine | str | Path, pace: float | None) -> Routine:
    loaded = routine if isinstance(routine, Routine) else load_routine(routine)
    if pace is not None:
        if not 0.25 <= pace <= 4.0:
            raise UsageError(f"--pace {pace:g} is out of range; use a factor between 0.25 and 4")
        loaded = loaded.with_overrides(pace=pace)
    return loaded


def synthesize_plan(
    routine: Routine | str | Path,
    *,
    voice: str | None = None,
    rate_wpm: int | None = None,
    volume: float | None = None,
    pace: float | None = None,
    engine: Engine | str = "pyttsx3",
    cache: ClipCache | None = None,
    progress: Progress | None = None,
) -> tuple[Plan, dict, object]:
    """Find or synthesise every clip, then lay out the plan from their real lengths."""
    routine = _as_routine(routine, pace)
    owns_engine = isinstance(engine, str)
    engine_obj = get_engine(engine) if isinstance(engine, str) else engine
    try:
        texts = spoken_texts(routine)
        clips, stats = prepare_clips(
            texts,
            engine_obj,
            voice_options(routine, voice, rate_wpm, volume),
            cache or ClipCache(),
            SAMPLE_RATE,
            progress=(lambda d, t: progress("voice", d, t)) if progress else None,
        )
    finally:
        if owns_engine:
            engine_obj.close()
    plan = build_plan(routine, {t: c.frames / SAMPLE_RATE for t, c in clips.items()})
    return plan, clips, stats


def render(
    routine: Routine | str | Path,
    output: str | Path,
    *,
    voice: str | None = None,
    rate_wpm: int | None = None,
    volume: float | None = None,
    pace: float | None = None,
    engine: Engine | str = "pyttsx3",
    cache: ClipCache | None = None,
    force: bool = False,
    cues: str | Path | None = None,
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS,
    block_frames: int = BLOCK_FRAMES,
    progress: Progress | None = None,
) -> RenderResult:
    """Render a routine (object, file path or built-in name) to an audio file; return the plan it followed."""
    output = Path(output)
    check_output_path(output, force)
    cues_path = Path(cues) if cues else None
    if cues_path is not None and cues_path.exists() and not force:
        raise UsageError(f"{cues_path} already exists; use --force to overwrite it")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    plan, clips, stats = synthesize_plan(
        routine, voice=voice, rate_wpm=rate_wpm, volume=volume, pace=pace, engine=engine, cache=cache, progress=progress
    )
    timings["voice"] = time.perf_counter() - started

    music = decode(plan.music.path, SAMPLE_RATE) if plan.music is not None else None
    mixer = Mixer(plan, clips, music, SAMPLE_RATE)
    written = 0

    def on_block(frames: int) -> None:
        nonlocal written
        written += frames
        if progress:
            progress("mix", written, mixer.total_frames)

    with atomic_output(output) as tmp:
        with open_encoder(tmp, SAMPLE_RATE, 2, bitrate_kbps=bitrate_kbps, suffix=output.suffix) as encoder:
            encode_blocks(encoder, mixer.blocks(block_frames), on_block)
        if cues_path is not None:
            write_json(cues_path, plan.to_json())
    timings["total"] = time.perf_counter() - started
    return RenderResult(plan, output, stats.synthesized, stats.cached, timings)


def write_json(path: Path, data: dict) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
