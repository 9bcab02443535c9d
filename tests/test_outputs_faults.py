"""Outputs never replace what the user did not name nor write half; interrupts, closed or full streams and
terminal escapes in routines never give a traceback, a death by signal or a rewritten terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voiceguide.cli import printable

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke

FAST = ["--engine", "fake"]


def _render(routine, out, *extra):
    return invoke("render", routine, "-o", out, *FAST, *extra)


# --- outputs: a FIFO, a device or a socket is never replaced, --force or not ------------------------------


@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device"])
@pytest.mark.parametrize("option", ["-o", "--cues", "--captions"])
def test_render_outputs_refuse_a_special_file_even_with_force(option, kind, write_routine, tmp_path, fake_engine):
    routine = write_routine(SMALL_ROUTINE)
    suffix = {"-o": ".mp3", "--cues": ".json", "--captions": ".vtt"}[option]
    special = tmp_path / f"special{suffix}"
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "link-to-device":
        special.symlink_to(os.devnull)
    elif option == "-o":
        pytest.skip("a device has no audio suffix: -o refuses it for that first")
    else:
        special = Path(os.devnull)
    out = tmp_path / "s.mp3"
    extra = ["-o", special] if option == "-o" else ["-o", out, option, special]
    result = invoke("render", routine, *extra, *FAST, "--force")
    assert_clean_failure(result, 2)
    assert "not a regular file" in result.output
    assert not out.exists() and not fake_engine.calls, "refused before any work"
    assert special.is_fifo() or special.is_symlink() or special == Path(os.devnull)
    assert not Path(os.devnull).is_file()


def test_other_commands_refuse_a_fifo(tmp_path, fake_engine, write_routine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routine = write_routine(SMALL_ROUTINE)
    for name, args in {
        "plan.json": ["plan", routine, "-o", "plan.json", *FAST, "--force"],
        "say.wav": ["say", "Hello there.", "-o", "say.wav", *FAST, "--force"],
        "mine.yaml": ["new", "mine", "--force"],
    }.items():
        os.mkfifo(name)
        result = invoke(*args)
        assert_clean_failure(result, 2)
        assert "not a regular file" in result.output, args
        assert Path(name).is_fifo()
    assert not fake_engine.calls


def test_stems_file_that_is_a_fifo_is_refused(write_routine, tmp_path, fake_engine):
    stems = tmp_path / "stems"
    stems.mkdir()
    os.mkfifo(stems / "music.wav")
    result = _render(write_routine(SMALL_ROUTINE), tmp_path / "s.mp3", "--stems", stems, "--force")
    assert_clean_failure(result, 2)
    assert "not a regular file" in result.output and not fake_engine.calls


# --- two outputs on one path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outputs",
    [
        ("x.mp3", "--cues", "x.mp3"),
        ("x.mp3", "--cues", "sub/../x.mp3"),
        ("s.mp3", "--cues", "c.txt", "--captions", "c.txt"),
        ("stems/voice.wav", "--stems", "stems"),
        ("s.mp3", "--cues", "stems/chimes.wav", "--stems", "stems"),
        ("s.mp3", "--captions", "linked/x.vtt", "--cues", "x.vtt"),  # a folder link to the same place
    ],
)
def test_two_outputs_on_one_path_are_refused_before_any_work(outputs, write_routine, tmp_path, fake_engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "stems").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path)
    routine = write_routine(SMALL_ROUTINE)
    result = invoke("render", routine, "-o", *outputs, *FAST)
    assert_clean_failure(result, 2)
    assert "name the same file" in result.output
    assert not fake_engine.calls
    assert not list(tmp_path.rglob("*.mp3")) and not list((tmp_path / "stems").iterdir())


# --- symbolic links: the link is replaced, never written through; a dangling one exists -------------------


def test_new_force_replaces_a_symlink_not_its_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    (tmp_path / "mine.yaml").symlink_to(target)
    result = invoke("new", "mine", "--force")
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == "keep me"
    assert not (tmp_path / "mine.yaml").is_symlink() and "sections:" in (tmp_path / "mine.yaml").read_text(encoding="utf-8")
    assert not list(tmp_path.glob(".mine.yaml.*"))


@pytest.mark.parametrize("command", ["new", "render-o", "cues", "plan", "say"])
def test_a_dangling_symlink_is_an_existing_output(command, tmp_path, write_routine, fake_engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routine = write_routine(SMALL_ROUTINE)
    name = {"new": "mine.yaml", "render-o": "s.mp3", "cues": "c.json", "plan": "p.json", "say": "say.wav"}[command]
    Path(name).symlink_to(tmp_path / "nowhere" / "target")
    args = {
        "new": ["new", "mine"],
        "render-o": ["render", routine, "-o", "s.mp3", *FAST],
        "cues": ["render", routine, "-o", "x.mp3", "--cues", "c.json", *FAST],
        "plan": ["plan", routine, "-o", "p.json", *FAST],
        "say": ["say", "Hello there.", "-o", "say.wav", *FAST],
    }[command]
    result = invoke(*args)
    assert_clean_failure(result, 2)
    assert "already exists; use --force" in result.output
    assert Path(name).is_symlink() and not (tmp_path / "nowhere").exists()
    # With --force the link itself is replaced (its target's folder is never made).
    result = invoke(*args, "--force")
    assert result.exit_code == 0, result.output
    assert not Path(name).is_symlink() and Path(name).is_file() and not (tmp_path / "nowhere").exists()


# --- --stems: no folder left behind by a refused render ---------------------------------------------------


def test_stems_folder_is_not_made_for_a_refused_routine(write_routine, tmp_path, fake_engine):
    bad = write_routine("title: Bad\nsections:\n  - title: A\n    steps:\n      - say: Hi there.\n        hodl: 2s\n")
    stems = tmp_path / "a" / "b" / "stems"
    result = _render(bad, tmp_path / "s.mp3", "--stems", stems)
    assert_clean_failure(result, 2)
    assert not (tmp_path / "a").exists()
    missing_music = write_routine(SMALL_ROUTINE.replace("music: none", "music: no-such-track.ogg"), "m.yaml")
    result = _render(missing_music, tmp_path / "s.mp3", "--stems", stems)
    assert_clean_failure(result, 2)
    assert not (tmp_path / "a").exists()


def test_stems_folder_is_made_once_accepted(write_routine, tmp_path, fake_engine):
    stems = tmp_path / "a" / "stems"
    result = _render(write_routine(SMALL_ROUTINE), tmp_path / "s.wav", "--stems", stems)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in stems.iterdir()) == ["chimes.wav", "music.wav", "voice.wav"]


def test_stems_in_the_way_of_a_file_is_refused(write_routine, tmp_path, fake_engine):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = _render(write_routine(SMALL_ROUTINE), tmp_path / "s.mp3", "--stems", tmp_path / "file" / "stems")
    assert_clean_failure(result, 2)
    assert not fake_engine.calls


# --- terminal escapes in routines are shown escaped ------------------------------------------------------

EVIL = "x\x1b[2J\x1b[Hok\u202e\x9b"


def test_unknown_key_with_escapes_is_printed_escaped(write_routine, tmp_path, fake_engine):
    text = SMALL_ROUTINE.replace("hold: 2.5s", f'hold: 2.5s\n        "{EVIL.encode("unicode_escape").decode()}": 1')
    text = text.replace("title: Small test routine", 'title: "Small \\e[2J\\u202e test"')
    routine = write_routine(text)
    for args in (["check", routine], ["render", routine, "-o", tmp_path / "s.mp3", *FAST]):
        result = invoke(*args)
        assert_clean_failure(result, 2)
        assert "\x1b" not in result.output and "\u202e" not in result.output and "\x9b" not in result.output
        assert r"x\x1b[2J\x1b[Hok\u202e\x9b" in result.output


def test_escapes_in_file_names_and_summaries(write_routine, tmp_path, fake_engine, monkeypatch):
    monkeypatch.chdir(tmp_path)
    routine = write_routine(SMALL_ROUTINE)
    result = invoke("render", routine, "-o", "a\x1b[2J\u2066.wav", *FAST)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u2066" not in result.output
    assert r"Wrote a\x1b[2J\u2066.wav" in result.output
    result = invoke("new", "b\x1b]0;title\x07")
    assert result.exit_code == 0 and "\x1b" not in result.output and "\x07" not in result.output


def test_printable_keeps_text_and_json_valid():
    assert printable("plain\ttext\nnext line: 한국어 ü") == "plain\ttext\nnext line: 한국어 ü"
    assert printable("a\x1bb\x7f\x9b\u202e\u2069\r") == r"a\x1bb\x7f\x9b\u202e\u2069\x0d"
    data = {"title": "t\x7f\x9b\u202e\x1b"}
    text = printable(json.dumps(data, ensure_ascii=False), json_escapes=True)
    assert json.loads(text) == data and all(ord(c) < 0x7F or c.isalpha() for c in text)


# --- subprocesses: signals from the first moment, closed and full streams ---------------------------------


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ, VOICEGUIDE_CACHE_DIR=str(tmp_path / "cache"), VOICEGUIDE_CONFIG=str(tmp_path / "none.yaml"))
    env.pop("VOICEGUIDE_DEBUG", None)
    return env


def _handles_sigterm(pid: int) -> bool:
    """True once the process has a SIGTERM handler (the moment the command's own code starts)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        return True  # gone already
    return False


def test_the_entry_module_loads_nothing_heavy_before_its_handlers():
    code = "import sys, voiceguide._entry; print(sorted(m for m in ('numpy', 'click', 'yaml', 'soundfile') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc to see when the command starts")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
@pytest.mark.parametrize("delay", [0, 0.02, 0.05, 0.1, 0.2])
def test_interrupt_in_the_first_moments_is_exit_130_without_traceback(sig, delay, tmp_path):
    """Counted from the command's first line of code (Python's own start-up, before it, is the interpreter's)."""
    process = subprocess.Popen([sys.executable, "-m", "voiceguide", "routines"], env=_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _handles_sigterm(process.pid) and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(delay)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode in (130, 0), (process.returncode, stderr)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    if process.returncode == 130:
        assert stderr.strip().splitlines() == ["interrupted: no output was written (an existing file is left as it was)"]


def _tiny(tmp_path: Path) -> Path:
    routine = tmp_path / "tiny.yaml"
    routine.write_text("title: Tiny\nmusic: none\nlead_in: 1s\nsections:\n  - title: A\n    steps:\n      - say: Breathe in.\n        hold: 1s\n", encoding="utf-8")
    return routine


@pytest.mark.parametrize("closed", [2, 1])
def test_render_with_a_closed_stream_still_writes_the_session(closed, tmp_path):
    routine, out = _tiny(tmp_path), tmp_path / "s.mp3"
    done = subprocess.run([sys.executable, "-m", "voiceguide", "render", str(routine), "-o", str(out)], env=_env(tmp_path),
                          capture_output=True, timeout=120, pass_fds=(), close_fds=True,
                          preexec_fn=lambda: os.close(closed))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "s.mp3", "tiny.yaml"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_device(tmp_path):
    routine, out = _tiny(tmp_path), tmp_path / "s.mp3"
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "voiceguide", "render", str(routine), "-o", str(out)],
                              env=_env(tmp_path), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
        assert out.stat().st_size > 1000
        # A command whose output is the text itself says it could not write it.
        done = subprocess.run([sys.executable, "-m", "voiceguide", "routines"], env=_env(tmp_path), stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.strip() == "error: could not write to standard output: No space left on device"


def test_click_errors_are_escaped_too(tmp_path):
    done = subprocess.run([sys.executable, "-m", "voiceguide", "render", "sculpt", "--cover", "x\x1b[2J.png"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "\x1b" not in done.stderr and r"x\x1b[2J.png" in done.stderr
