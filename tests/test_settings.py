"""One home per knob: the settings table, the resolver, and everything made from them."""

from __future__ import annotations

import mutagen.id3
import mutagen.mp3
import pytest

from voiceguide import config as config_module
from voiceguide.cli import cli
from voiceguide.config import CONFIG_KEYS, Config, builtin_defaults
from voiceguide.pipeline import render
from voiceguide.routine import parse_routine
from voiceguide.settings import CLI, CONFIG, NOT_GIVEN, ROUTINE, SETTINGS, config_template, given, resolve

from .conftest import SMALL_ROUTINE


def option(command: str, flag: str):
    return next(p for p in cli.commands[command].params if flag in p.opts)


def test_resolve_applies_default_config_routine_call_in_order():
    assert resolve("pace") == 1.0
    assert resolve("pace", config=0.5) == 0.5
    assert resolve("pace", routine=2.0, config=0.5) == 2.0
    assert resolve("pace", call=3.0, routine=2.0, config=0.5) == 3.0
    assert resolve("pace", call=NOT_GIVEN, routine=NOT_GIVEN, config=0.5) == 0.5


def test_zero_and_empty_are_values_not_gaps():
    assert resolve("music_volume_db", routine=0.0, config=-30.0) == 0.0
    assert resolve("voice", call="", routine="en-gb") == ""
    assert given(0) == 0 and given("") == "" and given(None) is NOT_GIVEN


def test_an_unknown_knob_is_a_programming_error():
    with pytest.raises(KeyError):
        resolve("loudnes")


def test_music_volume_db_zero_without_a_track_stays_zero():
    routine = parse_routine("title: T\nmusic: {volume_db: 0}\nsections:\n  - title: A\n    steps:\n      - pause: 2s\n")
    assert routine.music is not None and routine.music.volume_db == 0.0
    routine = parse_routine("title: T\nmusic: {duck_db: 0}\nsections:\n  - title: A\n    steps:\n      - pause: 2s\n")
    assert routine.music.volume_db == SETTINGS["music_volume_db"].default and routine.music.duck_db == 0.0


def test_render_applies_the_configs_loudness_bitrate_and_output_folder(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE, name="evening.yaml")
    folder = tmp_path / "sessions"
    folder.mkdir()
    result = render(routine, config=Config(loudness_lufs=-20.0, bitrate_kbps=96, output_dir=folder), engine="fake")
    assert result.output == folder / "evening.mp3" and result.output.is_file()
    assert mutagen.mp3.MP3(str(result.output)).info.bitrate == 96000
    comments = " ".join(str(frame) for frame in mutagen.id3.ID3(str(result.output)).getall("COMM"))
    assert "loudness -20 LUFS" in comments


def test_the_call_still_wins_over_the_config(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "s.mp3"
    render(routine, out, config=Config(loudness_lufs=-20.0, bitrate_kbps=96), loudness_lufs=-18.0, bitrate_kbps=160, engine="fake")
    assert mutagen.mp3.MP3(str(out)).info.bitrate == 160000
    assert "loudness -18 LUFS" in " ".join(str(f) for f in mutagen.id3.ID3(str(out)).getall("COMM"))


@pytest.mark.parametrize("command", ["render", "plan", "say"])
def test_cli_options_come_from_the_table(command):
    for knob in SETTINGS.values():
        params = [p for p in cli.commands[command].params if knob.flag in p.opts] if knob.flag else []
        if not params:
            continue
        param = params[0]
        assert CLI in knob.where, knob.key
        assert param.name == (knob.param or knob.key)
        assert param.help == knob.cli_help()
        kind = param.type
        if knob.kind in ("int", "float") and not knob.choices:
            assert (kind.min, kind.max) == (knob.low, knob.high), knob.key
        elif knob.choices and knob.cli_checked:
            assert tuple(kind.choices) == tuple(str(c) for c in knob.choice_list()), knob.key


def test_the_help_reads_as_before():
    assert option("render", "--rate").help == "Speaking rate in words per minute (default 150)."
    assert option("say", "--volume").help == "Voice volume, 0.05 to 1 (default 1)."
    assert option("render", "--loudness").help == "Integrated loudness target in LUFS (default -16; e.g. -19 for a quieter session)."
    assert option("say", "--language").default == "en"


def test_config_keys_and_defaults_come_from_the_table():
    assert CONFIG_KEYS == tuple(k for k, s in SETTINGS.items() if CONFIG in s.where)
    fields = [f for f in Config.__dataclass_fields__ if f != "path"]
    assert tuple(fields) == CONFIG_KEYS
    assert set(builtin_defaults()) == set(CONFIG_KEYS)
    assert config_module.CONFIG_TEMPLATE == config_template()
    for key in CONFIG_KEYS:
        assert f"# {key}: " in config_template()


def test_every_routine_knob_names_its_place():
    for knob in SETTINGS.values():
        assert (ROUTINE in knob.where) == (knob.routine_key is not None), knob.key
        assert (CLI in knob.where) == (knob.flag is not None), knob.key


def test_the_docs_settings_table_is_the_tables_text():
    from pathlib import Path

    from voiceguide.settings import markdown_table

    docs = (Path(__file__).resolve().parents[1] / "docs" / "routine-format.md").read_text(encoding="utf-8")
    start = docs.index("<!-- settings table:")
    start = docs.index("\n", start) + 1
    end = docs.index("<!-- end of settings table -->")
    assert docs[start:end].strip() == markdown_table(), "regenerate the table: python -c 'from voiceguide.settings import markdown_table as m; print(m())'"


def test_the_docs_top_level_table_states_each_routine_knobs_default_and_range():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "routine-format.md").read_text(encoding="utf-8")
    top = docs[docs.index("## Top-level keys"):docs.index("## Settings at a glance")]
    for key in ("pace", "chimes"):
        knob = SETTINGS[key]
        row = next(line for line in top.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"`{knob.shown()}`" in row or f"`{knob.default_value()}`" in row, key
        if knob.kind == "choice":
            assert all(f"`{choice}`" in row for choice in knob.choice_list()), key
        else:
            assert knob.range_text() in row, key
    voice_row = next(line for line in top.splitlines() if line.startswith("| `voice` |"))
    for key in ("rate_wpm", "volume"):
        assert SETTINGS[key].range_text() in voice_row, key
    music_row = next(line for line in top.splitlines() if line.startswith("| `music` |"))
    for key in ("music_volume_db", "duck_db"):
        assert SETTINGS[key].range_text() in music_row and f"(default {SETTINGS[key].shown()})" in music_row, key


def test_the_readme_names_every_config_key():
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    section = readme[readme.index("## Your defaults"):readme.index("## Library API")]
    for key in CONFIG_KEYS:
        assert f"`{key}`" in section, key
