"""The engine `auto` (the default): the best installed natural voice for the language, else the system voice.

Chosen once, where the session is resolved (requests.resolve_session, pipeline.say): everything after that sees
a concrete engine name, so clip cache keys, cue sheets, tags and messages name the engine that really spoke.

Without a voice: the first registered engine (pyttsx3, piper, kokoro, then packages' entry points) whose
capabilities say it speaks the language's primary subtag naturally and whose install check passes; else pyttsx3.

With a voice (`--voice`, `voice:`), the engine that has it, natural ones for the language first, then every
other installed engine in registration order: first an engine with that exact voice (an id, a name, a language
tag one of its voices lists as such, or a bare language it speaks: `en-us` is Piper's joe, `en-gb` espeak's
British voice where no Piper voice is British), then one that accepts it by its own rules (Piper's `joe` or a
.onnx path, espeak's `en-us+f3`).
"""

from __future__ import annotations

import os
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EngineError, UnknownVoiceError, VoiceguideError
from .base import Engine, VoiceInfo, VoiceOptions
from .registry import ENGINES, EngineSpec
from .resolve import close_matches, normal, resolve_exact, resolve_language

AUTO = "auto"
SYSTEM_ENGINE = "pyttsx3"
NATURAL_INSTALL_HINT = 'pip install "voiceguide[neural]"'
# Remembered in the cache folder once the hint has been shown, so a plain install hears about it only once.
HINT_MARKER = ".natural-voice-hint-shown"


class NaturalVoiceHint(UserWarning):
    """auto spoke with the system voice where a natural one could be installed (the CLI shows it once)."""


def primary_subtag(language: str) -> str:
    return normal(language).split("-")[0]


def _spec(name: str) -> EngineSpec | None:
    try:
        return ENGINES.get(name)
    except EngineError:  # a plugin that cannot even be loaded is not a candidate
        return None


def engine_installed(name: str) -> bool:
    spec = _spec(name)
    if spec is None:
        return False
    try:
        return spec.capabilities.is_installed()
    except EngineError:
        return False


def _natural_for(name: str) -> tuple[str, ...]:
    spec = _spec(name)
    try:
        return tuple(primary_subtag(tag) for tag in spec.capabilities.natural_for) if spec else ()
    except EngineError:
        return ()


def natural_engines(language: str, installed_only: bool = True) -> list[str]:
    """The registered engines that speak `language` with a natural voice, in registration order."""
    base = primary_subtag(language)
    return [n for n in list(ENGINES) if n != AUTO and base in _natural_for(n) and (not installed_only or engine_installed(n))]


def natural_languages() -> list[str]:
    """Every primary language some registered engine speaks naturally (installed or not)."""
    return sorted({tag for name in list(ENGINES) for tag in _natural_for(name)})


def candidate_engines(language: str) -> list[str]:
    """auto's order of preference: the installed natural engines for the language, then every other installed one."""
    natural = natural_engines(language)
    return natural + [n for n in list(ENGINES) if n != AUTO and n not in natural and engine_installed(n)]


def concrete_engine(engine: Engine | str, language: str, voice: str | None = None) -> Engine | str:
    """`engine` itself, unless it is `auto`: then the engine auto picks for the language and voice."""
    return choose_engine(language, voice) if engine == AUTO else engine


def choose_engine(language: str, voice: str | None = None, warn: bool = True) -> str:
    """The engine auto means for this language (and voice, if one was asked for)."""
    if voice:
        return engine_with_voice(voice, language)
    natural = natural_engines(language)
    if natural:
        return natural[0]
    if warn:
        hint = natural_voice_hint(language)
        if hint:
            warnings.warn(NaturalVoiceHint(hint), stacklevel=2)
    return SYSTEM_ENGINE


def natural_voice_hint(language: str) -> str | None:
    """What to install for a natural voice in `language`, unless no engine has one or the hint was shown."""
    missing = natural_engines(language, installed_only=False)
    if not missing or hint_shown():
        return None
    return f"speaking with the system voice; for a natural voice install the natural voices: {NATURAL_INSTALL_HINT} (said once)"


def _marker() -> Path:
    from .cache import default_cache_dir

    return default_cache_dir() / HINT_MARKER


def hint_shown() -> bool:
    try:
        return _marker().exists()
    except (OSError, VoiceguideError):
        return False


def remember_hint_shown() -> None:
    """Best effort: a read-only cache only means the hint is shown again next time."""
    try:
        marker = _marker()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except (OSError, VoiceguideError):
        pass


# ----- an explicit voice


@dataclass
class _Tried:
    name: str
    engine: Engine | None = None
    voices: list[VoiceInfo] = field(default_factory=list)
    problem: VoiceguideError | None = None


def _open(name: str, stack: ExitStack) -> _Tried:
    try:
        engine = ENGINES[name]()
        stack.callback(engine.close)
        return _Tried(name, engine, engine.voices())
    except VoiceguideError as exc:
        return _Tried(name, problem=exc)


def _default_identity(engine: Engine, language: str) -> str | None:
    try:
        return engine.voice_identity(VoiceOptions(language=language))
    except VoiceguideError:
        return None


def engine_with_voice(voice: str, language: str) -> str:
    """The engine that has `voice` (see the module's notes); an UnknownVoiceError when none has it.

    Engines are opened one at a time, in order, so a voice the first one has costs no other engine's start."""
    tried: list[_Tried] = []
    with ExitStack() as stack:
        for name in candidate_engines(language):
            entry = _open(name, stack)
            tried.append(entry)
            if resolve_exact(voice, entry.voices) is not None:
                return name
        options = VoiceOptions(voice=voice, language=language)
        for entry in tried:
            if entry.engine is None:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a second engine's doubts about the language are not news
                    identity = entry.engine.voice_identity(options)
                    # An engine that takes any tag of a language it speaks (en-uss) and gives its usual voice has
                    # not got the voice asked for: a typo must stay an error, espeak's en-us+f3 stay espeak's.
                    if not voice.endswith(".onnx") and identity == _default_identity(entry.engine, language):
                        continue
                return entry.name
            except VoiceguideError as exc:
                entry.problem = exc
    close = close_matches(voice, [v for entry in tried for v in entry.voices])
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    # An unknown name is said once for all; a file or an engine that would not start is each engine's own story.
    reasons = "; ".join(f"{e.name}: {e.problem}" for e in tried if e.problem and not isinstance(e.problem, UnknownVoiceError))
    if not (voice.endswith(".onnx") or os.sep in voice):
        reasons = "; ".join(f"{e.name}: {e.problem}" for e in tried if e.engine is None and e.problem)
    raise UnknownVoiceError(
        f"unknown voice {voice!r}{hint}: run 'voiceguide voices' to list the installed voices of every engine, then "
        f"use --voice or the routine's 'voice:'" + (f" ({reasons})" if reasons else "")
    )


# ----- what `voices` shows


@dataclass(frozen=True)
class AutoPick:
    language: str
    engine: str
    voice: str | None  # the voice's id, None where the engine could not be asked
    natural: bool


def voice_for_language(engine: Engine, language: str) -> str | None:
    """The id of the voice `engine` speaks `language` with when no voice is given."""
    resolved = getattr(engine, "resolved_voice", None)  # pyttsx3 knows its own defaults (en -> en-us)
    if callable(resolved):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return resolved(VoiceOptions(language=language))
        except VoiceguideError:
            return None
    found = resolve_language(language, engine.voices())
    return found.id if found else None


def auto_picks(languages: list[str], engines: dict[str, Engine]) -> list[AutoPick]:
    """For each language, the engine and voice auto picks (`engines`: engines already open, by name)."""
    picks = []
    for language in languages:
        name = choose_engine(language, warn=False)
        engine = engines.get(name)
        voice = None
        if engine is not None:
            try:
                voice = voice_for_language(engine, language)
            except VoiceguideError:
                voice = None
        picks.append(AutoPick(language, name, voice, bool(natural_engines(language)) and name != SYSTEM_ENGINE))
    return picks


__all__ = ["AUTO", "AutoPick", "NaturalVoiceHint", "auto_picks", "choose_engine", "concrete_engine", "engine_with_voice"]
