"""Routine parsing and every validation message, with the line and column it points at."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceguide import RoutineError, load_routine, parse_routine
from voiceguide.library import builtin_routines
from voiceguide.routine import BreatheStep, PauseStep, SayStep, parse_duration

from .conftest import SMALL_ROUTINE, problems


@pytest.mark.parametrize(
    "value, seconds",
    [(20, 20.0), (2.5, 2.5), ("20s", 20.0), ("1m30s", 90.0), ("1:30", 90.0), ("1:02:03", 3723.0),
     ("90", 90.0), ("1.5s", 1.5), ("2m", 120.0), ("1h", 3600.0), ("45 sec", 45.0), ("2 min", 120.0)],
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["abc", "1x", "", "s", True, [1], "1:75:00x", "1:60", "1:60:00", "0x10", "1_000", "１０s", "1e3"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_small_routine_parses():
    routine = parse_routine(SMALL_ROUTINE, source="small.yaml")
    assert routine.title == "Small test routine"
    assert routine.music is None
    assert routine.lead_in_s == 1.0
    neck = routine.sections[0]
    circles, stroke, pause = neck.steps
    assert isinstance(circles, SayStep) and circles.repeat == 3 and circles.every_s == 1.5 and circles.count
    assert circles.action_s == pytest.approx(4.5)
    assert stroke.sides == ("left", "right") and stroke.hold_s == 3.0
    assert isinstance(pause, PauseStep) and pause.pause_s == 2.0
    assert circles.line == 9


def test_every_defaults_when_omitted():
    routine = parse_routine("title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n        repeat: 4\n")
    assert routine.sections[0].steps[0].action_s == pytest.approx(4 * 2.5)


def test_unknown_key_gets_did_you_mean_with_location():
    text = "title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n        hodl: 5s\n"
    (message,) = problems(text)
    assert message.startswith("r.yaml:7:9: unknown key 'hodl'")
    assert "did you mean 'hold'" in message


def test_all_problems_reported_at_once():
    text = (
        "titel: t\nmusic: none\npace: 9\nsections:\n  - title: s\n    steps:\n"
        "      - hold: 5s\n      - say: x\n        hold: -3\n      - say: y\n        repeat: 3\n        hold: 2s\n"
    )
    found = problems(text)
    joined = "\n".join(found)
    assert "r.yaml:1:1: unknown key 'titel'" in joined and "did you mean 'title'" in joined
    assert "missing 'title'" in joined
    assert "r.yaml:3:7: pace is 9" in joined
    assert "r.yaml:7:9: step is missing 'say'" in joined
    assert "r.yaml:9:15: hold must be more than zero seconds" in joined
    assert "not both" in joined
    assert len(found) >= 6


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("      - say: go\n        hold: 0\n", "hold must be more than zero"),
        ("      - say: go\n        hold: 3h\n", "at most 2:00:00"),
        ("      - say: go\n        hold: soon\n", "is not a duration"),
        ("      - say: '   '\n        hold: 2\n", "say is empty"),
        ("      - say: \"go\\x07now\"\n", "control character (U+0007)"),
        ("      - say: " + "word " * 200 + "\n", "split it into several steps"),
        ("      - say: go\n        repeat: 100000\n", "repeat is 100000"),
        ("      - say: go\n        repeat: 2.5\n", "must be a whole number"),
        ("      - say: go\n        hold: 3\n        sides: [left]\n", "list of two labels"),
        ("      - say: go\n        hold: 3\n        sides: [left, LEFT]\n", "must differ"),
        ("      - say: go\n        sides: [left, right]\n", "needs an action time"),
        ("      - say: go\n        count: true\n        hold: 3\n", "'count: true' needs 'repeat'"),
        ("      - say: go\n        every: 2s\n", "'every' (seconds per stroke) needs 'repeat'"),
        ("      - pause: 3s\n        say: hi\n", "a pause step takes only 'pause'"),
        ("      - pause: -1\n", "pause must be more than zero"),
        ("      - say: [a, b]\n", "say must be text"),
    ],
)
def test_step_validation_messages(snippet, expected):
    text = "title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n" + snippet
    joined = "\n".join(problems(text))
    assert expected in joined
    assert joined.startswith("r.yaml:6:") or joined.startswith("r.yaml:7:") or joined.startswith("r.yaml:8:")


def steps_of(body: str, head: str = ""):
    return parse_routine("title: t\nmusic: none\n" + head + "sections:\n  - title: s\n    steps:\n" + body).sections[0].steps


def test_breathe_steps_parse():
    full, pattern, short = steps_of(
        "      - say: Breathe with me.\n        breathe: {in: 4, hold: 7s, out: 8, cycles: 2}\n"
        "      - breathe: 4-7-8\n"
        "      - breathe: {in: 4, out: 6}\n"
    )
    assert full == BreatheStep(in_s=4, hold_s=7, out_s=8, cycles=2, say="Breathe with me.", line=6)
    assert (pattern.in_s, pattern.hold_s, pattern.out_s, pattern.cycles, pattern.say) == (4, 7, 8, 3, None)
    assert (short.hold_s, short.cycles, short.action_s) == (0, 3, 30)
    assert steps_of("      - breathe: 4-6\n")[0].cycle_s == 10


def test_count_tick_and_preview_keys_parse():
    numbers, countdown, ticks, plain, hold, opted_out = steps_of(
        "      - say: a\n        repeat: 3\n        count: true\n"
        "      - say: b\n        repeat: 3\n        count: countdown\n"
        "      - say: c\n        repeat: 3\n        count: Ticks\n"
        "      - say: d\n        repeat: 3\n        count: false\n"
        "      - say: e\n        hold: 20s\n        tick: true\n        every: 4s\n"
        "      - say: f\n        hold: 5s\n        preview: false\n",
    )
    assert [s.count for s in (numbers, countdown, ticks, plain)] == ["numbers", "countdown", "ticks", None]
    assert hold.tick and hold.every_s == 4 and hold.action_s == 20
    assert opted_out.preview is False and hold.preview is None
    routine = parse_routine("title: t\nmusic: none\npreview: true\nsections:\n  - title: s\n    steps:\n      - say: go\n")
    assert routine.preview is True
    assert SayStep("go", repeat=2, count=True).count == "numbers" and SayStep("go", count=False).count is None


def test_sides_true_uses_the_routine_language():
    (step,) = steps_of("      - say: go\n        hold: 3\n        sides: true\n", head="language: ko\n")
    assert step.sides == ("왼쪽", "오른쪽")
    (step,) = steps_of("      - say: go\n        hold: 3\n        sides: true\n", head="language: fr\n")
    assert step.sides == ("left", "right")


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("      - breathe: {inhale: 4, out: 6}\n", "r.yaml:6:19: unknown key 'inhale' in breathe (did you mean 'in'?)"),
        ("      - breathe: {in: 4, out: 6, cylces: 2}\n", "r.yaml:6:34: unknown key 'cylces' in breathe (did you mean 'cycles'?)"),
        ("      - breathe: {in: 4}\n", "r.yaml:6:18: breathe is missing 'out'"),
        ("      - breathe: {in: 0.5, out: 6}\n", "r.yaml:6:23: breathe in is 0.5 s; a breathing phase lasts 1 to 30 s"),
        ("      - breathe: {in: 4, hold: 45, out: 6}\n", "r.yaml:6:32: breathe hold is 45 s; a breathing phase lasts 1 to 30 s (or 0 for no hold)"),
        ("      - breathe: {in: 4, out: soon}\n", "r.yaml:6:31: breathe out: 'soon' is not a duration"),
        ("      - breathe: {in: 4, out: 6, cycles: 100}\n", "r.yaml:6:42: breathe cycles is 100; it must be between 1 and 50"),
        ("      - breathe: {in: 4, out: 6, cycles: 1.5}\n", "r.yaml:6:42: breathe cycles must be a whole number"),
        ("      - breathe: fast\n", "r.yaml:6:18: breathe must be a mapping such as {in: 4, hold: 7, out: 8, cycles: 3}, or a pattern"),
        ("      - breathe: 4-40-8\n", "r.yaml:6:18: breathe hold is 40 s"),
        ("      - breathe: [4, 8]\n", "r.yaml:6:18: breathe must be a mapping"),
        ("      - breathe: 4-8\n        hold: 5\n", "r.yaml:7:9: a breathing step takes only 'breathe' and an optional 'say', not 'hold'; the breathing phases go inside it"),
        ("      - breathe: 4-8\n        say: ''\n", "r.yaml:7:14: say is empty"),
        ("      - say: go\n        repeat: 3\n        count: tiks\n", "r.yaml:8:16: count 'tiks' is not one of: true, false, numbers, countdown, ticks (did you mean 'ticks'?)"),
        ("      - say: go\n        hold: 3\n        count: countdown\n", "r.yaml:8:9: 'count: countdown' needs 'repeat'"),
        ("      - say: go\n        repeat: 3\n        tick: true\n", "r.yaml:8:9: 'tick: true' is a metronome for a 'hold'; with 'repeat' write 'count: ticks'"),
        ("      - say: go\n        tick: true\n", "r.yaml:7:9: 'tick: true' needs 'hold'"),
        ("      - say: go\n        tick: often\n        hold: 3\n", "r.yaml:7:15: tick must be true or false"),
        ("      - say: go\n        hold: 3\n        every: 1s\n", "r.yaml:8:9: 'every' (seconds per stroke) needs 'repeat' (how many strokes), or 'hold' with 'tick: true'"),
        ("      - say: go\n        hold: 3\n        preview: maybe\n", "r.yaml:8:18: preview must be true or false"),
        ("      - say: go\n        preveiw: false\n", "r.yaml:7:9: unknown key 'preveiw' in a step (did you mean 'preview'?)"),
        ("      - say: go\n        breath: 4-8\n", "r.yaml:7:9: unknown key 'breath' in a step (did you mean 'breathe'?)"),
    ],
)
def test_new_step_keys_validation_messages(snippet, expected):
    text = "title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n" + snippet
    found = problems(text)
    assert any(line.startswith(expected) for line in found), found


def test_top_level_preview_must_be_boolean():
    (message,) = problems("title: t\nmusic: none\npreview: sometimes\nsections:\n  - title: s\n    steps:\n      - say: go\n")
    assert message.startswith("r.yaml:3:10: preview must be true or false")


def test_breathing_counts_toward_the_session_limit_whatever_the_pace():
    steps = "".join("      - breathe: {in: 30, hold: 30, out: 30, cycles: 50}\n" for _ in range(5))
    joined = "\n".join(problems("title: t\nmusic: none\npace: 4\nsections:\n  - title: s\n    steps:\n" + steps))
    assert "a session may be at most 6:00:00" in joined


def test_session_longer_than_six_hours_is_refused():
    steps = "".join("      - say: go\n        hold: 1h50m\n" for _ in range(4))
    joined = "\n".join(problems("title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n" + steps))
    assert "a session may be at most 6:00:00" in joined


def test_yaml_syntax_error_has_location():
    (message,) = problems("title: t\nsections:\n  - title: [unclosed\n")
    assert message.startswith("r.yaml:4:1: YAML syntax error") or message.startswith("r.yaml:3:")


def test_unsafe_tags_are_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    text = f"title: !!python/object/apply:os.system ['touch {marker}']\nmusic: none\nsections: []\n"
    joined = "\n".join(problems(text))
    assert "title must be text" in joined
    assert not marker.exists()


def test_alias_bomb_is_refused():
    lines = ["title: t", "music: none", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    (message,) = problems("\n".join(lines) + "\n")
    assert "expands to more than" in message


def test_unknown_music_track_lists_valid_ones(write_routine):
    path = write_routine("title: t\nmusic: {track: no-such-track}\nsections:\n  - title: s\n    steps:\n      - say: go\n")
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    assert "music track 'no-such-track' is not a built-in track" in str(info.value)
    assert f"{path}:2:16:" in str(info.value)


def test_music_path_is_relative_to_the_routine(write_routine, tmp_path):
    import numpy as np
    import soundfile

    soundfile.write(str(tmp_path / "bed.wav"), np.zeros(44100 * 2, np.float32), 44100)
    path = write_routine("title: t\nmusic: {track: bed.wav, volume_db: -25}\nsections:\n  - title: s\n    steps:\n      - say: go\n")
    routine = load_routine(path)
    assert routine.music.path == tmp_path / "bed.wav" and routine.music.volume_db == -25


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "is empty"), (b"   \n# only a comment\n", "is empty"), (b"title: caf\xe9\n", "is not UTF-8"), (b"- a\n- b\n", "must be a mapping")],
)
def test_file_level_problems(tmp_path, content, expected):
    path = tmp_path / "r.yaml"
    path.write_bytes(content)
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    assert expected in str(info.value)
    assert str(info.value).startswith(str(path))


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(RoutineError, match="is a folder"):
        load_routine(tmp_path)
    with pytest.raises(RoutineError, match="no such file or built-in routine"):
        load_routine(tmp_path / "nope.yaml")
    with pytest.raises(RoutineError, match="did you mean 'sculpt'"):
        load_routine("sculp")


def test_builtin_routines_load():
    names = builtin_routines()
    assert {"sculpt", "soothe", "drain", "morning", "ritual", "soothe-ko"} <= set(names)
    for name in names:
        routine = load_routine(name)
        assert routine.sections and routine.intro and routine.outro
        # Every intro carries a safety note: when to skip the routine.
        assert any(word in routine.intro.lower() for word in ("skip", "avoid", "피하세요"))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_routine_error(data):
    try:
        parse_routine(data, source="fuzz.yaml")
    except RoutineError as exc:
        assert str(exc).startswith("fuzz.yaml")


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["title", "sections", "steps", "say", "hold", "repeat", "every", "sides", "pause", "music", "x",
                         "count", "tick", "preview", "breathe", "in", "out", "cycles"]),
        children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_yaml_values)
def test_arbitrary_yaml_structures_never_raise_anything_but_routine_error(value):
    import yaml

    try:
        parse_routine(yaml.safe_dump(value), source="fuzz.yaml")
    except RoutineError:
        pass


DOCS = Path(__file__).resolve().parents[1] / "docs" / "routine-format.md"


def test_docs_example_parses_and_every_key_is_documented():
    from voiceguide import routine as module

    text = DOCS.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    parsed = parse_routine(example, source="docs example")
    assert parsed.preview and any(isinstance(s, BreatheStep) for sec in parsed.sections for s in sec.steps)
    for keys in (module.TOP_KEYS, module.STEP_KEYS, module.VOICE_KEYS, module.MUSIC_KEYS, module.BREATHE_KEYS):
        for key in keys:
            assert f"`{key}`" in text, f"'{key}' is not documented in {DOCS.name}"
    for mode in module.COUNT_MODES:
        assert f"`{mode}`" in text
