"""What the CLI says it did matches what it did: chapter counts, plurals, headers, --quiet everywhere."""

from __future__ import annotations

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
