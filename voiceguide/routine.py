"""Routine scripts: safe YAML -> frozen, validated models. Every validation message lives here."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import Problem, RoutineError, did_you_mean
from .inputs import MAX_NAME_BYTES, MAX_PATH_BYTES, NotReadable, _shown, path_kind, read_capped, user_path  # noqa: F401 - re-exported
from .library import builtin_routines, builtin_tracks
from .settings import SETTINGS, Setting, given, resolve

DEFAULT_STROKE_S = 2.5
DEFAULT_LEAD_IN_S = SETTINGS["lead_in"].default
DEFAULT_MUSIC_VOLUME_DB = SETTINGS["music_volume_db"].default
MAX_TEXT_CHARS = 600
MAX_REPEAT = 500
MAX_DURATION_S = 2 * 3600.0
MAX_SESSION_S = 6 * 3600.0
# An alias-heavy document ("billion laughs") must not expand without bound.
MAX_NODES = 50_000
MAX_FILE_BYTES = 2_000_000

TOP_KEYS = (
    "title", "description", "language", "voice", "pace", "music", "chimes", "lead_in", "preview", "pan", "intro", "outro", "pronounce",
    "sections",
)
VOICE_KEYS = ("name", "rate_wpm", "volume", "preset", "engine")
# The speech engines a routine may ask for (voice.ENGINES has their factories; tests add stand-ins there).
VOICE_ENGINES = SETTINGS["engine"].choice_list()
MUSIC_KEYS = ("track", "volume_db", "duck_db")
VOICE_PRESETS = SETTINGS["preset"].choice_list()
# The chime sets: chimes.SETS and "none" (asked when needed: chimes imports the plan, which imports this module).
DEFAULT_CHIMES = SETTINGS["chimes"].default
DEFAULT_DUCK_DB = SETTINGS["duck_db"].default
SECTION_KEYS = ("title", "steps")
STEP_KEYS = ("say", "hold", "repeat", "every", "count", "tick", "sides", "preview", "pause", "breathe")
# `count:` values; true means "numbers", false means no count.
COUNT_MODES = ("numbers", "countdown", "ticks")
BREATHE_KEYS = ("in", "hold", "out", "cycles")
BREATHE_STEP_KEYS = ("say", "breathe")
DEFAULT_BREATH_CYCLES = 3
BREATH_PHASE_MIN_S = 1.0
BREATH_PHASE_MAX_S = 30.0
MAX_BREATH_CYCLES = 50
# Words people reach for inside `breathe:` that difflib cannot match to the real keys.
_BREATHE_HINTS = {"inhale": "in", "exhale": "out", "breathe_in": "in", "breathe_out": "out", "pause": "hold",
                  "rounds": "cycles", "repeat": "cycles", "times": "cycles", "breaths": "cycles"}
# `pronounce:` entries: a word (or a few) as it is written -> how the voice should say it (voice.lexicon).
MAX_PRONOUNCE_ENTRIES = 500
MAX_PRONOUNCE_WORD_CHARS = 60
MAX_RESPELLING_CHARS = 120
# `sides: true` in the routine's language (other languages get the English labels).
DEFAULT_SIDE_LABELS = {"en": ("left", "right"), "ko": ("왼쪽", "오른쪽")}


@dataclass(frozen=True)
class VoiceSettings:
    name: str | None = None
    rate_wpm: int | None = None
    volume: float | None = None
    preset: str | None = None
    engine: str | None = None


@dataclass(frozen=True)
class MusicSettings:
    track: str
    path: Path
    volume_db: float = DEFAULT_MUSIC_VOLUME_DB
    duck_db: float = DEFAULT_DUCK_DB


@dataclass(frozen=True)
class SayStep:
    say: str
    hold_s: float | None = None
    repeat: int | None = None
    every_s: float = DEFAULT_STROKE_S
    # None (no count), "numbers", "countdown" or "ticks"; True/False are accepted and mean "numbers"/None.
    count: str | None = None
    sides: tuple[str, str] | None = None
    line: int | None = None
    # A quiet metronome tick every `every_s` (scaled by pace) through a hold.
    tick: bool = False
    # Speak a "Next: ..." preview near the end of this step's action: None follows the routine's `preview`.
    preview: bool | None = None

    def __post_init__(self) -> None:
        if self.count is True:
            object.__setattr__(self, "count", "numbers")
        elif self.count is False or self.count == "none":
            object.__setattr__(self, "count", None)
        elif self.count not in (None, *COUNT_MODES):
            raise ValueError(f"count must be one of {COUNT_MODES}, True, False or None, not {self.count!r}")

    @property
    def action_s(self) -> float:
        """Hands-on time per side at pace 1.0."""
        if self.hold_s is not None:
            return self.hold_s
        if self.repeat is not None:
            return self.repeat * self.every_s
        return 0.0


@dataclass(frozen=True)
class PauseStep:
    pause_s: float
    line: int | None = None


@dataclass(frozen=True)
class BreatheStep:
    """Guided breathing: `cycles` x (in, hold, out) seconds, never scaled by pace (it is the listener's breath)."""

    in_s: float
    out_s: float
    hold_s: float = 0.0
    cycles: int = DEFAULT_BREATH_CYCLES
    say: str | None = None
    line: int | None = None

    @property
    def cycle_s(self) -> float:
        return self.in_s + self.hold_s + self.out_s

    @property
    def action_s(self) -> float:
        """Breathing time at any pace (before a cue word that is longer than its phase lengthens it)."""
        return self.cycles * self.cycle_s


Step = SayStep | PauseStep | BreatheStep


@dataclass(frozen=True)
class Section:
    title: str
    steps: tuple[Step, ...]
    line: int | None = None


@dataclass(frozen=True)
class Routine:
    title: str
    sections: tuple[Section, ...]
    description: str = ""
    language: str = "en"
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    pace: float = 1.0
    music: MusicSettings | None = None
    chimes: str = DEFAULT_CHIMES
    lead_in_s: float = DEFAULT_LEAD_IN_S
    # Speak a short "Next: ..." preview near the end of each step's action (steps may opt out).
    preview: bool = False
    pan: bool = SETTINGS["pan"].default
    intro: str | None = None
    outro: str | None = None
    # (word, respelling) pairs from `pronounce:`, applied to the text each engine is given (voice.lexicon).
    pronounce: tuple[tuple[str, str], ...] = ()
    source: str = "<routine>"
    # The top-level keys the file set itself: user defaults (config) fill in only the others.
    given: frozenset[str] = frozenset()

    def with_overrides(self, **changes: Any) -> Routine:
        return replace(self, **changes)


# --- numbers and durations: plain ASCII decimal digits only ----------------------------------

# '8', '0.8', '-20', '+1.5', '.5': never YAML 1.1's 0x10, 0o17, 1_000, 1:30 (sexagesimal), 1e3, .inf or
# non-ASCII digits such as '１０', which Python's float() and int() would quietly read.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_NOT_FINITE_RE = re.compile(r"[+-]?\.?(?:inf(?:inity)?|nan)", re.IGNORECASE)
_UNIT_RE = re.compile(
    r"^\s*(?:(?P<h>[0-9]+(?:\.[0-9]+)?)\s*h(?:ours?|rs?)?)?\s*(?:(?P<m>[0-9]+(?:\.[0-9]+)?)\s*m(?:in(?:utes?|s)?)?)?"
    r"\s*(?:(?P<s>[0-9]+(?:\.[0-9]+)?)\s*s(?:ec(?:onds?|s)?)?)?\s*$",
    re.ASCII,
)
# m:ss or h:mm:ss: every field after the first is two digits below 60 (1:05, not 1:5 or 1:60).
_CLOCK_RE = re.compile(r"(?:(?P<h>[0-9]+):(?P<hm>[0-9]{2})|(?P<m>[0-9]+)):(?P<s>[0-9]{2}(?:\.[0-9]+)?)", re.ASCII)
_LOOSE_CLOCK_RE = re.compile(r"[0-9]+(?::[0-9]+(?:\.[0-9]+)?){1,2}", re.ASCII)
_DURATION_FORMS = "write seconds (20, 20s), minutes and seconds (1m30s) or 1:30"


def parse_number(text: str) -> float:
    """A plain decimal number written in ASCII digits ('8', '0.8', '-20'); ValueError with the reason otherwise.

    A number too large for a float comes back as inf (a range check then refuses it).
    """
    cleaned = text.strip()
    if _NUMBER_RE.fullmatch(cleaned):
        return float(cleaned)
    if _NOT_FINITE_RE.fullmatch(cleaned):
        raise ValueError("not infinity or NaN")
    if cleaned and (_looks_numeric(cleaned)):
        raise ValueError(f"written in plain decimal digits 0-9, not '{_shown(cleaned)}'")
    raise ValueError("")


def _looks_numeric(text: str) -> bool:
    """Numbers in a form other than plain decimal: 0x10, 0o17, 0b1, 1_000, 1e3, 1:30, full-width or other digits."""
    if any(unicodedata.category(ch) == "Nd" for ch in text):
        return True
    try:
        float(text)
        return True
    except ValueError:
        pass
    try:
        int(text, 0)
        return True
    except ValueError:
        return False




def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like '20s', '1m30s', '1:30', '1.5'. Raises ValueError.

    Strings take plain ASCII decimal digits only; in '1:30' and '1:02:03' the fields after the first are two
    digits below 60.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 20s, 1m30s or 1:30, not true/false")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"{_shown(str(value))} seconds is far too long") from None
    elif isinstance(value, str):
        text = value.strip().lower()
        seconds = _parse_duration_text(text)
        if math.isinf(seconds):
            raise ValueError(f"'{_shown(text)}' is far too long; a single duration may be at most {format_duration(MAX_DURATION_S)}")
    else:
        raise ValueError("expected a duration such as 20s, 1m30s or 1:30")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    return seconds


def _parse_duration_text(text: str) -> float:
    if _NUMBER_RE.fullmatch(text):
        return float(text)
    clock = _CLOCK_RE.fullmatch(text)
    if clock:
        if clock["h"] is not None:
            hours, minutes = float(clock["h"]), float(clock["hm"])
        else:
            hours, minutes = 0.0, float(clock["m"])
        seconds = float(clock["s"])
        if (clock["h"] is not None and minutes >= 60) or seconds >= 60:
            raise ValueError(
                f"'{_shown(text)}' is not a duration: minutes and seconds after the first field must be below 60 "
                "(write 2:00, not 1:60)"
            )
        return hours * 3600 + minutes * 60 + seconds
    if _LOOSE_CLOCK_RE.fullmatch(text):
        raise ValueError(f"'{_shown(text)}' is not a duration: write minutes:seconds with two-digit seconds, such as 1:05 or 1:02:03")
    units = _UNIT_RE.match(text)
    if text and units and any(units.group(k) for k in "hms"):
        return sum(float(units[k] or 0) * mult for k, mult in (("h", 3600), ("m", 60), ("s", 1)))
    if _NOT_FINITE_RE.fullmatch(text):
        raise ValueError(f"a duration must be a finite number of seconds, not '{text}'")
    if _looks_numeric(text) or any(unicodedata.category(ch) == "Nd" for ch in text):
        raise ValueError(f"'{_shown(text)}' is not a duration: use plain decimal digits 0-9 and {_DURATION_FORMS}")
    raise ValueError(f"'{_shown(text)}' is not a duration: {_DURATION_FORMS}")


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    whole = int(round(seconds))
    if whole >= 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{whole // 60}:{whole % 60:02d}"


# --- loading ---------------------------------------------------------------------------------


def load_routine(source: str | Path) -> Routine:
    """Load a routine from a file path or the name of a built-in routine.

    Raises RoutineError listing every problem found, each with file, line and column.
    """
    path = resolve_routine_path(source)
    display = str(source)
    try:
        if path.is_dir():
            raise RoutineError(display, [Problem(None, None, "is a folder, not a routine file: give the path of a .yaml file")])
        raw = read_capped(path, MAX_FILE_BYTES)
    except NotReadable as exc:
        raise RoutineError(display, [Problem(None, None, str(exc))]) from None
    except FileNotFoundError:
        raise RoutineError(display, [Problem(None, None, _not_found_message(str(source)))]) from None
    except PermissionError:
        raise RoutineError(display, [Problem(None, None, "cannot be read (permission denied)")]) from None
    except OSError as exc:
        raise RoutineError(display, [Problem(None, None, f"cannot be read: {exc.strerror or exc}")]) from None
    return parse_routine(raw, source=display, base_dir=path.parent)


def resolve_routine_path(source: str | Path) -> Path:
    path = Path(source)
    if not path.exists() and isinstance(source, str) and "/" not in source and not source.endswith((".yaml", ".yml")):
        builtin = builtin_routines().get(source)
        if builtin is not None:
            return builtin
    return path


def _not_found_message(source: str) -> str:
    names = sorted(builtin_routines())
    hint = did_you_mean(source, names)
    return f"no such file or built-in routine{hint} (built-in routines: {', '.join(names) or 'none'})"


def parse_routine(text: str | bytes, source: str = "<routine>", base_dir: Path | None = None) -> Routine:
    """Parse routine YAML text. Raises RoutineError with every problem found."""
    empty = Problem(None, None, "is empty: a routine needs at least a title and sections")
    root, tag_problems = compose_yaml(text, source, what="a routine")
    if root is None:
        raise RoutineError(source, [empty])
    validator = _Validator(source, base_dir or Path.cwd())
    validator.problems.extend(tag_problems)
    return validator.routine(root)


class _TagNotingLoader(yaml.SafeLoader):
    """Safe YAML composition that also notes each explicit tag (!!str, !foo, !<...>, a bare !) and where it is.

    A composed node keeps only its resolved tag, so `hold: !!str 5` and `hold: 5` would look alike afterwards.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self.explicit_tags: list[tuple[str, yaml.Mark]] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        tag = getattr(event, "tag", None)
        if tag is not None and not isinstance(event, yaml.AliasEvent):
            self.explicit_tags.append((tag, event.start_mark))
        return super().compose_node(parent, index)


def _tag_as_written(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag


def compose_yaml(text: str | bytes, source: str, what: str = "a routine") -> tuple[yaml.Node | None, list[Problem]]:
    """YAML text (bytes: UTF-8) composed into nodes for located messages; (None, []) for an empty document.

    Raises RoutineError (each problem at its line and column where there is one) for text that is not UTF-8,
    control characters, syntax errors, nesting too deep to compose and documents that expand (through aliases)
    to more than MAX_NODES values. Explicit YAML tags are returned as problems, one per tag with its place, so
    the caller reports them with everything else it finds: `what` ("a routine", "the config") holds plain
    values only.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            raise RoutineError(source, [Problem(line, None, "is not UTF-8 text: save the file as UTF-8")]) from None
    if not text.strip():
        return None, []
    loader = None
    try:
        loader = _TagNotingLoader(text)  # the reader checks for control characters here already
        root = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise RoutineError(
            source, [Problem(line, column, f"contains a control character (U+{char:04X}) that YAML does not allow: remove it")]
        ) from None
    except RecursionError:
        raise RoutineError(
            source, [Problem(None, None, f"nests lists or mappings too deeply to be {what}: flatten it")]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise RoutineError(source, [Problem(line, col, f"YAML syntax error: {problem} (check indentation, quotes and colons)")]) from None
    except yaml.YAMLError as exc:
        raise RoutineError(source, [Problem(None, None, f"YAML error: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return None, []
    _check_size(root, source)
    tags = [
        Problem(mark.line + 1, mark.column + 1,
                f"the YAML tag '{_shown(_tag_as_written(tag), 60)}' is refused: {what} holds plain values only (remove the tag)")
        for tag, mark in loader.explicit_tags
    ]
    return root, tags


def _check_size(root: yaml.Node, source: str) -> None:
    seen = 0
    stack = [root]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise RoutineError(
                source,
                [Problem(None, None, f"expands to more than {MAX_NODES} YAML values (are aliases repeating a large block?)")],
            )
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class _Validator:
    """Walks the composed YAML nodes so every message can point at a line and column."""

    def __init__(self, source: str, base_dir: Path):
        self.source = source
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.lang = "en"

    def fail(self, node: yaml.Node | None, message: str) -> None:
        if node is None:
            self.problems.append(Problem(None, None, message))
        else:
            mark = node.start_mark
            self.problems.append(Problem(mark.line + 1, mark.column + 1, message))

    # ----- generic node helpers

    def mapping(
        self, node: yaml.Node, what: str, allowed: tuple[str, ...], hints: dict[str, str] | None = None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """The keys of a mapping node; unknown keys are reported with a close match (or `hints[key]`)."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping of keys to values ({', '.join(allowed)})")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, f"{what}: keys must be plain names ({', '.join(allowed)})")
                continue
            if key not in allowed:
                hint = f" (did you mean '{hints[key.lower()]}'?)" if hints and key.lower() in hints else did_you_mean(key, allowed)
                self.fail(key_node, f"unknown key '{key}' in {what}{hint}; allowed keys: {', '.join(allowed)}")
                continue
            if key in out:
                self.fail(key_node, f"'{key}' appears twice in {what}: keep one")
                continue
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return _NOT_SCALAR
        try:
            return _CONSTRUCTOR.construct_object(node)
        except Exception:  # noqa: BLE001 - a 5,000-digit int, a date like 2001-13-45: the text as written
            return node.value

    def text(self, node: yaml.Node, what: str, spoken: bool = False) -> str | None:
        """Cleaned text, or None after a problem; `spoken` text must have something a voice can say."""
        value = self.scalar(node)
        if value is not _NOT_SCALAR and value is not None and not isinstance(value, bool):
            value = node.value  # "say: 5" reads as the text "5", "title: 2024-05-01" as that date's text
        if not isinstance(value, str):
            self.fail(node, f"{what} must be text")
            return None
        cleaned = " ".join(value.split())
        problem = text_problem(cleaned, what, spoken)
        if problem:
            self.fail(node, problem)
            return None
        return cleaned

    def number(self, node: yaml.Node, what: str, low: float, high: float, integer: bool = False) -> float | None:
        """A number in plain decimal digits (quoted or not) within [low, high]; YAML 1.1's 0x10, 0o17, 1_000,
        1:30 (sexagesimal), 1e3 and .inf are refused rather than read the way YAML reads them."""
        kind = "a whole number" if integer else "a number"
        wanted = f"{what} must be {kind} between {_fmt(low)} and {_fmt(high)}"
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, wanted)
            return None
        text = node.value.strip()
        try:
            value = parse_number(text)
        except ValueError as exc:
            self.fail(node, f"{wanted}, {exc}" if str(exc) else wanted)
            return None
        if not low <= value <= high:
            self.fail(node, f"{what} is {_shown(text)}; it must be between {_fmt(low)} and {_fmt(high)}")
            return None
        if integer and not value.is_integer():
            self.fail(node, wanted)
            return None
        return int(value) if integer else value

    def duration(self, node: yaml.Node, what: str, allow_zero: bool = False) -> float | None:
        value = self.scalar(node)
        if value is _NOT_SCALAR or value is None:
            self.fail(node, f"{what} must be a duration such as 20s, 1m30s or 1:30")
            return None
        try:
            # The text as written, never YAML 1.1's reading of it (0x10 is 16, 1:30 is 90, 1_000 is 1000).
            seconds = parse_duration(value if isinstance(value, bool) else node.value)
        except ValueError as exc:
            self.fail(node, f"{what}: {exc}")
            return None
        if seconds < 0 or (seconds == 0 and not allow_zero):
            self.fail(node, f"{what} must be more than zero seconds" + (" (or 0)" if allow_zero else ""))
            return None
        if seconds > MAX_DURATION_S:
            shown = f"{seconds:.3g} s" if seconds > 1e7 else format_duration(seconds)
            self.fail(node, f"{what} is {shown}; a single duration may be at most {format_duration(MAX_DURATION_S)}")
            return None
        return seconds

    def setting(self, node: yaml.Node, setting: Setting, what: str | None = None) -> Any:
        """A knob's value checked against its type and range in the settings table, or None after a problem.

        `what` names it in messages: the routine's name ('voice rate_wpm') unless given (the config: 'rate_wpm').
        """
        what = what or setting.routine_name or setting.key
        if setting.kind == "choice":
            return self.choice(node, what, setting.choice_list())
        if setting.kind == "duration":
            return self.duration(node, what, allow_zero=setting.low == 0)
        if setting.kind == "bool":
            return self.boolean(node, what)
        if setting.kind in ("int", "float"):
            choices = setting.choice_list()
            low, high = (choices[0], choices[-1]) if choices else (setting.low, setting.high)
            value = self.number(node, what, low, high, integer=setting.kind == "int")
            if value is not None and choices and value not in choices:
                self.fail(node, f"{what} must be one of: {', '.join(map(str, choices))}")
                return None
            return value
        return self.text(node, what)

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        value = self.scalar(node)
        if not isinstance(value, bool):
            self.fail(node, f"{what} must be true or false")
            return None
        return value

    # ----- the routine

    def routine(self, root: yaml.Node) -> Routine:
        keys = self.mapping(root, "the routine", TOP_KEYS)
        if keys is None:
            raise RoutineError(self.source, self.problems)
        fields: dict[str, Any] = {}

        def take(key: str, parse: Callable[[yaml.Node], Any]) -> None:
            if key in keys:
                value = parse(keys[key][1])
                if value is not None:
                    fields[key] = value

        if "title" not in keys:
            self.fail(root, "missing 'title': every routine needs a title (title: My routine)")
        take("title", lambda n: self.text(n, "title"))
        take("description", lambda n: self.text(n, "description"))
        take("language", self.language)
        self.lang = fields.get("language", "en")
        take("voice", self.voice)
        take("pace", lambda n: self.setting(n, SETTINGS["pace"]))
        if "music" in keys:
            fields["music"] = self.music(keys["music"][1])
        else:
            fields["music"] = self.default_music()
        take("chimes", lambda n: self.setting(n, SETTINGS["chimes"]))
        take("lead_in", lambda n: self.setting(n, SETTINGS["lead_in"]))
        take("preview", lambda n: self.boolean(n, "preview"))
        take("pan", lambda n: self.setting(n, SETTINGS["pan"]))
        take("intro", lambda n: self.text(n, "intro", spoken=True))
        take("outro", lambda n: self.text(n, "outro", spoken=True))
        take("pronounce", self.pronounce)
        if "sections" not in keys:
            self.fail(root, "missing 'sections': add a list of sections, each with a title and steps")
        take("sections", self.sections)

        if not self.problems:
            pace = fields.get("pace", 1.0)
            action_s = sum(
                s.action_s if isinstance(s, BreatheStep)  # breathing is not scaled by pace
                else (s.pause_s if isinstance(s, PauseStep) else s.action_s * (2 if s.sides else 1)) / pace
                for sec in fields["sections"]
                for s in sec.steps
            )
            if action_s > MAX_SESSION_S:
                self.fail(None, f"the action time adds up to {format_duration(action_s)}; a session may be at most {format_duration(MAX_SESSION_S)}")
        if self.problems:
            raise RoutineError(self.source, self.problems)
        if "lead_in" in fields:
            fields["lead_in_s"] = fields.pop("lead_in")
        return Routine(source=self.source, given=frozenset(keys), **fields)

    def pronounce(self, node: yaml.Node) -> tuple[tuple[str, str], ...] | None:
        """`pronounce: {word: respelling}`: each word whole (letters or digits at both ends, a few words at most),
        each once in any case, each respelling something a voice can say."""
        if self.scalar(node) is None:
            return ()
        example = "pronounce: {Yintang: yin-tahng, jojoba: ho-HO-buh}"
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"pronounce must be a mapping of words to how to say them, such as {example}")
            return None
        if len(node.value) > MAX_PRONOUNCE_ENTRIES:
            self.fail(node, f"pronounce has {len(node.value)} entries; at most {MAX_PRONOUNCE_ENTRIES}")
            return None
        before = len(self.problems)
        seen: dict[str, int] = {}
        entries: list[tuple[str, str]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, f"pronounce: each key is a word as the routine writes it, such as {example}")
                continue
            word = " ".join(str(key_node.value).split())
            problem = pronounce_word_problem(word)
            if problem:
                self.fail(key_node, problem)
                continue
            line = key_node.start_mark.line + 1
            folded = word.lower()
            if folded in seen:
                self.fail(key_node, f"pronounce: '{_shown(word, 60)}' is listed twice (also on line {seen[folded]}); keep one")
                continue
            seen[folded] = line
            if isinstance(value_node, yaml.ScalarNode) and self.scalar(value_node) is None:
                self.fail(value_node, f"pronounce: '{_shown(word, 60)}' has no respelling: write how to say it, or remove the entry")
                continue
            says = self.text(value_node, f"the respelling of '{_shown(word, 60)}'", spoken=True)
            if says is None:
                continue
            if len(says) > MAX_RESPELLING_CHARS:
                self.fail(value_node, f"the respelling of '{_shown(word, 60)}' is {len(says)} characters long; at most {MAX_RESPELLING_CHARS}")
                continue
            entries.append((word, says))
        return tuple(entries) if len(self.problems) == before else None

    def language(self, node: yaml.Node) -> str | None:
        value = self.text(node, "language")
        if value is not None and not re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*", value):
            self.fail(node, f"language '{value}' is not a language code such as en, en-us or ko")
            return None
        return value.lower() if value else None

    def voice(self, node: yaml.Node) -> VoiceSettings | None:
        if isinstance(node, yaml.ScalarNode):
            name = self.voice_file(node, self.text(node, "voice"))
            return VoiceSettings(name=name) if name else None
        keys = self.mapping(node, "voice", VOICE_KEYS)
        if keys is None:
            return None
        name = self.text(keys["name"][1], "voice name") if "name" in keys else None
        rate = self.setting(keys["rate_wpm"][1], SETTINGS["rate_wpm"]) if "rate_wpm" in keys else None
        volume = self.setting(keys["volume"][1], SETTINGS["volume"]) if "volume" in keys else None
        preset = self.setting(keys["preset"][1], SETTINGS["preset"]) if "preset" in keys else None
        engine = self.setting(keys["engine"][1], SETTINGS["engine"]) if "engine" in keys else None
        if name:
            name = self.voice_file(keys["name"][1], name)
        return VoiceSettings(name=name, rate_wpm=rate, volume=volume, preset=preset, engine=engine)

    def voice_file(self, node: yaml.Node, name: str | None) -> str | None:
        """A voice model file (.onnx) beside the routine, like a music file: relative to the routine, not the shell."""
        if not name or not name.lower().endswith(".onnx"):
            return name
        try:
            return str(user_path(name, self.base_dir))
        except ValueError as exc:
            self.fail(node, f"voice '{_shown(name, 60)}' {exc}")
            return None

    def choice(self, node: yaml.Node, what: str, choices: tuple[str, ...]) -> str | None:
        value = self.scalar(node)
        if value is False or value is None:
            value = "none"
        if not isinstance(value, str) or value.strip().lower() not in choices:
            shown = value if isinstance(value, str) else node.value
            self.fail(node, f"{what} '{shown}' is not one of: {', '.join(choices)}{did_you_mean(str(shown), choices)}")
            return None
        return value.strip().lower()

    def default_music(self) -> MusicSettings | None:
        tracks = builtin_tracks()
        if not tracks:
            return None
        name = "warm-pad" if "warm-pad" in tracks else sorted(tracks)[0]
        return MusicSettings(track=name, path=tracks[name].path)

    def music(self, node: yaml.Node) -> MusicSettings | None:
        value = self.scalar(node)
        if value is None or value is False or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.track(node, DEFAULT_MUSIC_VOLUME_DB)
        keys = self.mapping(node, "music", MUSIC_KEYS)
        if keys is None:
            return None
        volume_db = DEFAULT_MUSIC_VOLUME_DB
        if "volume_db" in keys:
            volume_db = self.setting(keys["volume_db"][1], SETTINGS["music_volume_db"])
        duck_db = DEFAULT_DUCK_DB
        if "duck_db" in keys:
            duck_db = self.setting(keys["duck_db"][1], SETTINGS["duck_db"])
        if "track" not in keys:
            if "volume_db" in keys or "duck_db" in keys:
                default = self.default_music()
                if default is not None:
                    # 0 dB is a level like any other (not "unset"): only a refused value falls back to the default.
                    return replace(default, volume_db=resolve("music_volume_db", given(volume_db)), duck_db=resolve("duck_db", given(duck_db)))
            self.fail(node, "music needs a 'track' (a built-in name or a file path), or write 'music: none'")
            return None
        settings = self.track(keys["track"][1], volume_db if volume_db is not None else DEFAULT_MUSIC_VOLUME_DB)
        if settings is not None and duck_db is not None:
            settings = replace(settings, duck_db=duck_db)
        return settings

    def track(self, node: yaml.Node, volume_db: float) -> MusicSettings | None:
        name = self.text(node, "music track")
        if name is None:
            return None
        tracks = builtin_tracks()
        if name in tracks:
            return MusicSettings(track=name, path=tracks[name].path, volume_db=volume_db)
        try:
            path = user_path(name, self.base_dir)
            kind = path_kind(path)
        except ValueError as exc:
            self.fail(node, f"music track '{_shown(name, 60)}' {exc}")
            return None
        except OSError as exc:
            self.fail(node, f"music file '{_shown(name, 60)}' cannot be read ({exc.strerror or exc})")
            return None
        if kind == "file":
            from .music import probe  # lazily: reading a file header is only needed for file paths

            problem = probe(path)
            if problem:
                self.fail(node, f"music file '{name}' {problem}")
                return None
            return MusicSettings(track=name, path=path, volume_db=volume_db)
        hint = did_you_mean(name, sorted(tracks))
        where = "is a folder" if kind == "folder" else "was not found"
        self.fail(
            node,
            f"music track '{name}' is not a built-in track{hint} and {where} as a file "
            f"(built-in tracks: {', '.join(sorted(tracks)) or 'none'}; paths are relative to the routine file)",
        )
        return None

    def sections(self, node: yaml.Node) -> tuple[Section, ...] | None:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.fail(node, "sections must be a list with at least one section (- title: ..., steps: [...])")
            return None
        sections = [self.section(item, i + 1) for i, item in enumerate(node.value)]
        return tuple(s for s in sections if s is not None)

    def section(self, node: yaml.Node, number: int) -> Section | None:
        before = len(self.problems)
        keys = self.mapping(node, f"section {number}", SECTION_KEYS)
        if keys is None:
            return None
        title = None
        if "title" in keys:
            title = self.text(keys["title"][1], f"section {number} title", spoken=True)
        else:
            self.fail(node, f"section {number} is missing 'title'")
        steps: list[Step] = []
        if "steps" not in keys:
            self.fail(node, f"section {number} is missing 'steps': add a list of steps")
        else:
            steps_node = keys["steps"][1]
            if not isinstance(steps_node, yaml.SequenceNode) or not steps_node.value:
                self.fail(steps_node, f"steps of section {number} must be a list with at least one step")
            else:
                for item in steps_node.value:
                    step = self.step(item)
                    if step is not None:
                        steps.append(step)
        if title is None or len(self.problems) > before:
            return None
        return Section(title=title, steps=tuple(steps), line=node.start_mark.line + 1)

    def step(self, node: yaml.Node) -> Step | None:
        keys = self.mapping(node, "a step", STEP_KEYS)
        if keys is None:
            return None
        line = node.start_mark.line + 1
        before = len(self.problems)
        if "pause" in keys:
            extra = [k for k in keys if k != "pause"]
            if extra:
                self.fail(keys[extra[0]][0], f"a pause step takes only 'pause'; '{extra[0]}' belongs in a step with 'say'")
                return None
            seconds = self.duration(keys["pause"][1], "pause")
            return PauseStep(pause_s=seconds, line=line) if seconds is not None else None
        if "breathe" in keys:
            return self.breathe_step(keys, line)
        if "say" not in keys:
            self.fail(node, "step is missing 'say' (the instruction to speak), or use 'pause: 5s' for a quiet step")
            return None
        say = self.text(keys["say"][1], "say", spoken=True)
        hold = repeat = None
        every = DEFAULT_STROKE_S
        count = None
        tick = False
        preview = None
        sides = None
        if "hold" in keys and "repeat" in keys:
            self.fail(keys["repeat"][0], "use either 'hold' (a time) or 'repeat' (a number of strokes), not both")
        if "hold" in keys:
            hold = self.duration(keys["hold"][1], "hold")
        if "repeat" in keys:
            repeat = self.number(keys["repeat"][1], "repeat", 1, MAX_REPEAT, integer=True)
        if "tick" in keys:
            tick = bool(self.boolean(keys["tick"][1], "tick"))
            if tick and "hold" not in keys:
                if "repeat" in keys:
                    self.fail(keys["tick"][0], "'tick: true' is a metronome for a 'hold'; with 'repeat' write 'count: ticks' for a tick on each stroke")
                else:
                    self.fail(keys["tick"][0], "'tick: true' needs 'hold' (the time to tick through, every 'every' seconds)")
        if "every" in keys:
            if "repeat" not in keys and not ("hold" in keys and tick):
                self.fail(keys["every"][0], "'every' (seconds per stroke) needs 'repeat' (how many strokes), or 'hold' with 'tick: true'")
            every = self.duration(keys["every"][1], "every") or DEFAULT_STROKE_S
            if every > 60:
                self.fail(keys["every"][1], f"every is {_fmt(every)} s per stroke; at most 60 s (use 'hold' for long actions)")
        if "count" in keys:
            count = self.count_mode(keys["count"][1])
            if count and "repeat" not in keys:
                self.fail(keys["count"][0], f"'count: {keys['count'][1].value}' needs 'repeat' (the number of strokes to count)")
        if "preview" in keys:
            preview = self.boolean(keys["preview"][1], "preview")
        if "sides" in keys:
            sides = self.sides(keys["sides"][1])
            if sides is not None and hold is None and repeat is None and "hold" not in keys and "repeat" not in keys:
                self.fail(keys["sides"][0], "'sides' needs an action time on each side: add 'hold' or 'repeat'")
        if len(self.problems) > before or say is None:
            return None
        return SayStep(say=say, hold_s=hold, repeat=repeat, every_s=every, count=count, sides=sides, line=line, tick=tick, preview=preview)

    def count_mode(self, node: yaml.Node) -> str | None:
        value = self.scalar(node)
        if value is True:
            return "numbers"
        if value is False or value is None:
            return None
        allowed = ("true", "false", *COUNT_MODES)
        if isinstance(value, str) and value.strip().lower() in (*COUNT_MODES, "none"):
            word = value.strip().lower()
            return None if word == "none" else word
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"count must be one of: {', '.join(allowed)}")
            return None
        shown = value if isinstance(value, str) else node.value
        self.fail(node, f"count '{shown}' is not one of: {', '.join(allowed)}{did_you_mean(str(shown), allowed)}")
        return None

    def breathe_step(self, keys: dict[str, tuple[yaml.Node, yaml.Node]], line: int) -> BreatheStep | None:
        before = len(self.problems)
        extra = [k for k in keys if k not in BREATHE_STEP_KEYS]
        if extra:
            hint = "; the breathing phases go inside it: breathe: {in: 4, hold: 7, out: 8}" if extra[0] == "hold" else ""
            self.fail(keys[extra[0]][0], f"a breathing step takes only 'breathe' and an optional 'say', not '{extra[0]}'{hint}")
        say = self.text(keys["say"][1], "say", spoken=True) if "say" in keys else None
        node = keys["breathe"][1]
        if isinstance(node, yaml.ScalarNode):
            phases = self.breath_pattern(node)
        else:
            phases = self.breath_mapping(node)
        if phases is None or len(self.problems) > before:
            return None
        in_s, hold_s, out_s, cycles = phases
        return BreatheStep(in_s=in_s, hold_s=hold_s, out_s=out_s, cycles=cycles, say=say, line=line)

    _PATTERN_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*$", re.ASCII)

    def breath_pattern(self, node: yaml.Node) -> tuple[float, float, float, int] | None:
        """`breathe: 4-7-8` (in-hold-out) or `breathe: 4-6` (in-out), three cycles."""
        match = self._PATTERN_RE.match(str(node.value))
        if not match:
            self.fail(node, "breathe must be a mapping such as {in: 4, hold: 7, out: 8, cycles: 3}, or a pattern such as 4-7-8 (in-hold-out seconds)")
            return None
        numbers = [float(g) for g in match.groups() if g is not None]
        in_s, hold_s, out_s = (numbers[0], 0.0, numbers[1]) if len(numbers) == 2 else numbers
        ok = all([self.breath_phase_ok(node, name, value) for name, value in (("in", in_s), ("hold", hold_s), ("out", out_s))])
        return (in_s, hold_s, out_s, DEFAULT_BREATH_CYCLES) if ok else None

    def breath_phase_ok(self, node: yaml.Node, name: str, seconds: float) -> bool:
        if (name == "hold" and seconds == 0) or BREATH_PHASE_MIN_S <= seconds <= BREATH_PHASE_MAX_S:
            return True
        zero = " (or 0 for no hold)" if name == "hold" else ""
        shown = f"{_fmt(seconds)} s" if seconds < 1e7 else "far too long"
        self.fail(node, f"breathe {name} is {shown}; a breathing phase lasts {_fmt(BREATH_PHASE_MIN_S)} to {_fmt(BREATH_PHASE_MAX_S)} s{zero}")
        return False

    def breath_mapping(self, node: yaml.Node) -> tuple[float, float, float, int] | None:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, "breathe must be a mapping such as {in: 4, hold: 7, out: 8, cycles: 3}, or a pattern such as 4-7-8")
            return None
        keys = self.mapping(node, "breathe", BREATHE_KEYS, hints=_BREATHE_HINTS)
        if keys is None:
            return None
        ok = True
        phases: dict[str, float] = {"hold": 0.0}
        for name in ("in", "out"):
            if name not in keys:
                self.fail(node, f"breathe is missing '{name}' (seconds to breathe {name}), such as {{in: 4, hold: 7, out: 8}}")
                ok = False
        for name in ("in", "hold", "out"):
            if name in keys:
                seconds = self.duration(keys[name][1], f"breathe {name}", allow_zero=name == "hold")
                if seconds is None or not self.breath_phase_ok(keys[name][1], name, seconds):
                    ok = False
                else:
                    phases[name] = seconds
        cycles = DEFAULT_BREATH_CYCLES
        if "cycles" in keys:
            value = self.number(keys["cycles"][1], "breathe cycles", 1, MAX_BREATH_CYCLES, integer=True)
            if value is None:
                ok = False
            else:
                cycles = int(value)
        if not ok:
            return None
        return phases["in"], phases["hold"], phases["out"], cycles

    def sides(self, node: yaml.Node) -> tuple[str, str] | None:
        value = self.scalar(node)
        if value is True:
            return DEFAULT_SIDE_LABELS.get(_primary_language(self.lang), DEFAULT_SIDE_LABELS["en"])
        if value is False:
            return None
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 2:
            self.fail(node, "sides must be a list of two labels, such as [left, right] (or true for left and right)")
            return None
        labels = [self.text(item, "a side label", spoken=True) for item in node.value]
        if None in labels:
            return None
        if labels[0].lower() == labels[1].lower():
            self.fail(node, "the two side labels must differ, such as [left, right]")
            return None
        return (labels[0], labels[1])


_NOT_SCALAR = object()


def text_problem(cleaned: str, what: str, spoken: bool = True) -> str | None:
    """What is wrong with a text (whitespace already collapsed) for a routine or `say`, or None."""
    if not cleaned:
        return f"{what} is empty: write the words to speak, or remove the key"
    bad = [ch for ch in cleaned if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\u200d"]
    if bad:
        return f"{what} contains a control character (U+{ord(bad[0]):04X}): remove it"
    if len(cleaned) > MAX_TEXT_CHARS:
        return f"{what} is {len(cleaned)} characters long; keep each text under {MAX_TEXT_CHARS} (split it into several steps)"
    if spoken and not has_words(cleaned):
        return f"{what} {cleaned!r} has nothing to speak (no letters or digits): write it in words"
    return None


def pronounce_word_problem(word: str) -> str | None:
    """What is wrong with a `pronounce:` key (whitespace already collapsed), or None."""
    shown = _shown(word, 60)
    if not word:
        return "pronounce: a key is empty: write the word as the routine writes it"
    problem = text_problem(word, f"pronounce: '{shown}'", spoken=False)
    if problem:
        return problem
    if len(word) > MAX_PRONOUNCE_WORD_CHARS:
        return f"pronounce: '{shown}' is {len(word)} characters long; a key is a word or a few, at most {MAX_PRONOUNCE_WORD_CHARS}"
    if not (_WORD_END.match(word[0]) and _WORD_END.match(word[-1])):
        return (f"pronounce: '{shown}' must begin and end with a letter or digit: it is matched as a whole word, "
                "and the punctuation around it stays as written")
    return None


_WORD_END = re.compile(r"\w")


def has_words(text: str) -> bool:
    """Whether a voice has anything to say in `text`: a letter or a digit in any script ("..." or "-" is none)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _primary_language(code: str) -> str:
    """'ko-KR' -> 'ko'."""
    return re.split(r"[-_]", code or "en")[0].lower()


def _fmt(value: float) -> str:
    try:
        return f"{value:g}"
    except OverflowError:  # an int too large for a float
        return _shown(str(value))
