"""What the CLI says it did matches what it did: chapter counts, plurals, headers, --quiet everywhere."""

from __future__ import annotations

import json
import re

import pytest
from mutagen.id3 import ID3

from voiceguide import render
from voiceguide.export.tags import step_chapters

from .conftest import SMALL_ROUTINE, invoke

ONE_SECTION = """\
title: One of everything
music: none
lead_in: 0.5s
sections:
  - title: Breathe.
    steps:
      - say: Breathe.
        hold: 1s
"""


def test_render_summary_counts_the_chapters_written(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "steps.mp3"
    result = invoke("render", routine, "-o", out, "--engine", "fake", "--chapters", "steps")
    assert result.exit_code == 0, result.output
    written = len(ID3(str(out)).getall("CHAP"))
    assert written == 5  # Introduction, three steps, Closing (the plan has 4 section chapters)
    assert f", {written} chapters;" in result.output


def test_render_summary_of_a_wav_claims_no_chapters(write_routine, fake_engine, tmp_path):
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.wav", "--engine", "fake")
    assert result.exit_code == 0, result.output
    assert ", no chapters;" in result.output
    assert not re.search(r"\d+ chapters?", result.output)
    none = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "n.mp3", "--engine", "fake", "--chapters", "none")
    assert ", no chapters;" in none.output


def test_render_result_lists_the_chapters_written(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    steps = render(routine, tmp_path / "a.ogg", engine="fake", chapters="steps")
    assert steps.chapters == step_chapters(steps.plan)
    assert render(routine, tmp_path / "b.mp3", engine="fake").chapters == steps.plan.chapters
    assert render(routine, tmp_path / "c.wav", engine="fake").chapters == ()
    assert render(routine, tmp_path / "d.flac", engine="fake", chapters="none").chapters == ()


def test_singular_counts(write_routine, fake_engine, tmp_path):
    routine = write_routine(ONE_SECTION)
    check = invoke("check", routine)
    assert check.exit_code == 0, check.output
    assert "1 section, 1 step," in check.output
    rendered = invoke("render", routine, "-o", tmp_path / "one.mp3", "--engine", "fake", "--chapters", "sections")
    assert rendered.exit_code == 0, rendered.output
    assert ", 1 chapter;" in rendered.output
    assert "1 clip synthesised" in rendered.output
    assert not re.search(r"\b1 (sections|steps|chapters|clips)\b", check.output + rendered.output)


# Strokes too short for their spoken numbers: every command that plans warns about it.
WARNS = SMALL_ROUTINE.replace("every: 1.5s", "every: 0.3s")


def test_plan_output_needs_force(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "plan.json"
    out.write_text("keep me", encoding="utf-8")
    refused = invoke("plan", routine, "--engine", "fake", "-o", out)
    assert refused.exit_code == 2 and "--force" in refused.output and "Traceback" not in refused.output
    assert out.read_text(encoding="utf-8") == "keep me"
    assert fake_engine.calls == []  # refused before any speech was synthesised
    done = invoke("plan", routine, "--engine", "fake", "-o", out, "--force")
    assert done.exit_code == 0, done.output
    assert f"Wrote {out}" in done.output
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(invoke("plan", routine, "--engine", "fake", "--json").output)
    missing = invoke("plan", routine, "--engine", "fake", "-o", tmp_path / "no" / "plan.json")
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_plan_table_has_a_header_and_clock_times(write_routine, fake_engine):
    result = invoke("plan", write_routine(SMALL_ROUTINE), "--engine", "fake")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["start", "end", "type", "what"]
    plan = json.loads(invoke("plan", write_routine(SMALL_ROUTINE), "--engine", "fake", "--json").output)
    rows = lines[2:]
    assert len(rows) == len(plan["events"])
    for row, event in zip(rows, plan["events"]):
        start, end = row.split()[:2]
        assert re.fullmatch(r"\d+:\d\d\.\d", start) and re.fullmatch(r"\d+:\d\d\.\d", end), row
        minutes, seconds = start.split(":")
        assert int(minutes) * 60 + float(seconds) == pytest.approx(event["start_s"], abs=0.051)


def test_clock():
    from voiceguide.cli import clock

    assert [clock(t) for t in (0, 5.04, 59.96, 61.25, 600, 3725.5)] == ["0:00.0", "0:05.0", "1:00.0", "1:01.2", "10:00.0", "1:02:05.5"]


@pytest.mark.parametrize(
    "command",
    [
        ["check", "{routine}"],
        ["plan", "{routine}", "--engine", "fake", "-o", "{tmp}/p.json"],
        ["render", "{routine}", "--engine", "fake", "-o", "{tmp}/s.wav"],
        ["say", "Hello there.", "--engine", "fake", "-o", "{tmp}/hello.wav"],
        ["new", "{tmp}/fresh"],
    ],
    ids=lambda c: c[0],
)
def test_quiet_silences_the_summary_not_the_warnings(write_routine, fake_engine, tmp_path, command):
    routine = write_routine(WARNS)
    args = [a.format(routine=routine, tmp=tmp_path) for a in command]
    loud = invoke(*args)
    assert loud.exit_code == 0, loud.output
    assert loud.stdout.strip()
    for made in tmp_path.glob("[psh]*.*"):
        made.unlink()
    (tmp_path / "fresh.yaml").unlink(missing_ok=True)
    quiet = invoke(*args, "-q")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == ""
    assert quiet.stderr == loud.stderr  # warnings (or none, for say and new) are still printed
    if command[0] in ("check", "plan", "render"):
        assert "warning:" in quiet.stderr


def test_docs_prints_the_routine_format(tmp_path, monkeypatch):
    result = invoke("docs")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# The routine format")
    for key in ("`sides`", "`breathe`", "## Timing rules", "`duck_db`"):
        assert key in result.output
    monkeypatch.chdir(tmp_path)
    made = invoke("new", "glow")
    assert "voiceguide docs" in made.output
    starter = (tmp_path / "glow.yaml").read_text(encoding="utf-8")
    assert "voiceguide docs" in starter and "docs/routine-format.md" not in starter


def test_plan_json_is_the_json_alone(write_routine, fake_engine):
    result = invoke("plan", write_routine(WARNS), "--engine", "fake", "--json")
    assert result.exit_code == 0, result.output
    sheet = json.loads(result.output)  # nothing else on either stream: the warnings are in the JSON
    assert sheet["warnings"] and result.stderr == ""
