"""The command line through click's runner: output, messages and exit codes (0 ok, 2 bad input, 1 failure)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import soundfile
from click.testing import CliRunner

from voiceguide.cli import cli

from .conftest import SMALL_ROUTINE, FakeEngine


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_render_writes_mp3_and_cues(run, write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    out, cues = tmp_path / "out.mp3", tmp_path / "cues.json"
    result = run("render", routine, "-o", out, "--engine", "fake", "--rate", 130, "--pace", 0.8, "--cues", cues)
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    info = soundfile.info(str(out))
    sheet = json.loads(cues.read_text())
    assert info.samplerate == 44100 and info.channels == 2
    assert abs(info.duration - sheet["duration_s"]) < 0.1
    hold = [e for e in sheet["events"] if e["type"] == "action" and e.get("side") == "left"][0]
    assert hold["end_s"] - hold["start_s"] == pytest.approx(3.0 / 0.8, abs=0.002)


def test_quiet_render_prints_nothing(run, write_routine, fake_engine, tmp_path):
    result = run("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "q.wav", "--engine", "fake", "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_plan_json_matches_render(run, write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    planned = run("plan", routine, "--json", "--engine", "fake")
    assert planned.exit_code == 0
    plan = json.loads(planned.output)
    run("render", routine, "-o", tmp_path / "s.wav", "--engine", "fake", "--cues", tmp_path / "c.json", "-q")
    assert plan == json.loads((tmp_path / "c.json").read_text())
    table = run("plan", routine, "--engine", "fake")
    assert "Circle above the collarbones." in table.output and "hands-on (left)" in table.output


def test_bad_routine_exits_2_with_location(run, write_routine, tmp_path):
    routine = write_routine("title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n        hodl: 5s\n")
    out = tmp_path / "never.mp3"
    for command in (["check", routine], ["render", routine, "-o", out], ["plan", routine]):
        result = run(*command)
        assert result.exit_code == 2
        assert f"{routine}:7:9: unknown key 'hodl'" in result.output
        assert "Traceback" not in result.output
    assert not out.exists()


def test_existing_output_exits_2(run, write_routine, fake_engine, tmp_path):
    out = tmp_path / "s.mp3"
    out.write_bytes(b"keep me")
    result = run("render", write_routine(SMALL_ROUTINE), "-o", out, "--engine", "fake")
    assert result.exit_code == 2 and "--force" in result.output
    assert out.read_bytes() == b"keep me"


def test_missing_output_folder_and_bad_format_exit_2(run, write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    result = run("render", routine, "-o", tmp_path / "no" / "such" / "dir" / "s.mp3", "--engine", "fake")
    assert result.exit_code == 2 and "does not exist" in result.output
    result = run("render", routine, "-o", tmp_path / "s.xyz", "--engine", "fake")
    assert result.exit_code == 2 and "unsupported output format" in result.output


def test_engine_failure_exits_1(run, write_routine, monkeypatch, tmp_path):
    from voiceguide.voice import ENGINES

    monkeypatch.setitem(ENGINES, "broken", lambda: FakeEngine(fail_on="jaw"))
    result = run("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.mp3", "--engine", "broken")
    assert result.exit_code == 1
    assert "fake engine refuses" in result.output
    assert not (tmp_path / "s.mp3").exists()


def test_unknown_engine_and_option_ranges_exit_2(run, write_routine):
    routine = write_routine(SMALL_ROUTINE)
    assert run("render", routine, "--engine", "nope").exit_code == 2
    assert run("render", routine, "--pace", "0").exit_code == 2
    assert run("render", routine, "--rate", "5").exit_code == 2


def test_check_and_routines(run, write_routine):
    result = run("check", write_routine(SMALL_ROUTINE))
    assert result.exit_code == 0 and "ok" in result.output and "2 sections" in result.output
    listing = run("routines")
    assert listing.exit_code == 0
    assert "sculpt" in listing.output and "Sculpt" in listing.output


def test_render_builtin_by_name(run, fake_engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("render", "sculpt", "--engine", "fake", "-q")
    assert result.exit_code == 0, result.output
    info = soundfile.info(str(tmp_path / "sculpt.mp3"))
    assert 8 * 60 < info.duration < 14 * 60


def test_voices_lists_real_voices(run):
    result = run("voices", "--language", "ko")
    assert result.exit_code == 0 and "ko" in result.output
    assert run("voices", "--language", "xx-nope").exit_code == 2


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "voiceguide", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "render" in result.stdout


def test_every_command_is_documented():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"voiceguide {name}" in docs, name


def test_render_with_captions_chapters_and_sound_options(run, write_routine, fake_engine, tmp_path):
    from mutagen.id3 import ID3

    routine = write_routine(SMALL_ROUTINE)
    out, vtt, stems = tmp_path / "s.mp3", tmp_path / "s.vtt", tmp_path / "stems"
    cues = tmp_path / "c.json"
    result = run(
        "render", routine, "-o", out, "--engine", "fake", "--captions", vtt, "--cues", cues, "--chapters", "steps",
        "--chimes", "wood", "--preset", "soft", "--loudness", "-19", "--stems", stems, "--artist", "Mina", "-q",
    )
    assert result.exit_code == 0, result.output
    sheet = json.loads(cues.read_text())
    tags = ID3(str(out))
    assert str(tags["TPE1"]) == "Mina"
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    steps = {(e["section"], e["step"]) for e in sheet["events"] if e["type"] == "speech" and e.get("step")}
    assert len(chapters) == len(steps) + 2  # each step, plus the introduction and closing
    assert chapters[-1].end_time == round(sheet["duration_s"] * 1000)
    assert "preset soft" in str(tags.getall("COMM")[0]) and "chimes wood" in str(tags.getall("COMM")[0])
    text = vtt.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT") and "Circle above the collarbones." in text
    assert sorted(p.name for p in stems.iterdir()) == ["chimes.wav", "music.wav", "voice.wav"]


def test_bad_caption_extension_fails_before_work(run, write_routine, fake_engine, tmp_path):
    result = run("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.mp3", "--engine", "fake", "--captions", tmp_path / "s.doc")
    assert result.exit_code == 2
    assert not (tmp_path / "s.mp3").exists() and fake_engine.calls == []


def test_length_fits_the_session(run, write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    result = run("plan", routine, "--json", "--engine", "fake", "--length", "1m30s")
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.output)["duration_s"] - 90) <= 1.0
    result = run("render", routine, "-o", tmp_path / "s.wav", "--engine", "fake", "--length", "75s", "-q")
    assert result.exit_code == 0
    assert abs(soundfile.info(str(tmp_path / "s.wav")).duration - 75) <= 1.0
    too_short = run("plan", routine, "--engine", "fake", "--length", "10s")
    assert too_short.exit_code == 2 and "the speech alone takes" in too_short.output
    assert run("plan", routine, "--engine", "fake", "--length", "soon").exit_code == 2
    assert run("plan", routine, "--engine", "fake", "--length", "1m", "--pace", "0.8").exit_code == 2


def test_batch_renders_routines_and_lengths(run, write_routine, fake_engine, tmp_path):
    first = write_routine(SMALL_ROUTINE, "neck.yaml")
    second = write_routine(SMALL_ROUTINE.replace("Small test routine", "Second"), "jaw.yaml")
    out_dir = tmp_path / "sessions"
    out_dir.mkdir()
    result = run("render", first, second, "--length", "70s,1m30s", "--out-dir", out_dir, "--engine", "fake")
    assert result.exit_code == 0, result.output
    made = sorted(p.name for p in out_dir.iterdir())
    assert made == ["jaw-1m10s.mp3", "jaw-1m30s.mp3", "neck-1m10s.mp3", "neck-1m30s.mp3"]
    for name, seconds in (("neck-1m10s.mp3", 70), ("jaw-1m30s.mp3", 90)):
        assert abs(soundfile.info(str(out_dir / name)).duration - seconds) <= 1.0
    # Clips are shared: each distinct text was synthesised once for all four sessions.
    assert len(fake_engine.calls) == len(set(fake_engine.calls))
    assert run("render", first, second, "-o", tmp_path / "x.mp3", "--engine", "fake").exit_code == 2
