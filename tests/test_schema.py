"""The routine format's JSON Schema (voiceguide schema) accepts what voiceguide accepts and refuses typical mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from voiceguide.errors import RoutineError
from voiceguide.library import builtin_routines
from voiceguide.routine import parse_routine
from voiceguide.schema import routine_schema
from voiceguide.starter import starter_routine

from .conftest import SMALL_ROUTINE, invoke

VALIDATOR = Draft202012Validator(routine_schema())


def errors(text: str) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(routine_schema())


@pytest.mark.parametrize("name", sorted(builtin_routines()))
def test_every_builtin_routine_is_valid(name):
    assert errors(builtin_routines()[name].read_text(encoding="utf-8")) == []


def test_the_starter_routine_and_the_documented_examples_are_valid():
    assert errors(starter_routine("Evening glow")) == []
    assert errors(SMALL_ROUTINE) == []
    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/routine-format.md"):
        example = (root / doc).read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
        assert errors(example) == [], doc


STEP = "title: T\nsections:\n  - title: A\n    steps:\n      - {}\n"

VALID = {
    "durations": STEP.format("{say: Hold., hold: 1m30s}"),
    "clock": STEP.format("{say: Hold., hold: '1:05'}"),
    "spelled": STEP.format("{say: Hold., hold: 2 min}"),
    "breathe pattern": STEP.format("{breathe: 4-7-8}"),
    "breathe mapping": STEP.format("{say: Breathe., breathe: {in: 4, hold: 0, out: 8, cycles: 3}}"),
    "music volume 0": "title: T\nmusic: {volume_db: 0}\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "music none": "title: T\nmusic: none\nchimes: false\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "quoted number": "title: T\nvoice: {rate_wpm: '140', engine: piper}\npace: 0.8\nsections:\n  - title: A\n    steps:\n      - pause: 5\n",
    "sides true": STEP.format("{say: Stroke., repeat: 4, every: 2s, count: countdown, sides: true}"),
}

INVALID = {
    "unknown top-level key": "title: T\ntempo: 2\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "unknown step key": STEP.format("{say: Hold., hodl: 20s}"),
    "wrong type": "title: T\npace: fast\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "pace out of range": "title: T\npace: 5\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "negative duration": STEP.format("{say: Hold., hold: -5}"),
    "negative duration text": STEP.format("{say: Hold., hold: -5s}"),
    "not a duration": STEP.format("{say: Hold., hold: soon}"),
    "three sides": STEP.format("{say: Hold., hold: 5s, sides: [left, right, middle]}"),
    "hold and repeat": STEP.format("{say: Hold., hold: 5s, repeat: 3}"),
    "pause with say": STEP.format("{pause: 5s, say: Rest.}"),
    "no sections": "title: T\nsections: []\n",
    "no title": "sections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "unknown chime set": "title: T\nchimes: gong\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "rate too high": "title: T\nvoice: {rate_wpm: 900}\nsections:\n  - title: A\n    steps:\n      - pause: 5s\n",
    "long breath": STEP.format("{breathe: {in: 40, out: 8}}"),
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid_routines_pass_the_schema_and_voiceguide(text):
    assert errors(text) == []
    parse_routine(text)


@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_mistakes_fail_the_schema_and_voiceguide(text):
    assert errors(text)
    with pytest.raises(RoutineError):
        parse_routine(text)


def test_the_schema_command_prints_it():
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(json.dumps(routine_schema()))
