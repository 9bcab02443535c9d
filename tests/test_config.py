"""User defaults and their precedence (config < routine < CLI), `new` and `say`, through the real CLI."""

from __future__ import annotations

import json
import sys

import pytest
import soundfile
from click.testing import CliRunner

from voiceguide import load_routine
from voiceguide.cli import cli
from voiceguide.config import load_config
from voiceguide.errors import RoutineError

from .conftest import SMALL_ROUTINE


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(path))

    def write(text: str):
        path.write_text(text, encoding="utf-8")
        return path

    return write


def instruction_s(sheet: dict, text: str) -> float:
    event = next(e for e in sheet["events"] if e.get("text") == text)
    return event["end_s"] - event["start_s"]


def hold_s(sheet: dict) -> float:
    event = next(e for e in sheet["events"] if e["type"] == "action" and e.get("side") == "left")
    return event["end_s"] - event["start_s"]


def plan_json(run, routine, *extra):
    result = run("plan", routine, "--json", "--engine", "fake", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_precedence_config_then_routine_then_cli(run, write_routine, fake_engine, config):
    text = "Stroke down the neck."
    base = plan_json(run, write_routine(SMALL_ROUTINE))
    config("rate_wpm: 100\npace: 0.5\n")
    from_config = plan_json(run, write_routine(SMALL_ROUTINE))
    # The fake voice speaks 60/rate seconds a word: rate 100 is 1.5x as long as the default 150.
    assert instruction_s(from_config, text) == pytest.approx(instruction_s(base, text) * 1.5, rel=0.1)
    assert hold_s(from_config) == pytest.approx(2 * hold_s(base))

    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: none\nvoice: {rate_wpm: 200}\npace: 1.0"))
    from_routine = plan_json(run, routine)
    assert instruction_s(from_routine, text) == pytest.approx(instruction_s(base, text) * 0.75, rel=0.1)
    assert hold_s(from_routine) == pytest.approx(hold_s(base))

    from_cli = plan_json(run, routine, "--rate", "100", "--pace", "2")
    assert instruction_s(from_cli, text) == pytest.approx(instruction_s(base, text) * 1.5, rel=0.1)
    assert hold_s(from_cli) == pytest.approx(hold_s(base) / 2)


def test_config_sets_render_defaults(run, write_routine, fake_engine, config, tmp_path):
    out_dir = tmp_path / "sessions"
    out_dir.mkdir()
    config(f"bitrate_kbps: 192\nchimes: none\noutput_dir: {out_dir}\n")
    routine = write_routine(SMALL_ROUTINE)
    result = run("render", str(routine), "--engine", "fake", "-q")
    assert result.exit_code == 0, result.output
    out = out_dir / "routine.mp3"
    from mutagen.mp3 import MP3

    assert MP3(str(out)).info.bitrate == 192000
    assert soundfile.info(str(out)).duration > 10
    sheet = plan_json(run, routine)
    assert not any(e["type"] == "chime" for e in sheet["events"])
    # A routine's own chimes key wins over the config.
    with_chimes = write_routine(SMALL_ROUTINE.replace("music: none", "music: none\nchimes: wood"), "c.yaml")
    assert any(e["type"] == "chime" for e in plan_json(run, with_chimes)["events"])


def test_bad_config_is_a_located_error(run, write_routine, config):
    path = config("rate_wpm: 100\nchimse: bell\npace: 9\n")
    with pytest.raises(RoutineError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:2:1: unknown key 'chimse'" in message and "did you mean 'chimes'" in message
    assert f"{path}:3:7: pace is 9" in message
    result = run("plan", write_routine(SMALL_ROUTINE))
    assert result.exit_code == 2 and "chimse" in result.output


def test_config_show_and_path(run, config):
    path = config("voice: en-gb\n")
    shown = run("config")
    assert shown.exit_code == 0 and str(path) in shown.output and "voice: en-gb" in shown.output
    assert run("config", "--path").output.strip() == str(path)


def test_new_writes_a_valid_starter(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "evening-glow")
    assert result.exit_code == 0
    routine = load_routine(tmp_path / "evening-glow.yaml")
    assert routine.title == "Evening glow" and routine.sections
    assert run("new", "evening-glow").exit_code == 2  # never overwrites without --force
    assert run("check", "evening-glow.yaml").exit_code == 0


def test_say_previews_a_voice(run, fake_engine, tmp_path):
    out = tmp_path / "hello.wav"
    result = run("say", "Breathe in slowly and let it go.", "-o", out, "--engine", "fake", "--rate", "120")
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(str(out))
    # Seven words at 120 wpm take 3.5 s in the fake voice; silence is trimmed.
    assert rate == 44100 and 3.0 < len(audio) / rate < 3.8
    assert run("say", "   ", "-o", tmp_path / "x.wav", "--engine", "fake").exit_code == 2


def test_config_show_prints_the_values_in_effect(run, config):
    shown = run("config")
    assert shown.exit_code == 0, shown.output
    assert "(default)" not in shown.output
    lines = {line.split(":")[0]: line for line in shown.output.splitlines() if not line.startswith("#")}
    assert lines["rate_wpm"].startswith("rate_wpm: 150 ") and "built-in default" in lines["rate_wpm"]
    assert lines["engine"].startswith("engine: auto ")
    assert lines["chimes"].startswith("chimes: bowl ")
    assert lines["bitrate_kbps"].startswith("bitrate_kbps: 128 ")
    assert lines["loudness_lufs"].startswith("loudness_lufs: -16 ")
    assert lines["music"].startswith("music: warm-pad ")
    assert lines["music_volume_db"].startswith("music_volume_db: -10 ")
    assert lines["pace"].startswith("pace: 1 ") and lines["volume"].startswith("volume: 1 ")
    config("preset: soft\nchimes: wood\n")
    lines = {line.split(":")[0]: line for line in run("config").output.splitlines() if not line.startswith("#")}
    assert lines["chimes"].startswith("chimes: wood ") and lines["chimes"].endswith("# your config")
    assert lines["rate_wpm"].startswith("rate_wpm: 128 ")  # the soft preset's rate


@pytest.fixture
def no_editor(monkeypatch):
    """No $VISUAL or $EDITOR, and none of click's fallback editors on PATH (so nothing can hang on a terminal)."""
    from .conftest import path_without

    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setenv("PATH", path_without(("vi", "vim", "nano", "sensible-editor", "editor")))


def test_config_edit_without_a_terminal_says_where_the_file_is(run, config, no_editor, tmp_path):
    path = tmp_path / "config.yaml"
    result = CliRunner().invoke(cli, ["config", "--edit"])  # CliRunner's stdin and stdout are not terminals
    assert result.exit_code == 0, result.output
    assert str(path) in result.output and "edit it" in result.output
    assert path.read_text(encoding="utf-8").startswith("# voiceguide user defaults")


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the editor")
def test_config_edit_uses_the_editor_you_set(run, config, no_editor, tmp_path, monkeypatch):
    editor = tmp_path / "my-editor"
    editor.write_text('#!/bin/sh\necho "rate_wpm: 120" >> "$1"\n', encoding="utf-8")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    result = CliRunner().invoke(cli, ["config", "--edit"])
    assert result.exit_code == 0, result.output
    assert "rate_wpm: 120" in result.output and load_config(tmp_path / "config.yaml").rate_wpm == 120
    broken = tmp_path / "broken-editor"
    broken.write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(broken))
    failed = CliRunner().invoke(cli, ["config", "--edit"])
    assert failed.exit_code == 1 and "any text editor" in failed.output and "Traceback" not in failed.output
