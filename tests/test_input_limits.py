"""Work bounded by what the user asked for, not by what a file claims: the whole session counts toward the
6-hour limit, named files must be regular files read only up to a cap, `say` takes one line's worth."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from voiceguide.inputs import NotReadable, read_capped
from voiceguide.routine import MAX_FILE_BYTES, MAX_SESSION_S, MAX_TEXT_CHARS

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke

LONG_TEXT = "Glide your fingers along the jaw line and slowly up towards the ears. " * 8


def _alias_routine(sections: int) -> str:
    """A small file whose aliases repeat a long instruction into hours of speech."""
    lines = ["title: Alias speech", "sections:", "  - title: First", "    steps: &s"]
    lines += [f'      - say: &t "{LONG_TEXT.strip()}"'] + ["      - say: *t"] * 9
    lines += [f"  - {{title: Part {i}, steps: *s}}" for i in range(sections)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, why",
    [
        (_alias_routine(100), "speech repeated by aliases"),
        ("title: T\nlead_in: 1h59m\nsections:\n  - title: A\n    steps:\n" + "      - pause: 1h59m\n" * 3 + "      - say: Hi\n", "lead-in and pauses"),
        ("title: T\nsections:\n  - title: A\n    steps:\n" + "      - {say: Tap the cheek gently now, hold: 2s}\n" * 4000, "many short steps"),
    ],
)
def test_the_whole_session_counts_toward_the_limit(text, why, write_routine, fake_engine, tmp_path):
    path = write_routine(text)
    assert len(text.encode()) < 300_000, why
    checked = invoke("check", path)
    assert_clean_failure(checked, 2)
    assert f"{path}: the session adds up to about " in checked.output and "at most 6:00:00" in checked.output
    rendered = invoke("render", path, "-o", tmp_path / "s.mp3", "--engine", "fake")
    assert_clean_failure(rendered, 2)
    assert fake_engine.calls == [] and not (tmp_path / "s.mp3").exists()  # refused before any synthesis


def test_a_slow_pace_that_pushes_a_routine_past_the_limit_is_refused(write_routine, fake_engine, tmp_path):
    text = "title: T\nsections:\n  - title: A\n    steps:\n" + "      - say: Hold the cheek.\n        hold: 1h50m\n"
    path = write_routine(text)
    assert invoke("check", path).exit_code == 0
    slow = invoke("render", path, "-o", tmp_path / "s.mp3", "--engine", "fake", "--pace", "0.25")
    assert_clean_failure(slow, 2)
    assert "the session adds up to about 7:" in slow.output and fake_engine.calls == []


@pytest.mark.parametrize("length", ["99h", "6h1m", "7:00:00"])
def test_length_beyond_the_limit_is_refused(length, write_routine, fake_engine, tmp_path):
    result = invoke("render", write_routine(SMALL_ROUTINE), "--length", length, "-o", tmp_path / "s.mp3", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "6:00:00" in result.output and fake_engine.calls == []


def test_library_render_refuses_a_length_beyond_the_limit(write_routine, fake_engine, tmp_path):
    import voiceguide
    from voiceguide.errors import UsageError

    with pytest.raises(UsageError, match="at most 6:00:00"):
        voiceguide.render(write_routine(SMALL_ROUTINE), tmp_path / "s.mp3", engine="fake", length_s=MAX_SESSION_S + 60)


# --- named files: regular files only, read up to a cap ---------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_as_routine_or_cover_are_refused_at_once(device, write_routine, fake_engine, tmp_path):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    result = invoke("check", device)
    assert_clean_failure(result, 2)
    assert f"{device}: is a device, not a regular file" in result.output
    cover = invoke("render", write_routine(SMALL_ROUTINE), "--cover", device, "-o", tmp_path / "s.mp3", "--engine", "fake")
    assert_clean_failure(cover, 2)
    assert "is a device" in cover.output and not (tmp_path / "s.mp3").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "routine.yaml"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "voiceguide", "check", str(fifo)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "is a pipe (FIFO)" in done.stderr and "Traceback" not in done.stderr


def test_a_big_pipe_through_dev_stdin_is_not_read_past_the_cap(tmp_path):
    """st_size of a pipe is 0; the cap must hold on what is read (50 MB here)."""
    process = subprocess.Popen([sys.executable, "-m", "voiceguide", "check", "/dev/stdin"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed():
        try:
            for _ in range(50):
                process.stdin.write(b"# comment\n" * 100_000)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass

    writer = threading.Thread(target=feed)
    writer.start()
    err = process.stderr.read()  # the command's messages are short: reading one pipe then the other cannot stall
    process.stdout.read()
    process.wait(timeout=60)
    writer.join(timeout=60)
    assert process.returncode == 2, err
    assert b"/dev/stdin: is " in err and b"Traceback" not in err


def test_read_capped_reads_a_file_that_fits_and_refuses_one_byte_more(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"x" * 1000)
    assert read_capped(path, 1000) == b"x" * 1000
    with pytest.raises(NotReadable, match="larger than 999 bytes"):
        read_capped(path, 999)
    with pytest.raises(NotReadable, match="folder"):
        read_capped(tmp_path, 1000)


def test_routine_over_the_cap_is_refused(write_routine):
    path = write_routine("# padding\n" * (MAX_FILE_BYTES // 10 + 1) + SMALL_ROUTINE)
    result = invoke("check", path)
    assert_clean_failure(result, 2)
    assert "larger than 2,000,000 bytes" in result.output


# --- say: one line's worth of text, no control characters --------------------------------------------


def test_say_takes_at_most_one_lines_worth(fake_engine, tmp_path):
    long = invoke("say", "word " * 10_000, "-o", tmp_path / "s.wav", "--engine", "fake")
    assert_clean_failure(long, 2)
    assert f"under {MAX_TEXT_CHARS}" in long.output
    fits = invoke("say", ("word " * 200)[: MAX_TEXT_CHARS].strip(), "-o", tmp_path / "ok.wav", "--engine", "fake")
    assert fits.exit_code == 0, fits.output
    assert fake_engine.calls and not (tmp_path / "s.wav").exists()


@pytest.mark.parametrize("text", ["hi\x07there", "clear\x1b[2Jscreen", "start\x01x"])
def test_say_refuses_control_characters(text, fake_engine, tmp_path):
    result = invoke("say", text, "-o", tmp_path / "s.wav", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "control character" in result.output and fake_engine.calls == []


# --- paths from the environment -------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["VOICEGUIDE_CACHE_DIR", "VOICEGUIDE_PIPER_VOICES"])
def test_an_unknown_user_in_a_path_variable_is_bad_input(variable, write_routine, monkeypatch, tmp_path):
    monkeypatch.setenv(variable, "~nosuchuser-voiceguide/x")
    args = ("voices", "--engine", "piper") if variable == "VOICEGUIDE_PIPER_VOICES" else (
        "render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.wav", "--engine", "pyttsx3")
    if variable == "VOICEGUIDE_PIPER_VOICES":
        pytest.importorskip("piper")
    result = invoke(*args)
    assert_clean_failure(result, 2)
    assert f"{variable}=~nosuchuser-voiceguide/x starts with ~nosuchuser-voiceguide" in result.output
    assert not (tmp_path / "s.wav").exists()
