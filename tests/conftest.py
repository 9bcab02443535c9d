"""Shared fixtures: a tiny deterministic voice engine registered like a real one, isolated caches."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from voiceguide.cli import cli
from voiceguide.voice import ENGINES, Engine, VoiceInfo, VoiceOptions, get_engine

FAKE_RATE = 22050

# Programs a user's machine may or may not have; voiceguide must behave the same either way.
SYSTEM_DECODERS = ("ffmpeg", "ffprobe", "avconv", "avprobe")


def path_without(programs, path: str | None = None) -> str:
    """A PATH on which every program of `path` is found except `programs`: one folder of symlinks.

    Hiding whole folders (/usr/bin) would hide python and git too; this hides only the named programs.
    """
    folder = Path(tempfile.mkdtemp(prefix="voiceguide-path-"))
    atexit.register(shutil.rmtree, folder, True)
    for entry in reversed((path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)):
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in names:
            if name in programs:
                continue
            target = os.path.join(entry, name)
            link = folder / name
            if os.access(target, os.X_OK) and not os.path.isdir(target):
                if link.is_symlink():
                    link.unlink()  # an earlier PATH entry wins, as it does for the shell
                link.symlink_to(target)
    return str(folder)


# VOICEGUIDE_TEST_FFMPEG=hidden runs the whole suite as on a machine without a system ffmpeg/ffprobe (CI runs
# it both ways). Set here, at import, so every subprocess the tests start inherits the same PATH.
if os.environ.get("VOICEGUIDE_TEST_FFMPEG") == "hidden":
    os.environ["PATH"] = path_without(SYSTEM_DECODERS)
    assert shutil.which("ffmpeg") is None and shutil.which("ffprobe") is None


class FakeEngine(Engine):
    """Speech stand-in: one harmonic burst per word, 60/rate seconds a word, pitch from the text's hash.

    Deterministic and fast, with real energy where words are, so mix and timing tests can measure it.
    """

    name = "fake"

    def __init__(self, fail_on: str | None = None):
        self.calls: list[str] = []
        self.fail_on = fail_on

    def version(self) -> str:
        return "fake-1"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("fake-en", "Fake English", ("en",), engine=self.name)]

    def synthesize(self, texts, options: VoiceOptions, out_dir: Path, on_clip) -> None:
        for i, text in enumerate(texts):
            if self.fail_on and self.fail_on in text:
                from voiceguide.errors import EngineError

                raise EngineError(f"fake engine refuses {text!r}")
            self.calls.append(text)
            path = out_dir / f"fake-{i}.wav"
            write_fake_speech(path, text, options.rate_wpm, options.volume)
            on_clip(text, path)


def fake_speech(text: str, rate_wpm: int = 150, volume: float = 1.0) -> np.ndarray:
    word_s = 60.0 / rate_wpm
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    f0 = 110 + seed % 90
    pieces = [np.zeros(int(0.1 * FAKE_RATE))]  # leading silence, like a real engine
    for _ in text.split():
        n = int(word_s * 0.8 * FAKE_RATE)
        t = np.arange(n) / FAKE_RATE
        burst = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * np.hanning(n)
        pieces += [0.5 * volume * burst, np.zeros(int(word_s * 0.2 * FAKE_RATE))]
    pieces.append(np.zeros(int(0.2 * FAKE_RATE)))
    return np.concatenate(pieces)


def write_fake_speech(path: Path, text: str, rate_wpm: int, volume: float) -> None:
    samples = np.round(fake_speech(text, rate_wpm, volume) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(FAKE_RATE)
        wav.writeframes(samples.tobytes())


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory):
    """Assembled models (90-150 MB each) are joined once per test run, not once per test."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch, shared_models_dir):
    cache = tmp_path / "clip-cache"
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(cache))
    monkeypatch.setenv("VOICEGUIDE_MODELS_DIR", str(shared_models_dir))
    # A developer's own defaults must never leak into the tests.
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(tmp_path / "no-config.yaml"))
    return cache


@pytest.fixture
def without_ffmpeg(monkeypatch):
    """This test runs as on a machine without a system ffmpeg/ffprobe, whatever this one has."""
    monkeypatch.setenv("PATH", path_without(SYSTEM_DECODERS))


requires_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs a system ffmpeg/ffprobe (CI runs the suite with and without one)",
)


@pytest.fixture(scope="session")
def shared_real_cache(tmp_path_factory):
    """One cache for the real-engine tests, so each utterance is synthesised once per test run."""
    return tmp_path_factory.mktemp("real-cache")


@pytest.fixture
def fake_engine(monkeypatch):
    engine = FakeEngine()
    monkeypatch.setitem(ENGINES, "fake", lambda: engine)
    return engine


@pytest.fixture
def write_routine(tmp_path):
    def write(text: str, name: str = "routine.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


SMALL_ROUTINE = """\
title: Small test routine
music: none
lead_in: 1s
intro: Sit comfortably and warm the oil.
outro: Rest your hands.
sections:
  - title: Neck
    steps:
      - say: Circle above the collarbones.
        repeat: 3
        every: 1.5s
        count: true
      - say: Stroke down the neck.
        hold: 3s
        sides: [left, right]
      - pause: 2s
  - title: Jaw
    steps:
      - say: Glide along the jaw line.
        hold: 2.5s
"""


def invoke(*args, env: dict | None = None):
    """The CLI in-process, exceptions caught as a user would meet them."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def assert_clean_failure(result, code: int) -> None:
    """Exit code as asked, a message, and no traceback (neither printed nor escaping the command)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.strip()


def problems(text: str) -> list[str]:
    """The lines of the RoutineError that parsing `text` (as r.yaml) raises: one problem a line."""
    from voiceguide import RoutineError, parse_routine

    with pytest.raises(RoutineError) as info:
        parse_routine(text, source="r.yaml")
    return str(info.value).splitlines()


def engine_fixture(name: str):
    """A module-scoped fixture of the real engine `name`, started once for the module and closed after it, skipped
    where the engine's packages are not installed. Bind it to the fixture's name: `espeak = engine_fixture("pyttsx3")`."""

    @pytest.fixture(scope="module")
    def engine():
        if not ENGINES[name].capabilities.is_installed():
            pytest.skip(f'the {name} engine is not installed: pip install -e ".[test,neural]"')
        started = get_engine(name)
        yield started
        started.close()

    return engine


def run_cli_after(prelude: str, *args, timeout_s: float = 60):
    """`voiceguide ARGS` in a fresh interpreter after `prelude` ran (code that hides an installed package, say):
    what a user whose machine lacks it meets."""
    import subprocess
    import sys

    argv = ["voiceguide", *(str(a) for a in args)]
    script = f"{prelude}\nimport sys\nfrom voiceguide.cli import main\nsys.argv = {argv!r}\nmain()\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout_s)
