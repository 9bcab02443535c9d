"""The routine format as a JSON Schema (draft 2020-12): knobs from the settings table, structure from routine.py.

For editors and other tools; `voiceguide check` stays the authority (it also checks what a schema cannot: text a
voice can say, music files, the session's total length). Choices are matched as written in lower case.
"""

from __future__ import annotations

from typing import Any

from .routine import (
    BREATH_PHASE_MAX_S, BREATH_PHASE_MIN_S, BREATHE_KEYS, COUNT_MODES, MAX_BREATH_CYCLES, MAX_DURATION_S, MAX_REPEAT,
    MAX_PRONOUNCE_ENTRIES, MAX_PRONOUNCE_WORD_CHARS, MAX_RESPELLING_CHARS, MAX_TEXT_CHARS, MUSIC_KEYS, SECTION_KEYS,
    STEP_KEYS, TOP_KEYS, VOICE_KEYS,
)
from .settings import SETTINGS, Setting

SCHEMA_ID = "https://voiceguide.invalid/routine.schema.json"
MAX_STROKE_S = 60.0

_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_DECIMAL = r"[0-9]+(?:\.[0-9]+)?"


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _duration_pattern() -> str:
    """The strings parse_duration reads: 20, 20s, 1m30s, 2 min, 1h, 1:30, 1:02:03 (plain ASCII digits)."""
    hours = _any_case("h") + "(?:" + _any_case("ours") + "?|" + _any_case("our") + "|" + _any_case("rs") + "?)?"
    minutes = _any_case("m") + "(?:" + _any_case("in") + "(?:" + _any_case("utes") + "?|" + _any_case("ute") + "|" + _any_case("s") + ")?)?"
    seconds = _any_case("s") + "(?:" + _any_case("ec") + "(?:" + _any_case("onds") + "?|" + _any_case("ond") + "|" + _any_case("s") + ")?)?"
    units = (
        rf"(?=\s*[0-9])(?:{_DECIMAL}\s*{hours})?\s*(?:{_DECIMAL}\s*{minutes})?\s*(?:{_DECIMAL}\s*{seconds})?"
    )
    clock = r"[0-9]+:[0-5][0-9](?::[0-5][0-9])?(?:\.[0-9]+)?"
    return rf"^\s*(?:{_NUMBER}|{clock}|{units})\s*$"


def duration(minimum: float = 0.0, exclusive: bool = True, maximum: float = MAX_DURATION_S) -> dict[str, Any]:
    """Seconds as a number (within the bounds), or a duration string (its value is checked by `voiceguide check`)."""
    number: dict[str, Any] = {"type": "number", "maximum": maximum}
    number["exclusiveMinimum" if exclusive else "minimum"] = minimum
    return {"anyOf": [number, {"type": "string", "pattern": _duration_pattern()}]}


def text(spoken: bool = False) -> dict[str, Any]:
    string: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": r"\S"}
    if spoken:
        string["maxLength"] = MAX_TEXT_CHARS
    return {"anyOf": [string, {"type": "number"}]}  # 'say: 5' is the text "5"


def number(low: float | None, high: float | None, integer: bool = False) -> dict[str, Any]:
    """A number within the bounds, or the same written as a quoted plain decimal ('140')."""
    plain: dict[str, Any] = {"type": "integer" if integer else "number"}
    if low is not None:
        plain["minimum"] = low
    if high is not None:
        plain["maximum"] = high
    digits = r"^\s*[+-]?[0-9]+\s*$" if integer else rf"^\s*[+-]?(?:{_NUMBER})\s*$"
    return {"anyOf": [plain, {"type": "string", "pattern": digits}]}


def knob(setting: Setting) -> dict[str, Any]:
    """A knob's schema from the settings table, with its help as the description."""
    if setting.kind == "choice":
        choices = list(setting.choice_list())
        out: dict[str, Any] = {"enum": choices + ([False, None] if "none" in choices else [])}
    elif setting.kind == "duration":
        out = duration(setting.low or 0.0, exclusive=setting.low is None)
    elif setting.kind == "bool":
        out = {"type": "boolean"}
    elif setting.kind in ("int", "float"):
        out = number(setting.low, setting.high, integer=setting.kind == "int")
    elif setting.key == "language":
        out = {"type": "string", "pattern": r"^\s*[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*\s*$"}
    else:
        out = text()
    out["description"] = setting.cli_help() if setting.flag else setting.help
    return out


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def routine_schema() -> dict[str, Any]:
    """The JSON Schema of a routine file (as YAML reads it into plain values)."""
    voice_keys = {"name": "voice", **{k: k for k in VOICE_KEYS if k != "name"}}
    voice = _object({k: knob(SETTINGS[v]) for k, v in voice_keys.items()})
    music = _object({
        "track": knob(SETTINGS["music"]),
        "volume_db": knob(SETTINGS["music_volume_db"]),
        "duck_db": knob(SETTINGS["duck_db"]),
    })
    assert tuple(voice["properties"]) == VOICE_KEYS and tuple(music["properties"]) == MUSIC_KEYS
    phase = duration(BREATH_PHASE_MIN_S, exclusive=False, maximum=BREATH_PHASE_MAX_S)
    breathe = {
        "anyOf": [
            {"type": "string", "pattern": rf"^\s*{_DECIMAL}\s*-\s*{_DECIMAL}(?:\s*-\s*{_DECIMAL})?\s*$"},
            _object({
                "in": phase,
                "hold": {"anyOf": [{"const": 0}, phase]},
                "out": phase,
                "cycles": number(1, MAX_BREATH_CYCLES, integer=True),
            }, required=("in", "out")),
        ],
        "description": "in-hold-out seconds (4-7-8, 4-6) or a mapping {in, hold, out, cycles}",
    }
    assert tuple(breathe["anyOf"][1]["properties"]) == BREATHE_KEYS
    say_step = _object({
        "say": text(spoken=True),
        "hold": duration(),
        "repeat": number(1, MAX_REPEAT, integer=True),
        "every": duration(maximum=MAX_STROKE_S),
        "count": {"enum": [*COUNT_MODES, "none", True, False, None]},
        "tick": {"type": "boolean"},
        "sides": {"anyOf": [{"type": "boolean"}, {"type": "array", "items": text(spoken=True), "minItems": 2, "maxItems": 2}]},
        "preview": {"type": "boolean"},
    }, required=("say",), **{"not": {"required": ["hold", "repeat"]}})
    pause_step = _object({"pause": duration()}, required=("pause",))
    breathe_step = _object({"say": text(spoken=True), "breathe": breathe}, required=("breathe",))
    step_keys = {*say_step["properties"], *pause_step["properties"], *breathe_step["properties"]}
    assert step_keys == set(STEP_KEYS), step_keys ^ set(STEP_KEYS)
    section = _object({
        "title": text(),
        "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
    }, required=SECTION_KEYS)
    top = {
        "title": text(),
        "description": text(),
        "language": knob(SETTINGS["language"]),
        "voice": {"anyOf": [voice, text()]},
        "pace": knob(SETTINGS["pace"]),
        "music": {"anyOf": [music, {"enum": ["none", False, None]}, knob(SETTINGS["music"])]},
        "chimes": knob(SETTINGS["chimes"]),
        "lead_in": knob(SETTINGS["lead_in"]),
        "preview": {"type": "boolean"},
        "pan": knob(SETTINGS["pan"]),
        "intro": text(spoken=True),
        "outro": text(spoken=True),
        "pronounce": {
            "anyOf": [
                {
                    "type": "object",
                    # A word or a few, whole: a letter or digit at each end (YAML may read a key like 5 as a number).
                    "propertyNames": {"pattern": r"^\s*\w(?:.*\w)?\s*$", "maxLength": MAX_PRONOUNCE_WORD_CHARS},
                    "additionalProperties": {"anyOf": [
                        {"type": "string", "minLength": 1, "maxLength": MAX_RESPELLING_CHARS, "pattern": r"\S"},
                        {"type": "number"},
                    ]},
                    "maxProperties": MAX_PRONOUNCE_ENTRIES,
                },
                {"type": "null"},
            ],
            "description": "How the voice says words of this routine: {word: respelling}, such as {Yintang: yin-tahng}",
        },
        "sections": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/section"}},
    }
    assert tuple(top) == TOP_KEYS
    schema = _object(top, required=("title", "sections"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "voiceguide routine",
        "description": "A routine script for voiceguide (docs/routine-format.md).",
        **schema,
        "$defs": {
            "section": section,
            "step": {"anyOf": [say_step, pause_step, breathe_step]},
        },
    }
