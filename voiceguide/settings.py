"""Every user-facing knob, defined once: key, type, default, bounds or choices, unit, flag, help and where it may appear.

The CLI options, the range checks of routine and config validation, the config template, `config --show`, the
JSON Schema of the routine format and the settings table of docs/routine-format.md are all made from SETTINGS.
Precedence, lowest first: built-in default < config < routine < call (command line or library argument), applied
by `resolve`, where NOT_GIVEN (never None, 0 or "") means "this layer does not set it".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


class _NotGiven:
    """The one "not given" marker: 0, "" and None can all be real values of a layer."""

    _instance: _NotGiven | None = None

    def __new__(cls) -> _NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Any = _NotGiven()

ROUTINE, CONFIG, CLI = "routine", "config", "cli"


@dataclass(frozen=True)
class Setting:
    """One knob. `kind`: int, float, text, choice, path, duration or bool. `default` and `choices` may be callables
    (asked when needed: the chime sets, the chapter modes and some defaults live with the code that uses them)."""

    key: str
    kind: str
    default: Any
    # Text with {default}, {range}, {low}, {high} filled in; a callable when it lists what another table holds.
    help: str | Callable[[], str]
    where: frozenset[str]
    low: float | None = None
    high: float | None = None
    choices: tuple | Callable[[], tuple] | None = None
    unit: str = ""
    # Where it sits in a routine ("voice.rate_wpm"); messages name it with a space ("voice rate_wpm").
    routine_key: str | None = None
    # The command-line flag and its parameter name; `cli_checked=False` leaves the value to a later check.
    flag: str | None = None
    param: str | None = None
    cli_checked: bool = True
    # How the default is shown when it is not a value (config --show, docs).
    shown_default: str | None = None
    # The comment beside the key in the config template, and the value shown there.
    template_note: str = ""
    template_example: str = ""

    @property
    def config_key(self) -> str | None:
        return self.key if CONFIG in self.where else None

    @property
    def routine_name(self) -> str | None:
        """The name a routine message uses: 'voice rate_wpm', 'music volume_db', 'pace'."""
        return self.routine_key.replace(".", " ") if self.routine_key else None

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def choice_list(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else self.choices or ())

    def shown(self) -> Any:
        """The default as `config --show` and the docs show it."""
        if self.shown_default is not None:
            return self.shown_default
        value = self.default_value()
        if isinstance(value, bool):
            return "true" if value else "false"
        return int(value) if isinstance(value, float) and value.is_integer() else value

    def range_text(self, sep: str = " to ") -> str:
        """'60 to 450', 'plain or soft', '96, 128, 160, 192, 256 or 320' ('' when free)."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice" or self.choices:
            items = [str(c) for c in self.choice_list()]
            return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)
        if self.low is not None and self.high is not None:
            return f"{_num(self.low)}{sep}{_num(self.high)}"
        if self.low is not None:
            return f"at least {_num(self.low)}"
        return ""

    def template_line(self) -> str:
        line = f"# {self.key}: {self.template_example}"
        return f"{line:<22}  # " + self.template_note.format(range=self.range_text(), dash=self.range_text("-"))

    def cli_help(self) -> str:
        text = self.help() if callable(self.help) else self.help
        return text.format(default=self.shown(), range=self.range_text(), low=_num(self.low), high=_num(self.high))


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _default_engine() -> str:
    from .voice import DEFAULT_ENGINE

    return DEFAULT_ENGINE


def _engine_names() -> tuple[str, ...]:
    from .voice.auto import AUTO
    from .voice.registry import engine_names  # every registered engine: the built-ins, plugins, test stand-ins

    return (AUTO, *engine_names())


def _default_rate_wpm() -> int:
    from .voice.base import DEFAULT_RATE_WPM

    return DEFAULT_RATE_WPM


def _default_volume() -> float:
    from .voice.base import DEFAULT_VOLUME

    return DEFAULT_VOLUME


def _default_bitrate_kbps() -> int:
    from .export.encoders import DEFAULT_BITRATE_KBPS

    return DEFAULT_BITRATE_KBPS


def _default_track() -> str:
    from .library import default_track_name

    return default_track_name() or "none"


def _default_routines_dir() -> str:
    import platformdirs

    return str(Path(platformdirs.user_data_dir("voiceguide")) / "routines")


def _chime_sets() -> tuple[str, ...]:
    from .chimes import SETS

    return (*SETS, "none")


def _chapter_modes() -> tuple[str, ...]:
    from .export.tags import CHAPTER_MODES

    return (*CHAPTER_MODES, "none")


def _chapters_help() -> str:
    from .export import formats

    return f"Chapter marks ({formats.chapters_help()}): one per section, one per step, or none."


def _bitrate_help() -> str:
    from .export import formats

    return f"Bitrate in kbit/s for {formats.bitrate_help()}; default {{default}} (or your config's). {formats.lossless_help()} are lossless."


_R, _C, _L = frozenset({ROUTINE}), frozenset({CONFIG}), frozenset({CLI})
_RCL, _CL, _RL, _RC = _R | _C | _L, _C | _L, _R | _L, _R | _C

ENGINE_HELP = (
    "Text-to-speech engine: auto (the default: the best installed natural voice for the language, else the system "
    'voice; \'voiceguide voices\' shows its picks), pyttsx3 (the system voice, espeak-ng) or piper (a neural voice; '
    'pip install "voiceguide[neural]").'
)
BITRATES_KBPS = (96, 128, 160, 192, 256, 320)

SETTINGS_LIST: tuple[Setting, ...] = (
    Setting("engine", "choice", _default_engine, ENGINE_HELP, _RCL, choices=_engine_names,
            routine_key="voice.engine", flag="--engine", cli_checked=False,
            template_note='auto (the default: a natural voice where installed), pyttsx3 (espeak-ng) or piper',
            template_example="piper"),
    Setting("voice", "text", None, "Voice id, name or language (see 'voiceguide voices').", _RCL,
            routine_key="voice.name", flag="--voice", shown_default="(the engine's voice for the language)",
            template_note="a voice id, name or language ('voiceguide voices' lists them)", template_example="en-us"),
    Setting("rate_wpm", "int", _default_rate_wpm, "Speaking rate in words per minute (default {default}).", _RCL,
            low=60, high=450, unit="words per minute", routine_key="voice.rate_wpm", flag="--rate",
            template_note="words per minute ({dash})", template_example="140"),
    Setting("volume", "float", _default_volume, "Voice volume, {range} (default {default}).", _RCL,
            low=0.05, high=1.0, routine_key="voice.volume", flag="--volume", template_note="{dash}", template_example="1.0"),
    Setting("preset", "choice", "plain", "Voice preset: plain, or soft (slower, lower, a small room).", _RCL,
            choices=("plain", "soft"), routine_key="voice.preset", flag="--preset", template_note="{range}",
            template_example="soft"),
    Setting("pace", "float", 1.0, "Speed factor for action time: 0.8 = slower (actions x 1.25).", _RCL,
            low=0.25, high=4.0, unit="factor", routine_key="pace", flag="--pace",
            template_note="action-time speed factor ({dash})", template_example="0.9"),
    Setting("length", "duration", None, "Fit the session to this length (e.g. 15m, 12:30) by scaling action time, never speech.",
            _L, unit="seconds", flag="--length", param="length_s", shown_default="the routine's own length"),
    Setting("music", "path", _default_track, "A built-in track, a file path, or none.", _RC,
            routine_key="music.track", template_note="a built-in track, a file path, or none", template_example="ocean-wash"),
    Setting("music_volume_db", "float", -10.0,
            "The music's loudness between phrases relative to the narration's (-10: present, never in the way).", _RC,
            low=-60.0, high=0.0, unit="dB", routine_key="music.volume_db",
            template_note="music level relative to the narration", template_example="-14"),
    Setting("duck_db", "float", -7.0, "How far the music dips under speech and chimes (a gentle dip, held between close phrases).", _R,
            low=-40.0, high=0.0, unit="dB", routine_key="music.duck_db"),
    Setting("chimes", "choice", "bowl", "Chime set (default: the routine's, else bowl).", _RCL, choices=_chime_sets,
            routine_key="chimes", flag="--chimes", template_note="{range}", template_example="bell"),
    Setting("pan", "bool", True, "Lean the voice and cues gently toward the side being worked during a sided step "
            "(--no-pan: always centred).", _RL, routine_key="pan", flag="--pan/--no-pan"),
    Setting("lead_in", "duration", 3.0, "Music alone before the first words.", _R, low=0.0, unit="seconds",
            routine_key="lead_in"),
    Setting("bitrate_kbps", "int", _default_bitrate_kbps, _bitrate_help, _CL,
            choices=BITRATES_KBPS, unit="kbit/s", flag="--bitrate",
            template_note=".mp3/.m4a/.ogg/.opus bitrate: {range}", template_example="128"),
    Setting("loudness_lufs", "float", -16.0,
            "Integrated loudness target in LUFS (default {default}; e.g. -19 for a quieter session).", _CL,
            low=-30, high=-9, unit="LUFS", flag="--loudness",
            template_note="integrated loudness target ({range})", template_example="-16"),
    Setting("chapters", "choice", "sections", _chapters_help, _L,
            choices=_chapter_modes, flag="--chapters"),
    Setting("output_dir", "path", ".", "Where 'render' writes when -o is not given.", _C,
            shown_default=". (the current folder)", template_note="where 'render' writes when -o is not given",
            template_example="~/Music/voiceguide"),
    # The studio reads and writes routines only in this folder (and sessions only in output_dir).
    Setting("routines_dir", "path", _default_routines_dir, "Where 'studio' keeps your own routines.", _C,
            shown_default="(your user data folder)/routines", template_note="where 'studio' keeps your own routines",
            template_example="~/voiceguide/routines"),
    Setting("language", "text", "en", "Language, for the default voice.", _RL, routine_key="language", flag="--language"),
    Setting("cache_max_mb", "int", 1024, "The most the cache may hold (clips, music loops, models), in MB; least "
            "recently used clips and loops are removed after each render.", _C, low=0, unit="MB",
            template_note="the cache's size cap in MB (clips and music loops go first; 'voiceguide cache')",
            template_example="1024"),
)

SETTINGS: dict[str, Setting] = {s.key: s for s in SETTINGS_LIST}


def resolve(key: str, call: Any = NOT_GIVEN, routine: Any = NOT_GIVEN, config: Any = NOT_GIVEN, default: Any = NOT_GIVEN) -> Any:
    """A knob's value: the call's (command line or library argument), else the routine's, else the config's, else
    `default` (when the caller knows a better built-in, such as the soft preset's rate), else the built-in default."""
    SETTINGS[key]  # an unknown key is a programming error: KeyError
    for value in (call, routine, config, default):
        if value is not NOT_GIVEN:
            return value
    return SETTINGS[key].default_value()


def given(value: Any) -> Any:
    """None (an option not given, a field left unset) as NOT_GIVEN; every other value, 0 and "" included, as is."""
    return NOT_GIVEN if value is None else value


def config_settings() -> tuple[Setting, ...]:
    return tuple(s for s in SETTINGS_LIST if CONFIG in s.where)


def config_template() -> str:
    head = (
        "# voiceguide user defaults. Every key is optional; delete a line to use the built-in default.\n"
        "# Precedence: these defaults < the routine's own keys < command-line options.\n\n"
    )
    return head + "".join(s.template_line() + "\n" for s in config_settings())


_KIND_WORDS = {
    "int": "whole number", "float": "number", "choice": "choice", "text": "text", "path": "path", "duration": "duration",
    "bool": "true/false",
}


def markdown_table() -> str:
    """The settings table of docs/routine-format.md (tests/test_settings.py checks the docs hold this text)."""
    rows = ["| setting | type | default | range or choices | routine key | config key | flag |", "|---|---|---|---|---|---|---|"]
    for s in SETTINGS_LIST:
        unit = f" ({s.unit})" if s.unit and s.unit not in ("factor",) else ""
        cells = [
            f"`{s.key}`",
            _KIND_WORDS.get(s.kind, s.kind) + unit,
            f"`{s.shown()}`" if s.shown_default is None else s.shown_default,
            s.range_text() or "any",
            f"`{s.routine_key}`" if s.routine_key else "",
            f"`{s.config_key}`" if s.config_key else "",
            f"`{s.flag}`" if s.flag else "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
