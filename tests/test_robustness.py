"""Issue 7: never a traceback, never a half-written file.

Bad input through the real CLI (exit 2, FILE:LINE:COLUMN messages, no output), faults (Ctrl-C and SIGTERM sent
to real renders, missing output folders, hung, crashing and broken speech workers, a corrupted, shared or
unwritable clip cache, a full disk) and safety (a routine cannot run programs, read files as anything but
audio, or write anywhere but the named outputs).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke

HEAD = "title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n"


def message_at(result, path: Path, where: str, hint: str) -> str:
    """The line reporting `hint` at FILE:where (where: "L:C", "L" or "" for the file as a whole)."""
    prefix = f"{path}:{where}: " if where else f"{path}: "
    lines = [line for line in result.output.splitlines() if line.startswith(prefix) and hint in line]
    assert lines, f"expected {prefix!r}...{hint!r} in:\n{result.output}"
    return lines[0]


def run_check_and_render(path: Path, tmp_path: Path, *extra):
    """`check` and `render` of the same file: both exit 2 with the same message, and no output appears."""
    out = tmp_path / "never.mp3"
    results = [invoke("check", path), invoke("render", path, "-o", out, "--engine", "fake", "-q", *extra)]
    for result in results:
        assert_clean_failure(result, 2)
    assert not out.exists() and not list(tmp_path.glob(".never.mp3*"))
    return results


# --- 1. bad input --------------------------------------------------------------------------------------

BOMB = "\n".join(
    ["title: t", "music: none", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
) + "\nsections: [*a8]\n"

BAD_ROUTINES = [
    # id, routine text, where ("LINE:COLUMN", "LINE" or "" for the file), the useful part of the message
    ("yaml-syntax", "title: t\nsections:\n  - title: [unclosed\n", "4:1", "YAML syntax error"),
    ("yaml-tab", "title: t\nsections:\n\t- title: s\n", "3:1", "YAML syntax error"),
    ("wrong-type-title", "title: [a, b]\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n", "1:8", "title must be text"),
    ("wrong-type-pace", "title: t\npace: fast\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n", "2:7", "pace must be a number between 0.25 and 4"),
    ("wrong-type-sections", "title: t\nmusic: none\nsections: {a: 1}\n", "3:11", "sections must be a list"),
    ("wrong-type-root", "- just\n- a list\n", "1:1", "must be a mapping"),
    ("unknown-key", HEAD + "      - say: go\n        hodl: 5s\n", "7:9", "unknown key 'hodl' in a step (did you mean 'hold'?)"),
    ("unknown-top-key", "titel: t\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n", "1:1", "did you mean 'title'?"),
    ("missing-say", HEAD + "      - hold: 5s\n", "6:9", "step is missing 'say'"),
    ("negative-duration", HEAD + "      - say: go\n        hold: -5\n", "7:15", "hold must be more than zero seconds"),
    ("negative-pause", HEAD + "      - pause: -2s\n", "6:16", "pause"),
    ("zero-duration", HEAD + "      - say: go\n        hold: 0\n", "7:15", "hold must be more than zero seconds"),
    ("absurd-duration", HEAD + "      - say: go\n        hold: 99999h\n", "7:15", "a single duration may be at most 2:00:00"),
    ("infinite-duration", HEAD + "      - say: go\n        hold: .inf\n", "7:15", "finite"),
    ("nan-duration", HEAD + "      - say: go\n        hold: .nan\n", "7:15", "finite"),
    ("session-over-6h", HEAD + "      - say: go\n        hold: 1h50m\n" * 4, "", "a session may be at most 6:00:00"),
    ("empty-text", HEAD + "      - say: ''\n", "6:14", "say is empty"),
    ("whitespace-text", HEAD + "      - say: \"  \\t \\n \"\n", "6:14", "say is empty"),
    ("control-character", HEAD + '      - say: "go\\x07now"\n', "6:14", "control character (U+0007)"),
    ("escape-sequence", HEAD + '      - say: "go \\e[31m red"\n', "6:14", "control character (U+001B)"),
    ("long-text", HEAD + "      - say: " + "word " * 300 + "\n", "6:14", "split it into several steps"),
    ("huge-repeat", HEAD + "      - say: go\n        repeat: 10000000000\n", "7:17", "it must be between 1 and 500"),
    ("fractional-repeat", HEAD + "      - say: go\n        repeat: 2.5\n", "7:17", "must be a whole number"),
    ("repeat-times-every-over-6h", HEAD + "      - say: go\n        repeat: 500\n        every: 60s\n", "", "a session may be at most 6:00:00"),
    ("sides-one-label", HEAD + "      - say: go\n        hold: 3\n        sides: [left]\n", "8:16", "list of two labels"),
    ("sides-three-labels", HEAD + "      - say: go\n        hold: 3\n        sides: [a, b, c]\n", "8:16", "list of two labels"),
    ("sides-not-a-list", HEAD + "      - say: go\n        hold: 3\n        sides: left\n", "8:16", "list of two labels"),
    ("sides-same-label", HEAD + "      - say: go\n        hold: 3\n        sides: [left, LEFT]\n", "8:16", "must differ"),
    ("unknown-music-track", "title: t\nmusic: warm-pda\nsections:\n  - title: s\n    steps:\n      - say: go\n", "2:8",
     "is not a built-in track (did you mean 'warm-pad'?)"),
    ("unknown-chime-set", "title: t\nmusic: none\nchimes: gong\nsections:\n  - title: s\n    steps:\n      - say: go\n", "3:9",
     "chimes 'gong' is not one of: bowl, bell, wood, none"),
    ("music-file-missing", "title: t\nmusic: {track: no-such-bed.mp3}\nsections:\n  - title: s\n    steps:\n      - say: go\n", "2:16",
     "was not found as a file"),
    ("music-device", "title: t\nmusic: /dev/zero\nsections:\n  - title: s\n    steps:\n      - say: go\n", "2:8", "music track '/dev/zero'"),
    ("alias-bomb", BOMB, "", "expands to more than"),
    ("empty-file", "", "", "is empty"),
    ("comment-only-file", "# nothing here\n\n", "", "is empty"),
    ("python-tag", "title: !!python/object/apply:os.system ['echo pwned']\nmusic: none\nsections: []\n", "1:8", "title must be text"),
    pytest.param(
        "raw-control-character", HEAD + "      - say: go\x07now\n", "6:16", "control character (U+0007)", id="raw-control-character",
    ),
    pytest.param(
        "deep-nesting", "title: t\nsections: " + "[" * 1200 + "\n", "", "nest", id="deep-nesting",
    ),
]


@pytest.mark.parametrize("case, text, where, hint", BAD_ROUTINES, ids=[c[0] if isinstance(c, tuple) else c.id for c in BAD_ROUTINES])
def test_bad_routine_is_exit_2_with_location_and_no_output(case, text, where, hint, write_routine, tmp_path, fake_engine):
    path = write_routine(text)
    for result in run_check_and_render(path, tmp_path):
        line = message_at(result, path, where, hint)
        assert len(line) < 400, "a message is one readable line"
    assert fake_engine.calls == []  # refused before any work


def test_all_problems_are_reported_at_once(write_routine, tmp_path, fake_engine):
    path = write_routine(
        "titel: t\nmusic: none\nchimes: gong\nsections:\n  - title: s\n    steps:\n"
        "      - say: ''\n      - say: go\n        hodl: 3\n      - say: go\n        repeat: 9999\n"
    )
    for result in run_check_and_render(path, tmp_path):
        for where, hint in [("1:1", "unknown key 'titel'"), ("1:1", "missing 'title'"), ("3:9", "chimes 'gong'"),
                            ("7:14", "say is empty"), ("9:9", "unknown key 'hodl'"), ("11:17", "repeat is 9999")]:
            message_at(result, path, where, hint)


@pytest.mark.parametrize(
    "content, where, hint",
    [
        (b"title: caf\xe9\nmusic: none\n", "1", "is not UTF-8 text: save the file as UTF-8"),
        (b"title: t\nmusic: none\nintro: \xff\xfe\n", "3", "is not UTF-8"),
        (b"\x00\x01\x02\x03binary", "", ""),
    ],
    ids=["latin-1", "invalid-bytes", "binary"],
)
def test_non_utf8_file(content, where, hint, tmp_path, fake_engine):
    path = tmp_path / "r.yaml"
    path.write_bytes(content)
    for result in run_check_and_render(path, tmp_path):
        assert result.output.startswith(f"{path}:" if where else f"{path}")
        if hint:
            message_at(result, path, where, hint)


def test_directory_and_missing_file(tmp_path, fake_engine):
    folder = tmp_path / "routine.yaml"
    folder.mkdir()
    for result in run_check_and_render(folder, tmp_path):
        message_at(result, folder, "", "is a folder, not a routine file")
    missing = tmp_path / "nope.yaml"
    for result in run_check_and_render(missing, tmp_path):
        message_at(result, missing, "", "no such file or built-in routine")


def test_unknown_builtin_name_suggests_one(tmp_path, fake_engine):
    for result in run_check_and_render("sculp", tmp_path):  # type: ignore[arg-type]
        message_at(result, "sculp", "", "did you mean 'sculpt'?")  # type: ignore[arg-type]


def _music_routine(write_routine, track: str) -> Path:
    return write_routine(f"title: t\nmusic: {{track: {track}}}\nsections:\n  - title: s\n    steps:\n      - say: go\n        hold: 2s\n")


def _bad_music_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    rng = np.random.default_rng(7)
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(rng.integers(0, 256, 8192, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("these are my notes, not audio\n", encoding="utf-8")
    short = tmp_path / "short.wav"
    soundfile.write(str(short), np.zeros(4410, np.float32), 44100)
    return {
        "not-audio": (noise, "is not audio"),
        "zero-length": (empty, "is empty (0 bytes)"),
        "text-named-wav": (text, "is not audio"),
        "too-short": (short, "is too short (0.10 s)"),
    }


@pytest.mark.parametrize("kind", ["not-audio", "zero-length", "text-named-wav", "too-short"])
def test_bad_music_file_is_exit_2_naming_the_file(kind, write_routine, tmp_path, fake_engine):
    path, hint = _bad_music_files(tmp_path)[kind]
    routine = _music_routine(write_routine, path.name)
    out = tmp_path / "out.mp3"
    result = invoke("render", routine, "-o", out, "--engine", "fake", "-q")
    assert_clean_failure(result, 2)
    # Caught while the routine is validated, so it points at the track's line and nothing is synthesised.
    assert f"{routine}:2:16: music file '{path.name}' {hint}" in result.output
    assert not out.exists() and not list(tmp_path.glob(".out.mp3*"))
    assert fake_engine.calls == []


@pytest.mark.parametrize("kind", ["not-audio", "zero-length", "text-named-wav", "too-short"])
def test_check_catches_bad_music_file_with_location(kind, write_routine, tmp_path):
    path, hint = _bad_music_files(tmp_path)[kind]
    routine = _music_routine(write_routine, path.name)
    result = invoke("check", routine)
    assert_clean_failure(result, 2)
    message_at(result, routine, "2:16", hint)


def test_unreadable_music_file(write_routine, tmp_path, fake_engine, monkeypatch):
    from voiceguide import music

    bed = tmp_path / "bed.wav"
    soundfile.write(str(bed), np.zeros(44100 * 2, np.float32), 44100)
    routine = _music_routine(write_routine, "bed.wav")
    if os.geteuid() == 0:
        # root reads a chmod 000 file anyway; make opening it fail the way it does for everyone else.
        real_open = open

        def no_permission(file, *args, **kwargs):
            if Path(file) == bed:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(music, "open", no_permission, raising=False)
    else:
        bed.chmod(0)
    try:
        result = invoke("render", routine, "-o", tmp_path / "out.mp3", "--engine", "fake", "-q")
    finally:
        bed.chmod(0o644)
    assert_clean_failure(result, 2)
    assert f"{routine}:2:16: music file 'bed.wav' cannot be read (permission denied)" in result.output
    assert not (tmp_path / "out.mp3").exists()


def test_unknown_voice_with_the_real_engine_suggests_close_matches(write_routine, tmp_path):
    routine = write_routine(HEAD.replace("music: none\n", "music: none\nvoice: en-uss\n") + "      - say: go\n")
    out = tmp_path / "out.mp3"
    result = invoke("render", routine, "-o", out, "-q")
    assert_clean_failure(result, 2)
    assert "unknown voice 'en-uss' (did you mean 'en-us'" in result.output
    assert "voiceguide voices" in result.output
    assert not out.exists()
    result = invoke("render", routine, "-o", out, "-q", "--voice", "qqzzxx")
    assert_clean_failure(result, 2)
    assert "unknown voice 'qqzzxx': run 'voiceguide voices'" in result.output


def test_bad_options_are_exit_2(write_routine, tmp_path, fake_engine):
    routine = write_routine(SMALL_ROUTINE)
    for args in (["--pace", "0"], ["--rate", "5000"], ["--chimes", "gong"], ["--loudness", "0"], ["-o", tmp_path / "x.xyz"]):
        result = invoke("render", routine, "-q", "--engine", "fake", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    result = invoke("render", routine, "-q", "--engine", "nope")
    assert_clean_failure(result, 2)
    assert "unknown voice engine 'nope'" in result.output
    assert fake_engine.calls == []


# Fuzzing: edits of a valid routine reach deeper than random bytes; neither ever gives a traceback.
_EDIT_TEXT = st.sampled_from(["", ":", "- ", "  ", "\n", "'", '"', "[", "]", "{", "}", "&a ", "*a", "!!", "#", "0", "-1",
                              "1e999", "true", "null", "~", "say: x", "hold: 3", "repeat: 9", "sides: [a, b]", "\t", "\x07",
                              "é", "ｘ", "\u200b", "%", "@", "|", ">", "? ", "<<: *a", "!!python/name:os.system"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(SMALL_ROUTINE)), st.integers(0, 12), _EDIT_TEXT), min_size=1, max_size=4))
def test_fuzzed_routines_never_give_a_traceback(edits, tmp_path):
    text = SMALL_ROUTINE
    for position, cut, insert in edits:
        text = text[:position] + insert + text[position + cut:]
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    result = invoke("check", path)
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "error: unexpected" not in result.output
    assert result.output.startswith(str(path)), result.output


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_through_check_never_give_a_traceback(data, tmp_path):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    result = invoke("check", path)
    assert result.exit_code == 2 or (result.exit_code == 0 and "ok" in result.output), result.output
    assert "Traceback" not in result.output and "error: unexpected" not in result.output
    assert result.output.startswith(str(path)), result.output


# --- 2. faults -----------------------------------------------------------------------------------------

LONG_ROUTINE = """\
title: Long hold
music: warm-pad
lead_in: 1s
intro: Begin when you are ready.
sections:
  - title: Hold
    steps:
      - say: Hold your palms still on your cheeks.
        hold: 5m
outro: Rest your hands.
"""


def _env(tmp_path: Path, cache: Path) -> dict:
    """A subprocess environment whose home and temporary folders are empty folders we can inspect afterwards."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, VOICEGUIDE_CACHE_DIR=str(cache), HOME=str(home), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    env.pop("VOICEGUIDE_DEBUG", None)
    return env


_SPAWNED: list[subprocess.Popen] = []


def _start_render(work: Path, env: dict, output: str = "out.mp3", *extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        # pyttsx3: these tests are about signals and workers, and its clips are shared through shared_real_cache.
        [sys.executable, "-m", "voiceguide", "render", "routine.yaml", "-o", output, "--force", "--engine", "pyttsx3", *extra],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, so the signal reaches workers too, as Ctrl-C in a terminal does
    )
    _SPAWNED.append(process)
    return process


@pytest.fixture(autouse=True)
def _no_stray_renders():
    """A failing test must not leave a render (or its workers) running."""
    yield
    while _SPAWNED:
        process = _SPAWNED.pop()
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)


def _wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def _group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _assert_interrupted(process: subprocess.Popen) -> None:
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr and "Traceback" not in stdout
    # No worker is left behind.
    assert _wait_for(lambda: _group_is_gone(process.pid), 5)


def test_sigint_while_mixing_keeps_the_previous_file_and_leaves_nothing_behind(tmp_path, shared_real_cache):
    work = tmp_path / "work"
    work.mkdir()
    (work / "routine.yaml").write_text(LONG_ROUTINE, encoding="utf-8")
    out = work / "out.mp3"
    out.write_bytes(b"the previous session")
    env = _env(tmp_path, shared_real_cache)

    process = _start_render(work, env)
    started = _wait_for(lambda: process.poll() is not None or list(work.glob(".out.mp3.*.part")), 60)
    assert started and process.poll() is None, f"the render never started writing: {process.poll()} {process.stderr.read() if process.poll() is not None else ''}"
    time.sleep(0.2)  # inside mixing and encoding
    assert process.poll() is None, "the render finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    _assert_interrupted(process)
    assert out.read_bytes() == b"the previous session"
    assert sorted(p.name for p in work.iterdir()) == ["out.mp3", "routine.yaml"]

    # A later run is unaffected, and creates nothing but its output (and cache entries).
    done = subprocess.run([sys.executable, "-m", "voiceguide", "render", "routine.yaml", "-o", "out.mp3", "--force", "-q",
                           "--engine", "pyttsx3"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in work.iterdir()) == ["out.mp3", "routine.yaml"]
    assert list((tmp_path / "tmp").iterdir()) == [] and list((tmp_path / "home").iterdir()) == []
    info = soundfile.info(str(out))
    assert 5 * 60 < info.duration < 6 * 60


def test_sigterm_while_synthesising_stops_workers_and_leaves_nothing_behind(tmp_path):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    # Enough speech that synthesis lasts several seconds even on an idle machine: with 12 short steps espeak
    # finished the whole render (and the process was exiting) within the half second below.
    steps = "".join(f"      - say: Step {n}. Sweep gently outward along the jaw line, from the chin to the ear, and breathe out slowly.\n        hold: 1s\n" for n in range(80))
    (work / "routine.yaml").write_text(HEAD + steps, encoding="utf-8")
    out = work / "out.mp3"
    out.write_bytes(b"the previous session")

    process = _start_render(work, _env(tmp_path, cache))
    # The scratch folder appears when synthesis starts; give the workers a moment to be mid-utterance.
    started = _wait_for(lambda: process.poll() is not None or (cache.is_dir() and list(cache.glob(".tmp-*"))), 60)
    assert started and process.poll() is None, f"synthesis never started: {process.poll()} {process.stderr.read() if process.poll() is not None else ''}"
    time.sleep(0.5)
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGTERM)
    _assert_interrupted(process)
    assert out.read_bytes() == b"the previous session"
    assert sorted(p.name for p in work.iterdir()) == ["out.mp3", "routine.yaml"]
    assert not list(cache.glob(".tmp-*")) and not list(cache.rglob("*.part"))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_render_killed_outright_leaves_worker_folders_that_the_next_run_removes(tmp_path):
    """SIGKILL gives no chance to clean up: the workers' private temporary folders stay, named with the render's
    pid, and the next run removes them once that process is gone (and never a live render's)."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    steps = "".join(f"      - say: Step {n}. Sweep gently outward along the jaw line, from the chin to the ear.\n        hold: 1s\n" for n in range(80))
    (work / "routine.yaml").write_text(HEAD + steps, encoding="utf-8")
    env = _env(tmp_path, cache)
    user_tmp = tmp_path / "tmp"

    process = _start_render(work, env)
    started = _wait_for(lambda: process.poll() is not None or list(user_tmp.glob("voiceguide-worker-*")), 60)
    assert started and process.poll() is None, f"no worker started: {process.poll()}"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    assert _wait_for(lambda: _group_is_gone(process.pid), 5)
    left = [p.name for p in user_tmp.iterdir()]
    assert left and all(name.startswith(f"voiceguide-worker-{process.pid}-") for name in left)

    done = subprocess.run([sys.executable, "-m", "voiceguide", "say", "Breathe out slowly.", "-o", str(work / "s.wav"),
                           "--engine", "pyttsx3"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(user_tmp.iterdir()) == []


def test_output_folder_missing_or_a_file_fails_before_any_work(write_routine, tmp_path, fake_engine):
    routine = write_routine(SMALL_ROUTINE)
    result = invoke("render", routine, "-o", tmp_path / "no" / "such" / "s.mp3", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert f"the output folder {tmp_path / 'no' / 'such'} does not exist" in result.output
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    result = invoke("render", routine, "-o", a_file / "s.mp3", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert f"{a_file} is a file, not a folder" in result.output
    result = invoke("render", routine, "-o", tmp_path, "--engine", "fake")
    assert_clean_failure(result, 2)
    assert fake_engine.calls == []
    assert not list(tmp_path.rglob("*.mp3")) and not list(tmp_path.rglob("*.part"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_output_folder_fails_before_any_work(write_routine, tmp_path, fake_engine):
    routine = write_routine(SMALL_ROUTINE)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = invoke("render", routine, "-o", folder / "s.mp3", "--engine", "fake")
    finally:
        folder.chmod(0o755)
    assert_clean_failure(result, 2)
    assert "is not writable" in result.output and fake_engine.calls == []


def test_read_only_file_system_is_found_by_trying(write_routine, tmp_path, fake_engine, monkeypatch):
    """Permissions can say yes while the disk says no (a read-only mount): the output folder is probed."""
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.mp3", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "is not writable (Read-only file system)" in result.output and fake_engine.calls == []


FAKE_WORKER = textwrap.dedent(
    """
    # A stand-in for voiceguide.voice.pyttsx3_worker speaking the same protocol, misbehaving on demand.
    import math, struct, sys, time, wave

    from voiceguide.voice.protocol import Done, ListVoices, Ready, Voices, worker_channel

    mode, log = sys.argv[1], sys.argv[2]
    channel = worker_channel()
    send = channel.send

    if mode == "never-ready":
        time.sleep(60)
    send(Ready())
    for message in channel.jobs():
        if isinstance(message, ListVoices):
            send(Voices([("en-us", "English (America)", ("en-us",), None)]))
            continue
        job, path = message.job, message.path
        with open(log, "a") as f:
            f.write(path + "\\n")
        if mode == "hang":
            time.sleep(60)
        if mode == "crash":
            sys.exit(3)
        if mode == "empty" or (mode == "empty-once" and path.endswith("-0.wav")):
            open(path, "wb").close()
        elif mode == "truncated":
            open(path, "wb").write(b"RIFF\\xff\\xff\\x00\\x00WAVEfmt ")
        else:
            with wave.open(path, "wb") as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
                w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(11025)))
        send(Done(job, path))
    """
)


@pytest.fixture
def fake_worker(tmp_path, monkeypatch):
    """Point the pyttsx3 engine at FAKE_WORKER in a given mode, with short timeouts; returns the job log."""
    from voiceguide.voice import pyttsx3_engine

    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER, encoding="utf-8")
    log = tmp_path / "jobs.log"

    def use(mode: str) -> Path:
        monkeypatch.setattr(pyttsx3_engine, "WORKER_COMMAND", [sys.executable, str(script), mode, str(log)])
        monkeypatch.setattr(pyttsx3_engine, "START_TIMEOUT_S", 2.0)
        monkeypatch.setattr(pyttsx3_engine, "_timeout_s", lambda text: 0.4)
        monkeypatch.setattr(pyttsx3_engine, "REPLY_GRACE_S", 0.2)
        return log

    return use


def _render_real_engine(routine: Path, out: Path):
    started = time.monotonic()
    result = invoke("render", routine, "-o", out, "-q", "--engine", "pyttsx3")  # the engine fake_worker stands in for
    return result, time.monotonic() - started


def test_hung_worker_is_a_timeout_error_not_a_frozen_command(fake_worker, write_routine, tmp_path):
    log = fake_worker("hang")
    result, elapsed = _render_real_engine(write_routine(HEAD + "      - say: hello\n"), tmp_path / "out.mp3")
    assert_clean_failure(result, 1)
    assert "failed twice on 's': no answer within 0.6 s (timed out" in result.output
    assert elapsed < 10
    assert len(log.read_text().splitlines()) == 2  # tried, then retried once on a fresh worker
    assert not (tmp_path / "out.mp3").exists()


def test_crashing_worker_is_retried_once_then_reported(fake_worker, write_routine, tmp_path):
    log = fake_worker("crash")
    result, elapsed = _render_real_engine(write_routine(HEAD + "      - say: hello\n"), tmp_path / "out.mp3")
    assert_clean_failure(result, 1)
    assert "failed twice on 's': the engine process exited (code 3)" in result.output
    assert len(log.read_text().splitlines()) == 2 and elapsed < 10


def test_worker_that_never_starts_times_out(fake_worker, write_routine, tmp_path):
    fake_worker("never-ready")
    result, elapsed = _render_real_engine(write_routine(HEAD + "      - say: hello\n"), tmp_path / "out.mp3")
    assert_clean_failure(result, 1)
    assert "did not start within 2 s" in result.output and elapsed < 10


def test_missing_worker_program_is_a_clear_error(write_routine, tmp_path, monkeypatch):
    from voiceguide.voice import pyttsx3_engine

    monkeypatch.setattr(pyttsx3_engine, "WORKER_COMMAND", [str(tmp_path / "no-such-python")])
    result, _ = _render_real_engine(write_routine(HEAD + "      - say: hello\n"), tmp_path / "out.mp3")
    assert_clean_failure(result, 1)
    assert "the text-to-speech worker could not be started" in result.output


@pytest.mark.parametrize("mode", ["empty", "truncated"])
def test_broken_clip_is_retried_once_then_reported(mode, fake_worker, write_routine, tmp_path):
    log = fake_worker(mode)
    result, _ = _render_real_engine(write_routine(HEAD + "      - say: hello\n"), tmp_path / "out.mp3")
    assert_clean_failure(result, 1)
    assert "failed twice on 's': the clip it wrote is empty or not a WAV file" in result.output
    assert len(log.read_text().splitlines()) == 2


def test_empty_clip_once_is_retried_and_the_render_succeeds(fake_worker, write_routine, tmp_path):
    log = fake_worker("empty-once")
    out = tmp_path / "out.wav"
    result, _ = _render_real_engine(write_routine(HEAD + "      - say: hello\n"), out)
    assert result.exit_code == 0, result.output
    # Each of the two texts (the section title "s" and "hello"): an empty clip, then a good one.
    assert sorted(Path(p).name.rsplit("-", 1)[1] for p in log.read_text().splitlines()) == ["0.wav", "0.wav", "1.wav", "1.wav"]
    assert soundfile.info(str(out)).duration > 1


def _cache_wavs(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.wav"))


def test_corrupted_cache_entries_are_resynthesised_in_a_full_render(write_routine, tmp_path, fake_engine, isolated_cache):
    routine = write_routine(SMALL_ROUTINE)
    first, second = tmp_path / "c1.json", tmp_path / "c2.json"
    result = invoke("render", routine, "-o", tmp_path / "a.wav", "--engine", "fake", "--cues", first)
    assert result.exit_code == 0, result.output
    entries = _cache_wavs(isolated_cache)
    assert len(entries) >= 3
    truncated, garbage, emptied = entries[:3]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    garbage.write_bytes(os.urandom(3000))
    emptied.write_bytes(b"")
    result = invoke("render", routine, "-o", tmp_path / "b.wav", "--engine", "fake", "--cues", second)
    assert result.exit_code == 0, result.output
    assert "3 clips synthesised" in result.output
    # The re-synthesised clips have their full length again: the timeline is the same to the millisecond.
    assert json.loads(first.read_text()) == json.loads(second.read_text())


def test_corrupted_processed_clip_is_recomputed(write_routine, tmp_path, fake_engine, isolated_cache):
    routine = write_routine(SMALL_ROUTINE)
    assert invoke("render", routine, "-o", tmp_path / "a.wav", "--engine", "fake", "--cues", tmp_path / "c1.json").exit_code == 0
    sidecars = sorted(p for p in isolated_cache.rglob("*") if p.is_file() and p.suffix != ".wav" and not p.name.endswith(".json"))
    if not sidecars:
        pytest.skip("this build keeps no processed clips beside the WAVs")
    sidecars[0].write_bytes(sidecars[0].read_bytes()[:100])  # truncated
    for other in sidecars[1:3]:
        other.write_bytes(os.urandom(500))  # garbage
    result = invoke("render", routine, "-o", tmp_path / "b.wav", "--engine", "fake", "--cues", tmp_path / "c2.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c1.json").read_text()) == json.loads((tmp_path / "c2.json").read_text())


def test_two_renders_at_once_share_one_cache(tmp_path):
    cache = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()
    steps = "".join(f"      - say: Stroke number {n}, slowly from the chin to the ear.\n        hold: 2s\n" for n in range(6))
    (work / "routine.yaml").write_text(HEAD + steps, encoding="utf-8")
    env = _env(tmp_path, cache)
    processes = [_start_render(work, env, name, "-q") for name in ("one.mp3", "two.mp3")]
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    durations = []
    for name in ("one.mp3", "two.mp3"):
        data, rate = soundfile.read(str(work / name))
        assert rate == 44100 and data.shape[1] == 2 and np.abs(data).max() > 0.05
        durations.append(len(data) / rate)
    assert durations[0] == pytest.approx(durations[1], abs=0.05)
    assert len(_cache_wavs(cache)) == 7 and not list(cache.glob(".tmp-*"))  # six steps and the section title
    assert sorted(p.name for p in work.iterdir()) == ["one.mp3", "routine.yaml", "two.mp3"]


def test_unwritable_cache_warns_and_renders_without_it(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "routine.yaml").write_text(HEAD + "      - say: Breathe in slowly.\n        hold: 2s\n", encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = _env(tmp_path, blocker / "cache")  # mkdir fails under a regular file, even for root
    done = subprocess.run([sys.executable, "-m", "voiceguide", "render", "routine.yaml", "-o", "out.mp3", "--engine", "pyttsx3"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"warning: clip cache {blocker / 'cache'} is not writable" in done.stderr
    assert "Traceback" not in done.stderr
    assert soundfile.info(str(work / "out.mp3")).duration > 3
    # The stand-in cache lived in the temporary folder and is gone with the process.
    assert list((tmp_path / "tmp").iterdir()) == []
    assert blocker.read_text() == "not a folder"


def test_cache_that_fails_mid_run_falls_back_with_a_warning(write_routine, tmp_path, fake_engine, isolated_cache, monkeypatch):
    import tempfile

    from voiceguide.voice import cache as cache_module

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the stand-in cache goes

    real_replace, real_link = os.replace, os.link

    def full_disk(real):
        def store(src, dst, *args, **kwargs):
            if str(dst).startswith(str(isolated_cache)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(src, dst, *args, **kwargs)

        return store

    # Entries are stored by link (or by rename where links are not supported): both fail on a full disk.
    monkeypatch.setattr(cache_module.os, "replace", full_disk(real_replace))
    monkeypatch.setattr(cache_module.os, "link", full_disk(real_link))
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.wav", "--engine", "fake")
    monkeypatch.setattr(cache_module.os, "replace", real_replace)
    monkeypatch.setattr(cache_module.os, "link", real_link)
    assert result.exit_code == 0, result.output
    assert "warning: clip cache" in result.output and "No space left on device" in result.output
    assert soundfile.info(str(tmp_path / "s.wav")).duration > 10


class _FailingFile:
    """The output file, failing with `error` once `after` writes have gone through."""

    def __init__(self, real, after: int, error: OSError):
        self.real, self.after, self.error = real, after, error

    def write(self, data):
        if self.after <= 0:
            raise self.error
        self.after -= 1
        return self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _fail_mp3_writes(monkeypatch, after: int, error: OSError) -> None:
    from voiceguide.export import mp3_segments

    real = mp3_segments.encode_segments
    monkeypatch.setattr(mp3_segments, "encode_segments", lambda out, *a, **k: real(_FailingFile(out, after, error), *a, **k))


def test_disk_full_while_writing_keeps_the_old_file(write_routine, tmp_path, fake_engine, monkeypatch):
    out = tmp_path / "s.mp3"
    out.write_bytes(b"the previous session")
    _fail_mp3_writes(monkeypatch, 3, OSError(errno.ENOSPC, "No space left on device"))
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", out, "--engine", "fake", "--force")
    assert_clean_failure(result, 1)
    assert f"error: could not write {out}: no space left on the device" in result.output
    assert "the previous file is unchanged" in result.output
    assert out.read_bytes() == b"the previous session"
    assert not list(tmp_path.glob(".s.mp3.*"))


def test_other_write_errors_are_one_line(write_routine, tmp_path, fake_engine, monkeypatch):
    _fail_mp3_writes(monkeypatch, 3, PermissionError(errno.EACCES, "Permission denied", "/somewhere/s.mp3"))
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.mp3", "--engine", "fake")
    assert_clean_failure(result, 1)
    assert "error: Permission denied: /somewhere/s.mp3" in result.output
    assert not list(tmp_path.glob("*.mp3")) and not list(tmp_path.glob(".s.mp3.*"))


def test_closed_stdout_is_not_a_traceback(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "voiceguide", "routines"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like `voiceguide routines | head -0`
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "Traceback" not in stderr and "unexpected" not in stderr


# --- 3. safety -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
        "!!python/name:os.system",
        "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
    ],
)
def test_yaml_tags_never_run_anything(tag, write_routine, tmp_path, fake_engine):
    marker = tmp_path / "pwned"
    for where in ("title", "say"):
        text = SMALL_ROUTINE.replace("title: Small test routine", "title: " + tag.format(marker=marker)) if where == "title" else \
            SMALL_ROUTINE.replace("say: Glide along the jaw line.", "say: " + tag.format(marker=marker))
        for result in run_check_and_render(write_routine(text), tmp_path):
            assert "must be text" in result.output or "is empty" in result.output
    assert not marker.exists()


def test_music_path_is_only_read_as_audio(write_routine, tmp_path, fake_engine):
    secret = tmp_path / "secret.wav"
    secret.write_text("password=hunter2\n", encoding="utf-8")
    result = invoke("render", _music_routine(write_routine, "secret.wav"), "-o", tmp_path / "o.mp3", "--engine", "fake", "-q")
    assert_clean_failure(result, 2)
    assert "music file 'secret.wav' is not audio" in result.output
    assert "hunter2" not in result.output


def test_render_writes_only_the_named_outputs(write_routine, tmp_path, fake_engine, isolated_cache, monkeypatch):
    import tempfile

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: warm-pad"))
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    before = set(tmp_path.rglob("*"))
    result = invoke("render", routine, "-o", work / "s.mp3", "--engine", "fake", "--cues", work / "s.json", "-q")
    assert result.exit_code == 0, result.output
    created = {p.relative_to(tmp_path) for p in set(tmp_path.rglob("*")) - before if not p.is_relative_to(isolated_cache) and p != isolated_cache}
    assert created == {Path("work/s.mp3"), Path("work/s.json")}
    assert list(private_tmp.iterdir()) == []
