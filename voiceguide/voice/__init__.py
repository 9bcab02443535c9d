"""Voices: engines by name, the clip cache, and clips ready for the mix (trimmed, 44.1 kHz float)."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from ..errors import EngineError, UsageError, did_you_mean
from ..lazy import lazy_names
from .base import DEFAULT_RATE_WPM, DEFAULT_VOLUME, Engine, VoiceInfo, VoiceOptions
from .lexicon import respell
from .registry import ENGINE_NAMES, ENGINES, Capabilities, EngineSpec, engine_names

__all__ = [
    "DEFAULT_ENGINE",
    "DEFAULT_RATE_WPM",
    "DEFAULT_VOLUME",
    "ENGINES",
    "ENGINE_NAMES",
    "Capabilities",
    "EngineSpec",
    "ClipCache",
    "ClipRef",
    "MemoryClip",
    "Engine",
    "VoiceInfo",
    "VoiceOptions",
    "engine_names",
    "engine_session",
    "get_engine",
    "prepare_clips",
]


if TYPE_CHECKING:
    from .cache import ClipCache
    from .clips import ClipRef

# The clip cache and clips (numpy, soundfile, soxr) load on first use (PEP 562): a pyttsx3 worker process
# imports this package, and starting one to list the voices is part of every render's serial time.
_LAZY = {"ClipCache": "cache", "clip_key": "cache", "ClipRef": "clips", "MemoryClip": "clips"}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


# auto (voice.auto): the best installed natural voice for the language, else the system voice (pyttsx3). Chosen
# where a session is resolved; get_engine and engine_session only ever see the concrete name.
DEFAULT_ENGINE = "auto"
# ENGINES (voice.registry): name -> EngineSpec. Tests register a deterministic engine there, through the same
# path users take; routines, the config and the CLI accept every name it holds.


@contextmanager
def engine_session(engine: Engine | str) -> Iterator[Engine]:
    """The engine to use: one made from a name is closed afterwards; one passed in stays the caller's."""
    if not isinstance(engine, str):
        yield engine
        return
    made = get_engine(engine)
    try:
        yield made
    finally:
        made.close()


def get_engine(name: str = DEFAULT_ENGINE, language: str = "en") -> Engine:
    if name == "auto":
        from .auto import choose_engine

        name = choose_engine(language)
    factory = ENGINES.get(name)
    if factory is None:
        raise UsageError(f"unknown voice engine '{name}'{did_you_mean(name, ENGINES)} (available: {', '.join(sorted(ENGINES))})")
    return factory()


# Messages already given in this process (a batch renders one routine several times).
_WARNED: set[str] = set()


def warn_unapplied(engine: Engine, options: VoiceOptions) -> None:
    """Warn (once) about settings the engine cannot honour (Piper has no pitch), instead of dropping them silently."""
    missing = ENGINES.capabilities(engine.name).unapplied(options)
    if not missing:
        return
    what = " and ".join(f"the {options.preset} preset's {name}" if name == "pitch" and options.preset != "plain" else name for name in missing)
    message = f"the {engine.name} engine has no {' or '.join(missing)} control: {what} is not applied"
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=3)


@dataclass
class ClipStats:
    synthesized: int = 0
    cached: int = 0
    texts_synthesized: list[str] = field(default_factory=list)


def prepare_clips(
    texts: list[str],
    engine: Engine,
    options: VoiceOptions,
    cache: ClipCache,
    sample_rate: int = 44100,
    progress: Callable[[int, int], None] | None = None,
    pronounce: Mapping[str, str] | None = None,
) -> tuple[dict[str, ClipRef], ClipStats]:
    """Return a mix-ready clip (mono, `sample_rate`, on disk) for every text, synthesising only what the cache lacks.

    The engine is given each text respelt by the lexicon (voice.lexicon: the built-in entries for this engine,
    then the routine's `pronounce`, from options.pronounce unless `pronounce` is given); the clips stay keyed
    by the texts as written, which captions and cue sheets show.
    """
    from .cache import clip_key

    if pronounce is None:
        pronounce = dict(options.pronounce)
    # Everything that changes the audio: the engine and its build, the voice it will really use (resolved
    # from what was typed, or from the language: `en-gb` and `gmw/en` share clips, a German routine never
    # gets the English ones), the language, rate, volume, pitch and the text. Cheap: no synthesis.
    warn_unapplied(engine, options)
    # Once, not per text: version() can be costly (pyttsx3's looks for the espeak-ng library with subprocesses).
    voice, version = engine.voice_identity(options), engine.version()
    # Keyed by what the engine is told, so a changed respelling re-synthesises only the lines it touches.
    spoken = {t: respell(t, engine.name, options.language, pronounce) for t in texts}
    keys = {
        t: clip_key(engine.name, version, voice, options.rate_wpm, options.volume, spoken[t], options.pitch, language=options.language)
        for t in texts
    }
    with cache.lease():
        with cache.shared_lock():
            cache.use(keys.values())  # before any lookup: an eviction running now either sees this or ends first
        return _prepare(texts, keys, spoken, engine, options, cache, sample_rate, progress)


def _prepare(texts, keys, spoken, engine, options, cache, sample_rate, progress) -> tuple[dict[str, ClipRef], ClipStats]:
    from .clips import ClipRef

    clips: dict[str, ClipRef] = {}
    stats = ClipStats()
    missing = []
    for text in texts:
        path = cache.get(keys[text])
        if path is None:
            missing.append(text)
            continue
        try:
            clips[text] = ClipRef.measure(path, sample_rate, options.preset)
            stats.cached += 1
        except EngineError:
            cache.discard(keys[text])  # unusable as stored: synthesise it afresh
            missing.append(text)
    done = len(clips)
    if progress:
        progress(done, len(texts))
    if missing:
        # Processing a clip (filters, loudness, true peaks) runs on threads while the engine's worker
        # processes synthesise the next ones; numpy and soxr release the GIL for the heavy parts.
        with cache.scratch_dir() as scratch, ThreadPoolExecutor(max_workers=2) as pool:
            futures = {}
            # Texts that are said alike ("4" and "four" respelt the same) share one synthesis.
            written: dict[str, list[str]] = {}
            for text in missing:
                written.setdefault(spoken[text], []).append(text)

            def on_clip(said: str, path: Path) -> None:
                texts_said = written.get(said, [])
                if not texts_said:
                    return
                stored = cache.put(keys[texts_said[0]], path)
                measured = pool.submit(ClipRef.measure, stored, sample_rate, options.preset)
                for text in texts_said:
                    futures[text] = measured
                    stats.synthesized += 1
                    stats.texts_synthesized.append(text)
                # As each clip arrives, not after the last: the progress line's time left comes from this rate.
                if progress:
                    progress(done + stats.synthesized, len(texts))

            engine.synthesize(list(written), options, Path(scratch), on_clip)
            for text, future in futures.items():
                try:
                    clips[text] = future.result()
                except EngineError as exc:
                    # The user knows their text, not the cache's hash names.
                    raise EngineError(f"the {engine.name} voice gave no usable audio for {text!r} ({exc})") from exc
    absent = [t for t in texts if t not in clips]
    if absent:
        raise EngineError(f"the engine produced no clip for {absent[0]!r}")
    return clips, stats
