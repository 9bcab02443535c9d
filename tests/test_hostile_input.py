"""Hostile input, class by class: never a traceback or 'error: unexpected ...', always exit 2 with a located
message (FILE:LINE:COLUMN for routine and config files) and nothing written.

1. numbers of thousands of digits, inf and nan in every numeric and duration key;
2. paths that cannot name a file here: ~nosuchuser/..., names over 255 bytes (routine, config, options);
3. nan and inf in float options;
4. hostile config files (the routine's YAML machinery, reused);
5. durations and numbers only in plain ASCII decimal digits (no 1:60, 0x10, 1_000, 0o17, full-width digits);
6. explicit YAML tags on any node, refused at their place.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceguide import RoutineError, parse_routine
from voiceguide.config import load_config
from voiceguide.routine import parse_duration

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke

HEAD = "title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n"
HUGE = "9" * 5000  # over Python's 4300-digit int limit
LONG_NAME = "a" * 300  # over NAME_MAX (255 bytes)


def located(message: str, source: str) -> bool:
    """Every line of `message` is SOURCE:LINE:COLUMN: ... ."""
    return all(re.match(rf"{re.escape(source)}:\d+:\d+: \S", line) for line in message.splitlines())


def check_fails_at(path: Path, where: str, hint: str) -> str:
    result = invoke("check", path)
    assert_clean_failure(result, 2)
    assert "unexpected" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith(f"{path}:{where}: ") and hint in line]
    assert lines, f"expected {path}:{where}: ...{hint!r} in:\n{result.output}"
    return lines[0]


# --- 1 and 5: numbers and durations in a routine -------------------------------------------------------

ROUTINE_CASES = [
    # id, routine text, "LINE:COLUMN", part of the message
    ("hold-5000-digits", HEAD + f"      - say: go\n        hold: {HUGE}\n", "7:15", "far too long"),
    ("repeat-5000-digits", HEAD + f"      - say: go\n        repeat: {HUGE}\n", "7:17", "it must be between 1 and 500"),
    ("repeat-400-digits", HEAD + f"      - say: go\n        repeat: {'9' * 400}\n", "7:17", "it must be between 1 and 500"),
    ("every-5000-digits", HEAD + f"      - say: go\n        repeat: 3\n        every: {HUGE}\n", "8:16", "far too long"),
    ("pause-5000-digits", HEAD + f"      - pause: {HUGE}\n", "6:16", "far too long"),
    ("pace-5000-digits", f"pace: {HUGE}\n" + HEAD + "      - say: go\n", "1:7", "it must be between 0.25 and 4"),
    ("pace-inf", "pace: .inf\n" + HEAD + "      - say: go\n", "1:7", "not infinity or NaN"),
    ("pace-1e400", "pace: 1.0e+400\n" + HEAD + "      - say: go\n", "1:7", "plain decimal digits"),
    ("lead-in-5000-digits", f"lead_in: {HUGE}\n" + HEAD + "      - say: go\n", "1:10", "far too long"),
    ("lead-in-nan", "lead_in: .nan\n" + HEAD + "      - say: go\n", "1:10", "finite"),
    ("rate-5000-digits", f"voice: {{rate_wpm: {HUGE}}}\n" + HEAD + "      - say: go\n", "1:19", "between 60 and 450"),
    ("volume-nan", "voice: {volume: .nan}\n" + HEAD + "      - say: go\n", "1:17", "not infinity or NaN"),
    ("volume-db-5000-digits", f"music: {{volume_db: -{HUGE}}}\ntitle: t\nsections: [{{title: s, steps: [{{say: go}}]}}]\n", "1:20", "between -60 and 0"),
    ("duck-db-inf", "music: {duck_db: -.inf}\ntitle: t\nsections: [{title: s, steps: [{say: go}]}]\n", "1:18", "not infinity or NaN"),
    ("breathe-in-5000-digits", HEAD + f"      - breathe: {{in: {HUGE}, out: 4}}\n", "6:23", "far too long"),
    ("breathe-cycles-5000-digits", HEAD + f"      - breathe: {{in: 4, out: 4, cycles: {HUGE}}}\n", "6:42", "between 1 and 50"),
    ("breathe-pattern-5000-digits", HEAD + f"      - breathe: {HUGE}-4\n", "6:18", "far too long"),
    ("title-5000-digits", f"title: {HUGE}\nmusic: none\nsections: [{{title: s, steps: [{{say: go}}]}}]\n", "1:8", "5000 characters"),
    ("say-impossible-date", HEAD + "      - say: go\n      - say: 2001-13-45\n        hold: 1:61\n", "8:15", "below 60"),
    # 5: only plain ASCII decimal digits and the documented forms
    ("clock-seconds-60", HEAD + "      - say: go\n        hold: 1:60\n", "7:15", "below 60"),
    ("clock-minutes-60", HEAD + "      - say: go\n        hold: 1:60:00\n", "7:15", "below 60"),
    ("clock-one-digit", HEAD + "      - say: go\n        hold: 1:5\n", "7:15", "two-digit seconds"),
    ("hex-duration", HEAD + "      - say: go\n        hold: 0x10\n", "7:15", "plain decimal digits"),
    ("octal-duration", HEAD + "      - say: go\n        hold: 0o17\n", "7:15", "plain decimal digits"),
    ("underscore-duration", HEAD + "      - say: go\n        hold: 1_000\n", "7:15", "plain decimal digits"),
    ("fullwidth-duration", HEAD + "      - say: go\n        hold: １０s\n", "7:15", "plain decimal digits"),
    ("arabic-indic-duration", HEAD + "      - say: go\n        hold: ١٠\n", "7:15", "plain decimal digits"),
    ("exponent-duration", HEAD + "      - say: go\n        hold: 1e3\n", "7:15", "plain decimal digits"),
    ("fullwidth-breathe", HEAD + "      - breathe: ４-６\n", "6:18", "pattern"),
    ("sexagesimal-repeat", HEAD + "      - say: go\n        repeat: 1:30\n", "7:17", "plain decimal digits"),
    ("hex-repeat", HEAD + "      - say: go\n        repeat: 0x10\n", "7:17", "plain decimal digits"),
    ("underscore-repeat", HEAD + "      - say: go\n        repeat: 1_0\n", "7:17", "plain decimal digits"),
    ("octal-rate", "voice: {rate_wpm: 0o226}\n" + HEAD + "      - say: go\n", "1:19", "plain decimal digits"),
    ("fullwidth-pace", "pace: '１'\n" + HEAD + "      - say: go\n", "1:7", "plain decimal digits"),
    # 6: explicit tags, on scalars, mappings and sequences alike
    ("tag-python-title", "title: !!python/object/apply:os.system ['true']\nmusic: none\nsections: [{title: s, steps: [{say: go}]}]\n", "1:8", "YAML tag '!!python/object/apply:os.system' is refused"),
    ("tag-local-say", HEAD + "      - say: !foo bar\n", "6:14", "YAML tag '!foo' is refused"),
    ("tag-str-hold", HEAD + "      - say: go\n        hold: !!str 5\n", "7:15", "YAML tag '!!str' is refused"),
    ("tag-int-repeat", HEAD + "      - say: go\n        repeat: !!int 5\n", "7:17", "YAML tag '!!int' is refused"),
    ("tag-non-specific", HEAD + "      - say: ! go\n", "6:14", "YAML tag '!' is refused"),
    ("tag-verbatim", HEAD + "      - say: !<tag:example.com,2000:x> go\n", "6:14", "is refused"),
    ("tag-on-mapping", HEAD + "      - !!map {say: go}\n", "6:9", "YAML tag '!!map' is refused"),
    ("tag-on-sequence", "title: t\nmusic: none\nsections: !!seq [{title: s, steps: [{say: go}]}]\n", "3:11", "YAML tag '!!seq' is refused"),
    ("tag-on-key", "!!str title: t\nmusic: none\nsections: [{title: s, steps: [{say: go}]}]\n", "1:1", "YAML tag '!!str' is refused"),
    ("tag-set", "title: t\nmusic: !!set {a, b}\nsections: [{title: s, steps: [{say: go}]}]\n", "2:8", "YAML tag '!!set' is refused"),
]


@pytest.mark.parametrize("case, text, where, hint", ROUTINE_CASES, ids=[c[0] for c in ROUTINE_CASES])
def test_hostile_routine_values_are_exit_2_at_their_place(case, text, where, hint, write_routine):
    check_fails_at(write_routine(text), where, hint)


@pytest.mark.parametrize(
    "value, seconds",
    [("20", 20.0), (" 2.5 ", 2.5), (".5", 0.5), ("1:30", 90.0), ("0:05", 5.0), ("75:00", 4500.0), ("1:02:03", 3723.0),
     ("1:59:59.5", 7199.5), ("1m30s", 90.0), ("90s", 90.0), ("1.5h", 5400.0), ("2 min", 120.0), (7, 7.0), (2.5, 2.5)],
)
def test_documented_durations_still_read(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["1:60", "1:60:00", "0:99", "1:5", "1:2:03", "0x10", "0o17", "0b11", "1_000", "1e3", "１０", "１０s", "١٠", "𝟙𝟘s",
     ".inf", "-.inf", "nan", "infinity", HUGE + "s", HUGE, 10 ** 400, float("inf"), float("nan")],
)
def test_lenient_or_impossible_durations_are_refused(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_leading_zeros_read_as_decimal_not_octal():
    routine = parse_routine(HEAD + "      - say: go\n        repeat: 010\n        every: 02\n")
    step = routine.sections[0].steps[0]
    assert step.repeat == 10 and step.every_s == 2.0  # YAML 1.1 would read 010 as octal 8


def test_quoted_numbers_are_still_numbers():
    routine = parse_routine("pace: '0.8'\nvoice: {rate_wpm: \"140\"}\n" + HEAD + "      - say: go\n        repeat: '4'\n")
    assert routine.pace == 0.8 and routine.voice.rate_wpm == 140 and routine.sections[0].steps[0].repeat == 4


def test_every_tag_is_reported_with_the_other_problems():
    text = "title: !!str t\nmusic: none\nsections:\n  - title: !x s\n    steps:\n      - say: go\n        hodl: 5\n"
    with pytest.raises(RoutineError) as info:
        parse_routine(text, source="r.yaml")
    lines = str(info.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["r.yaml:1:8", "r.yaml:4:12", "r.yaml:7:9"]


# --- property tests: random scalars in every numeric and duration key ----------------------------------

_HOSTILE_SCALARS = [
    HUGE, "-" + HUGE, "9" * 400, "." + "9" * 5000, ".inf", "-.inf", ".nan", "1e400", "1.0e+400", "-1.0e+400", "0x10",
    "0o17", "0b11", "1_000", "1:30", "1:60", "190:20:30", "１０", "١٠", "10s", "1m", "1:05", "~", "null", "yes", "no",
    "true", "''", '""', "[]", "{}", "[1, 2]", "{a: 1}", "!!str 5", "!!int 5", "!foo 5", "!!float .inf", "2001-13-45",
    "2001-01-01", "*nope", "&a 5", "'5'", '"\\x00"', '"\\u202e5"', "- 5", "? 5", "5 # comment", "-0", "+5", "0", "4-7-8",
]

_scalar_texts = st.one_of(
    st.sampled_from(_HOSTILE_SCALARS),
    st.integers(min_value=-(10 ** 4000), max_value=10 ** 4000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.:_-+eExob hmsinfa１٠", max_size=12),
    st.text(max_size=12).map(json.dumps),  # any characters, double-quoted
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=8),
)

ROUTINE_SLOTS = {
    "pace": "pace: {v}\n" + HEAD + "      - say: go\n",
    "lead_in": "lead_in: {v}\n" + HEAD + "      - say: go\n",
    "rate_wpm": "voice:\n  rate_wpm: {v}\n" + HEAD + "      - say: go\n",
    "volume": "voice:\n  volume: {v}\n" + HEAD + "      - say: go\n",
    "volume_db": "title: t\nmusic:\n  volume_db: {v}\nsections:\n  - title: s\n    steps:\n      - say: go\n",
    "duck_db": "title: t\nmusic:\n  duck_db: {v}\nsections:\n  - title: s\n    steps:\n      - say: go\n",
    "hold": HEAD + "      - say: go\n        hold: {v}\n",
    "repeat": HEAD + "      - say: go\n        repeat: {v}\n",
    "every": HEAD + "      - say: go\n        repeat: 3\n        every: {v}\n",
    "pause": HEAD + "      - pause: {v}\n",
    "breathe": HEAD + "      - breathe: {v}\n",
    "breathe in": HEAD + "      - breathe:\n          in: {v}\n          out: 4\n",
    "breathe hold": HEAD + "      - breathe:\n          in: 4\n          hold: {v}\n          out: 4\n",
    "breathe out": HEAD + "      - breathe:\n          in: 4\n          out: {v}\n",
    "breathe cycles": HEAD + "      - breathe:\n          in: 4\n          out: 4\n          cycles: {v}\n",
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slot=st.sampled_from(sorted(ROUTINE_SLOTS)), value=_scalar_texts)
def test_random_scalars_in_every_numeric_routine_key_load_or_fail_with_a_location(slot, value):
    text = ROUTINE_SLOTS[slot].format(v=value)
    try:
        routine = parse_routine(text, source="fuzz.yaml")
    except RoutineError as exc:
        assert located(str(exc), "fuzz.yaml"), str(exc)[:500]
    else:
        assert routine.sections


CONFIG_NUMBER_KEYS = ("rate_wpm", "volume", "pace", "music_volume_db", "bitrate_kbps", "loudness_lufs")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(CONFIG_NUMBER_KEYS), value=_scalar_texts)
def test_random_scalars_in_every_numeric_config_key_load_or_fail_with_a_location(key, value, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"chimes: bell\n{key}: {value}\n", encoding="utf-8")
    try:
        config = load_config(path)
    except RoutineError as exc:
        assert located(str(exc), str(path)), str(exc)[:500]
    else:
        number = getattr(config, key)
        assert number is None or isinstance(number, (int, float)) and number == number and abs(number) < 1000


# --- 2: paths that cannot name a file here ---------------------------------------------------------------


@pytest.mark.parametrize(
    "key_text, where, hint",
    [
        ("music: ~nosuchuser/bed.wav", "2:8", "no user 'nosuchuser'"),
        ("music: {track: ~nosuchuser/bed.wav}", "2:16", "no user 'nosuchuser'"),
        (f"music: {LONG_NAME}.wav", "2:8", "longer than 255 bytes"),
        (f"music: sub/{LONG_NAME}/bed.wav", "2:8", "longer than 255 bytes"),
        ("voice: {name: ~nosuchuser/v.onnx, engine: piper}", "2:15", "no user 'nosuchuser'"),
        ("voice: ~nosuchuser/v.onnx", "2:8", "no user 'nosuchuser'"),
        (f"voice: {{name: {LONG_NAME}.onnx}}", "2:15", "longer than 255 bytes"),
    ],
)
def test_routine_paths_that_cannot_name_a_file_are_exit_2_at_their_place(key_text, where, hint, write_routine):
    text = "title: t\n" + key_text + "\nsections:\n  - title: s\n    steps:\n      - say: go\n"
    check_fails_at(write_routine(text), where, hint)


@pytest.mark.parametrize(
    "options",
    [
        ["-o", "~nosuchuser/x.mp3"],
        ["-o", f"{LONG_NAME}.mp3"],
        ["-o", "x.mp3", "--cues", "~nosuchuser/x.json"],
        ["-o", "x.mp3", "--cues", f"{LONG_NAME}.json"],
        ["-o", "x.mp3", "--captions", f"{LONG_NAME}.vtt"],
        ["-o", "x.mp3", "--cover", "~nosuchuser/a.png"],
        ["-o", "x.mp3", "--cover", f"{LONG_NAME}.png"],
        ["-o", "x.mp3", "--stems", f"{LONG_NAME}"],
        ["--out-dir", "~nosuchuser/sessions"],
        ["--volume", "nan"], ["--volume", "inf"], ["--pace", "nan"], ["--pace", "-inf"], ["--loudness", "nan"],
        ["--rate", HUGE], ["--length", "1:60"], ["--length", HUGE], ["--length", "１０m"],
    ],
    ids=lambda o: " ".join(x[:20] for x in o),
)
def test_bad_path_and_float_options_are_exit_2_and_write_nothing(options, write_routine, tmp_path, fake_engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routine = write_routine(SMALL_ROUTINE)
    before = set(tmp_path.iterdir())
    result = invoke("render", routine, "--engine", "fake", "-q", *options)
    assert_clean_failure(result, 2)
    assert "unexpected" not in result.output
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("options", [["--volume", "nan"], ["-o", f"{LONG_NAME}.mp3"], ["-o", "~nosuchuser/x.mp3"]])
def test_say_refuses_bad_options(options, tmp_path, fake_engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("say", "Breathe in.", "--engine", "fake", *options)
    assert_clean_failure(result, 2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options", [["-o", f"{LONG_NAME}.json"], ["-o", "~nosuchuser/p.json"], ["--pace", "nan"]])
def test_plan_refuses_bad_options(options, write_routine, fake_engine):
    result = invoke("plan", write_routine(SMALL_ROUTINE), "--engine", "fake", *options)
    assert_clean_failure(result, 2)


def test_check_output_path_refuses_names_too_long_for_the_file_system(tmp_path):
    from voiceguide.errors import UsageError
    from voiceguide.export import check_output_path

    with pytest.raises(UsageError, match="longer than 255 bytes"):
        check_output_path(tmp_path / f"{LONG_NAME}.mp3", force=False)
    deep = tmp_path.joinpath(*["b" * 200] * 25) / "x.mp3"  # each name fits, the whole path does not
    with pytest.raises(UsageError, match="cannot write"):
        check_output_path(deep, force=False)


def test_tilde_in_an_option_is_the_home_folder(write_routine, tmp_path, fake_engine, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = invoke("plan", write_routine(SMALL_ROUTINE), "--engine", "fake", "-o", "~/plan.json", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plan.json").is_file()


# --- 4: hostile config files ----------------------------------------------------------------------------

CONFIG_CASES = [
    # id, file content (bytes), "LINE:COLUMN" ("LINE", or "" for the file as a whole), part of the message
    ("rate-inf", b"rate_wpm: .inf\n", "1:11", "not infinity or NaN"),
    ("volume-nan", b"volume: .nan\n", "1:9", "not infinity or NaN"),
    ("pace-5000-digits", f"pace: {HUGE}\n".encode(), "1:7", "it must be between 0.25 and 4"),
    ("rate-sexagesimal", b"rate_wpm: 2:20\n", "1:11", "plain decimal digits"),
    ("rate-hex", b"rate_wpm: 0x90\n", "1:11", "plain decimal digits"),
    ("bitrate-not-offered", b"bitrate_kbps: 100\n", "1:15", "must be one of"),
    ("nul-raw", b"voice: a\x00b\n", "1:9", "control character (U+0000)"),
    ("nul-escaped", b'voice: "a\\0b"\n', "1:8", "control character (U+0000)"),
    ("escape-sequence", b'voice: "\\e[31m"\n', "1:8", "control character (U+001B)"),
    ("bell-raw", b"voice: a\x07\n", "1:9", "control character (U+0007)"),
    ("complex-key", b"? [a, b]\n: 1\n", "1:3", "keys must be plain names"),
    ("number-key", b"5: 1\n", "1:1", "unknown key '5'"),
    ("duplicate-key", b"pace: 1\npace: 2\n", "2:1", "appears twice"),
    ("a-list", b"- a\n- b\n", "1:1", "must be a mapping"),
    ("a-scalar", b"just words\n", "1:1", "must be a mapping"),
    ("not-utf8", b"voice: caf\xe9\n", "1", "is not UTF-8"),
    ("binary", bytes(range(256)) * 4, "2", "is not UTF-8"),
    ("tag", b"voice: !!python/object/apply:os.system [true]\n", "1:8", "YAML tag '!!python/object/apply:os.system' is refused"),
    ("tag-str", b"pace: !!str 1\n", "1:7", "YAML tag '!!str' is refused"),
    ("voice-a-list", b"voice: [a, b]\n", "1:8", "voice must be text"),
    ("syntax", b"voice: [unclosed\n", "2:1", "YAML syntax error"),
    ("output-dir-unknown-user", b"output_dir: ~nosuchuser/sessions\n", "1:13", "no user 'nosuchuser'"),
    ("music-unknown-user", b"music: ~nosuchuser/bed.wav\n", "1:8", "no user 'nosuchuser'"),
    ("music-long-name", f"music: {LONG_NAME}.wav\n".encode(), "1:8", "longer than 255 bytes"),
    ("output-dir-long-name", f"output_dir: /tmp/{LONG_NAME}\n".encode(), "1:13", "longer than 255 bytes"),
    ("deep-nesting", b"[" * 5000 + b"]" * 5000 + b"\n", "", "too deeply"),
    ("alias-bomb", ("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))).encode(), "", "expands to more than"),
    ("huge-file", b"# " + b"x" * 300_000 + b"\n", "", "a config file may be at most"),
]


@pytest.mark.parametrize("case, content, where, hint", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_hostile_config_is_exit_2_naming_the_file_and_line(case, content, where, hint, tmp_path, monkeypatch, write_routine, fake_engine):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(path))
    with pytest.raises(RoutineError) as info:
        load_config(path)
    prefix = f"{path}:{where}: " if where else f"{path}: "
    assert any(line.startswith(prefix) and hint in line for line in str(info.value).splitlines()), str(info.value)[:500]
    for args in (["config"], ["plan", write_routine(SMALL_ROUTINE), "--engine", "fake"]):
        result = invoke(*args)
        assert_clean_failure(result, 2)
        assert prefix in result.output and "unexpected" not in result.output


@pytest.mark.parametrize("value", ["~nosuchuser/config.yaml", f"/tmp/{LONG_NAME}/config.yaml"])
def test_voiceguide_config_that_cannot_name_a_file_is_exit_2(value, monkeypatch):
    monkeypatch.setenv("VOICEGUIDE_CONFIG", value)
    for args in (["config"], ["config", "--path"]):
        result = invoke(*args)
        assert_clean_failure(result, 2)
        assert "VOICEGUIDE_CONFIG" in result.output


def test_config_that_is_a_folder_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(tmp_path))
    result = invoke("config")
    assert_clean_failure(result, 2)
    assert "is a folder" in result.output


def test_good_config_still_loads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "engine: pyttsx3\nvoice: en-gb\nrate_wpm: 140\nvolume: 0.8\npreset: soft\npace: '0.9'\nmusic: none\n"
        "music_volume_db: -25\nchimes: false\nbitrate_kbps: 192\nloudness_lufs: -19\noutput_dir: ~/sessions\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert (config.rate_wpm, config.volume, config.pace, config.bitrate_kbps, config.loudness_lufs) == (140, 0.8, 0.9, 192, -19.0)
    assert config.music == "none" and config.chimes == "none" and config.output_dir == Path("~/sessions").expanduser()
