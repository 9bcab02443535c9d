"""What a new user hit with lengths, batches, output folders and texts with nothing to speak
(issue "Ship what we test", defects 5-8): refused before any work, exit 2, nothing written."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import soundfile

from voiceguide.errors import UsageError
from voiceguide.export import atomic_output
from voiceguide.plan import PACE_MAX, PACE_MIN, build_plan, estimated_speech
from voiceguide.routine import parse_routine

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- 5. --length keeps to the documented pace range ---------------------------------------------


def test_length_outside_the_pace_range_is_refused_with_the_lengths_possible(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    import json

    fast = invoke("plan", routine, "--engine", "fake", "--pace", PACE_MAX, "--json")
    slow = invoke("plan", routine, "--engine", "fake", "--pace", PACE_MIN, "--json")
    assert fast.exit_code == 0 and slow.exit_code == 0

    shortest, longest = json.loads(fast.output)["duration_s"], json.loads(slow.output)["duration_s"]
    for args in (("plan", routine), ("render", routine, "-o", tmp_path / "s.wav")):
        short = invoke(*args, "--engine", "fake", "--length", f"{int(shortest) - 3}s")
        assert_clean_failure(short, 2)
        assert "at the fastest pace, 4" in short.output and "pace 50" not in short.output
        long = invoke(*args, "--engine", "fake", "--length", f"{int(longest) + 5}s")
        assert_clean_failure(long, 2)
        assert "at the slowest pace, 0.25" in long.output and "0.02" not in long.output
    # The ends of the range themselves are reachable.
    for target in (int(shortest) + 1, int(longest) - 1):
        fitted = invoke("plan", routine, "--engine", "fake", "--length", f"{target}s", "--json")
        assert fitted.exit_code == 0, fitted.output
        assert abs(json.loads(fitted.output)["duration_s"] - target) <= 1.0
    assert not (tmp_path / "s.wav").exists()


@pytest.mark.parametrize("command", ["plan", "render"])
def test_length_and_pace_together_are_refused_in_both_commands(command, write_routine, fake_engine, tmp_path):
    result = invoke(command, write_routine(SMALL_ROUTINE), "--engine", "fake", "--length", "1m", "--pace", "2",
                    *(["-o", tmp_path / "s.mp3"] if command == "render" else []))
    assert_clean_failure(result, 2)
    assert "--pace or --length" in result.output
    assert fake_engine.calls == [] and not (tmp_path / "s.mp3").exists()


# --- 6. a batch never writes two sessions to one file --------------------------------------------


def test_batch_refuses_two_routines_with_one_name_before_any_work(write_routine, fake_engine, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_routine(SMALL_ROUTINE, "a/x.yaml")
    second = write_routine(SMALL_ROUTINE.replace("Small test routine", "Other"), "b/x.yaml")
    result = invoke("render", first, second, "--out-dir", tmp_path / "clash", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "clash/x.mp3" in result.output and "a/x.yaml" in result.output and "b/x.yaml" in result.output
    assert fake_engine.calls == [] and not (tmp_path / "clash").exists()


def test_batch_refuses_two_lengths_that_are_one(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "sessions"
    out.mkdir()
    result = invoke("render", routine, "--length", "1m30s,90s", "--out-dir", out, "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "routine-1m30s.mp3" in result.output
    assert fake_engine.calls == [] and _files(out) == []


def test_two_renders_racing_for_one_new_output_do_not_both_succeed(tmp_path):
    """Both pass the 'already exists' check before either has written; only one may publish."""
    target = tmp_path / "s.mp3"
    both_writing = threading.Barrier(2)
    outcomes: list[object] = []

    def render_like(content: bytes) -> None:
        try:
            with atomic_output(target, replace=False) as tmp:
                tmp.write_bytes(content)
                both_writing.wait(timeout=10)
            outcomes.append(content)
        except UsageError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=render_like, args=(c,)) for c in (b"first", b"second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [o for o in outcomes if isinstance(o, bytes)]
    lost = [o for o in outcomes if isinstance(o, UsageError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert "use --force" in str(lost[0])
    assert target.read_bytes() == won[0]
    assert _files(tmp_path) == ["s.mp3"]  # no temporary file left behind


def test_force_still_replaces(tmp_path):
    target = tmp_path / "s.mp3"
    target.write_bytes(b"old")
    with atomic_output(target, replace=True) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(UsageError):
        with atomic_output(target, replace=False) as tmp:
            tmp.write_bytes(b"newer")
    assert target.read_bytes() == b"new" and _files(tmp_path) == ["s.mp3"]


# --- 7. a missing --out-dir is made ---------------------------------------------------------------


def test_missing_out_dir_is_created_for_a_batch_and_a_single_render(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    batch = invoke("render", routine, "--length", "70s,80s", "--out-dir", tmp_path / "new" / "sessions", "--engine", "fake", "-q")
    assert batch.exit_code == 0, batch.output
    assert _files(tmp_path / "new") == ["sessions", "sessions/routine-1m10s.mp3", "sessions/routine-1m20s.mp3"]
    for name, seconds in (("routine-1m10s.mp3", 70), ("routine-1m20s.mp3", 80)):
        assert abs(soundfile.info(str(tmp_path / "new" / "sessions" / name)).duration - seconds) <= 1.0
    single = invoke("render", routine, "--out-dir", tmp_path / "one", "--engine", "fake", "-q")
    assert single.exit_code == 0, single.output
    assert (tmp_path / "one" / "routine.mp3").is_file()


def test_out_dir_under_a_file_and_missing_parent_of_o_are_refused(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    (tmp_path / "afile").write_text("x")
    result = invoke("render", routine, "--length", "70s,80s", "--out-dir", tmp_path / "afile" / "sub", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "is a file" in result.output
    missing = invoke("render", routine, "-o", tmp_path / "nowhere" / "s.mp3", "--engine", "fake")
    assert_clean_failure(missing, 2)
    assert not (tmp_path / "nowhere").exists() and fake_engine.calls == []


# --- 8. text with nothing to speak is refused at check time ---------------------------------------


@pytest.mark.parametrize(
    "routine_text, where",
    [
        (SMALL_ROUTINE.replace("say: Glide along the jaw line.", 'say: "..."'), ":19:14: say '...' has nothing to speak"),
        (SMALL_ROUTINE.replace("title: Jaw", 'title: "-"'), ":17:12: section 2 title '-' has nothing to speak"),
        (SMALL_ROUTINE.replace("outro: Rest your hands.", 'outro: "?!"'), ":5:8: outro '?!' has nothing to speak"),
        (SMALL_ROUTINE.replace("sides: [left, right]", 'sides: [left, "*"]'), "a side label '*' has nothing to speak"),
    ],
)
def test_text_with_nothing_to_speak_fails_check_with_its_place(routine_text, where, write_routine):
    path = write_routine(routine_text)
    result = invoke("check", path)
    assert_clean_failure(result, 2)
    assert where in result.output, result.output


def test_words_in_any_script_and_digits_are_speakable():
    routine = parse_routine(SMALL_ROUTINE.replace("title: Jaw", "title: 턱").replace("Glide along the jaw line.", '"5"'))
    assert build_plan(routine, estimated_speech(routine)).duration_s > 0


@pytest.mark.parametrize("text", ["-", "...", "  ?! "])
def test_say_with_nothing_to_speak_is_refused_before_the_engine(text, fake_engine, tmp_path):
    result = invoke("say", text, "-o", tmp_path / "s.wav", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "nothing to say" in result.output
    assert fake_engine.calls == [] and not (tmp_path / "s.wav").exists()


def test_engine_silence_for_a_real_word_names_the_text(write_routine, fake_engine, monkeypatch, tmp_path):
    import numpy as np

    from . import conftest

    real = conftest.fake_speech

    def silent_for_jaw(text, rate_wpm=150, volume=1.0):
        return np.zeros(22050) if "jaw" in text else real(text, rate_wpm, volume)

    monkeypatch.setattr(conftest, "fake_speech", silent_for_jaw)
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.wav", "--engine", "fake")
    assert_clean_failure(result, 1)
    assert "'Glide along the jaw line.'" in result.output and ".wav is silent" not in result.output
    assert not (tmp_path / "s.wav").exists()
    assert os.listdir(tmp_path).count("s.wav") == 0
