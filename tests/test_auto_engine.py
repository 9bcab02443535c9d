"""The default engine, auto: the first installed engine that speaks the language naturally, else the system voice."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from mutagen.id3 import ID3

from voiceguide.cli import _Progress
from voiceguide.eta import Eta, clock_text, timing_text
from voiceguide.requests import resolve_session, session_of
from voiceguide.routine import load_routine
from voiceguide.settings import SETTINGS
from voiceguide.voice import ENGINES, DEFAULT_ENGINE, VoiceInfo
from voiceguide.voice.auto import (
    HINT_MARKER, NaturalVoiceHint, candidate_engines, choose_engine, hint_shown, natural_engines, natural_languages,
)
from voiceguide.voice.registry import PIPER, PYTTSX3, Capabilities, EngineSpec
from voiceguide.voice.resolve import resolve_exact

from .conftest import SMALL_ROUTINE, FakeEngine, assert_clean_failure, invoke

HINT = 'pip install "voiceguide[neural]"'


@pytest.fixture
def natural_fake(monkeypatch):
    """The fake engine registered as a natural German and English voice; returns a function to change that."""
    engine = FakeEngine()

    def register(natural_for=("de", "en"), installed=None) -> FakeEngine:
        spec = EngineSpec("fake", lambda: engine, Capabilities(natural_for=natural_for, installed=installed))
        monkeypatch.setitem(ENGINES, "fake", spec)
        return engine

    register()
    return register


@pytest.fixture
def no_piper(monkeypatch):
    """A plain install: the natural engines (piper, kokoro) are registered but their packages are missing."""
    for name in list(ENGINES):
        spec = ENGINES[name]
        if spec.capabilities.natural_for and name != "fake":
            capabilities = dataclasses.replace(spec.capabilities, installed=lambda: False)
            monkeypatch.setitem(ENGINES, name, EngineSpec(name, spec.factory, capabilities))


def test_auto_is_the_default_everywhere():
    assert DEFAULT_ENGINE == "auto" and SETTINGS["engine"].default_value() == "auto"
    assert SETTINGS["engine"].choice_list()[:3] == ("auto", "pyttsx3", "piper")
    assert load_routine("sculpt").voice.engine is None  # the built-ins leave it to the default


def test_capabilities_fields_and_piper_registration():
    assert Capabilities().natural_for == () and Capabilities().installed is None and Capabilities().is_installed()
    assert PIPER.capabilities.natural_for == ("en",) and PIPER.capabilities.installed is not None
    assert PYTTSX3.capabilities.natural_for == ()

    def broken() -> bool:
        raise RuntimeError("no")

    assert not Capabilities(installed=broken).is_installed()
    assert not Capabilities(installed=lambda: False).is_installed()


def test_english_is_piper_on_this_machine_and_others_the_system_voice():
    # The test environment has the neural extra: the Quick start's install.
    assert PIPER.capabilities.is_installed()
    assert choose_engine("en") == "piper" and choose_engine("en-GB") == "piper"
    assert choose_engine("de") == "pyttsx3" and choose_engine("xx") == "pyttsx3"
    resolved = resolve_session(session_of("sculpt"))
    assert resolved.engine == "piper"
    assert resolve_session(session_of("sculpt", engine="pyttsx3")).engine == "pyttsx3"


@pytest.mark.slow
def test_the_default_render_speaks_english_with_piper(write_routine, tmp_path, shared_real_cache, monkeypatch):
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(shared_real_cache))
    routine = write_routine("title: T\nmusic: none\nchimes: none\nsections:\n  - title: Jaw\n    steps:\n      - say: Rest your hands.\n")
    out = tmp_path / "t.mp3"
    result = invoke("render", routine, "-o", out)
    assert result.exit_code == 0, result.output
    assert HINT not in result.output  # a natural voice spoke: nothing to suggest
    comment = ID3(out).getall("COMM")[0].text[0]
    assert "piper voice" in comment


def test_the_first_installed_natural_engine_in_registration_order(natural_fake):
    assert natural_engines("de-AT") == ["fake"] and choose_engine("de-AT") == "fake"
    # piper was registered before the fake engine: it comes first for English.
    assert natural_engines("en")[0] == "piper" and natural_engines("en")[-1] == "fake" and choose_engine("en") == "piper"
    natural_fake(installed=lambda: False)
    assert natural_engines("de") == [] and choose_engine("de", warn=False) == "pyttsx3"
    assert natural_engines("de", installed_only=False) == ["fake"]
    assert "fake" not in candidate_engines("de")
    assert "de" in natural_languages() and "en" in natural_languages()


def test_a_failing_install_check_falls_back_to_the_system_voice_with_a_hint(no_piper):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert choose_engine("en") == "pyttsx3"
        assert choose_engine("de") == "pyttsx3"  # no engine speaks German naturally: nothing to suggest
    hints = [w for w in caught if issubclass(w.category, NaturalVoiceHint)]
    assert len(hints) == 1 and HINT in str(hints[0].message)


@pytest.mark.slow
def test_auto_renders_with_the_engine_it_picked_and_names_it(natural_fake, write_routine, tmp_path):
    engine = natural_fake()
    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: none\nlanguage: de"))
    out, cues = tmp_path / "s.mp3", tmp_path / "s.json"
    result = invoke("render", routine, "-o", out, "--cues", cues, "-q")
    assert result.exit_code == 0, result.output
    assert engine.calls, "the natural engine spoke"
    comment = ID3(out).getall("COMM")[0].text[0]
    assert "fake voice" in comment and "auto" not in comment
    # A second render with an explicit --engine fake finds every clip in the cache: the keys name the real engine.
    engine.calls.clear()
    again = invoke("render", routine, "-o", tmp_path / "t.mp3", "--engine", "fake", "-q")
    assert again.exit_code == 0, again.output
    assert engine.calls == []


def test_auto_in_a_routine_and_on_the_command_line(natural_fake, write_routine, tmp_path):
    engine = natural_fake()
    text = SMALL_ROUTINE.replace("music: none", "music: none\nlanguage: de\nvoice: {engine: auto}")
    result = invoke("render", write_routine(text), "-o", tmp_path / "a.wav", "--engine", "auto", "-q")
    assert result.exit_code == 0, result.output
    assert engine.calls


def test_exact_voice_matching():
    voices = [
        VoiceInfo("en_US-joe-medium", "joe (medium, bundled)", ("en-us",)),
        VoiceInfo("gmw/en", "English (Great Britain)", ("en-gb", "en")),
    ]
    assert resolve_exact("en-us", voices[:1]).id == "en_US-joe-medium"
    assert resolve_exact("EN_us", voices[:1]) is not None
    assert resolve_exact("en", voices[:1]) is not None  # a bare language: any voice of it
    assert resolve_exact("en-gb", voices[:1]) is None  # never an American stand-in for British
    assert resolve_exact("en-gb", voices).id == "gmw/en"
    assert resolve_exact("gmw/en", voices).id == "gmw/en"
    assert resolve_exact("joe", voices).id == "en_US-joe-medium"  # a name's first part
    assert resolve_exact("jo", voices) is None


def test_a_voice_only_one_engine_has_picks_that_engine(natural_fake, write_routine, tmp_path):
    engine = natural_fake()
    # English: piper comes first, but only the fake engine has the voice "fake-en".
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "a.wav", "--voice", "fake-en", "-q")
    assert result.exit_code == 0, result.output
    assert engine.calls


@pytest.mark.parametrize(
    "voice, engine",
    [("en-us", "piper"), ("joe", "piper"), ("en_US-joe-medium", "piper"), ("en-gb", "pyttsx3"), ("gmw/en-us", "pyttsx3"),
     ("en-us+f3", "pyttsx3")],
)
def test_real_voices_pick_the_engine_that_has_them(voice, engine):
    assert choose_engine("en", voice) == engine


@pytest.mark.slow
def test_an_unknown_voice_with_auto_is_bad_input(tmp_path):
    result = invoke("say", "Hello.", "--voice", "en-uss", "-o", tmp_path / "x.wav")
    assert_clean_failure(result, 2)
    assert "unknown voice 'en-uss' (did you mean 'en-us'" in result.output
    missing = invoke("say", "Hello.", "--voice", str(tmp_path / "nothere.onnx"), "-o", tmp_path / "x.wav")
    assert_clean_failure(missing, 2)
    assert "does not exist" in missing.output


@pytest.mark.slow
def test_a_plain_install_says_once_how_to_get_natural_voices(no_piper, isolated_cache, tmp_path):
    quiet = invoke("say", "Rest.", "-o", tmp_path / "q.wav", "-q")
    assert quiet.exit_code == 0, quiet.output
    assert HINT not in quiet.output and not hint_shown()  # never in --quiet, and not counted as shown
    first = invoke("say", "Rest.", "-o", tmp_path / "a.wav")
    assert first.exit_code == 0, first.output
    notes = [line for line in first.output.splitlines() if HINT in line]
    assert len(notes) == 1 and notes[0].startswith("note: ")
    assert (isolated_cache / HINT_MARKER).exists()
    second = invoke("say", "Rest.", "-o", tmp_path / "b.wav")
    assert second.exit_code == 0 and HINT not in second.output


def test_voices_shows_what_auto_picks(natural_fake, no_piper):
    natural_fake(natural_for=("de",), installed=lambda: False)
    result = invoke("voices", "--engine", "auto")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    assert rows["en"].split()[1] == "pyttsx3" and "gmw/en-us" in rows["en"] and HINT in rows["en"]
    assert rows["de"].split()[1] == "pyttsx3" and HINT in rows["de"]
    assert rows["other"].split()[1] == "pyttsx3"


def test_voices_lists_auto_first_then_every_voice():
    result = invoke("voices", "--language", "en")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("auto")
    assert lines[1].split()[:3] == ["en", "piper", "en_US-joe-medium"] and lines[1].endswith("natural")
    assert any(line.startswith("pyttsx3 ") for line in lines) and any(line.startswith("piper ") for line in lines)


# ----- the progress line's time left


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_eta_from_the_rate_so_far():
    clock = FakeClock()
    eta = Eta(clock)
    # 20 of 120 clips came from the cache at once: they say nothing about the rate.
    assert eta.update("voice", 20, 120) is None
    clock.now += 1.0
    assert eta.update("voice", 20, 120) is None  # nothing synthesised yet: no promise
    clock.now += 1.0
    assert eta.update("voice", 25, 120) == pytest.approx(95 * 2.0 / 5)  # 5 clips in 2 s, 95 to go
    clock.now += 8.0
    assert eta.update("voice", 45, 120) == pytest.approx(75 * 10.0 / 25)
    assert eta.update("voice", 120, 120) == 0.0
    assert eta.elapsed_s() == pytest.approx(10.0)


def test_eta_restarts_with_each_stage():
    clock = FakeClock()
    eta = Eta(clock)
    eta.update("voice", 0, 10)
    clock.now += 30.0
    eta.update("voice", 10, 10)
    assert eta.update("mix", 0, 1000) is None  # the mix's rate is not the voice's
    clock.now += 2.0
    assert eta.update("mix", 100, 1000) == pytest.approx(18.0)
    assert eta.elapsed_s() == pytest.approx(32.0)


def test_time_texts():
    assert clock_text(0) == "0:00" and clock_text(59.9) == "0:59" and clock_text(59.1, up=True) == "1:00"
    assert clock_text(3725) == "1:02:05"
    clock = FakeClock()
    eta = Eta(clock)
    clock.now += 12.4
    assert timing_text(eta, None) == "0:12 elapsed, estimating time left"
    assert timing_text(eta, 29.2) == "0:12 elapsed, about 0:30 left"


def test_progress_line_shows_elapsed_and_left():
    clock = FakeClock()
    progress = _Progress(enabled=False, clock=clock)
    assert progress.line("voice", 0, 100).endswith("0:00 elapsed, estimating time left")
    clock.now += 4.0
    line = progress.line("voice", 10, 100)
    assert "10%" in line and line.endswith("0:04 elapsed, about 0:36 left")


def test_clips_are_reported_as_they_are_synthesised(isolated_cache):
    from voiceguide.voice import ClipCache, VoiceOptions, prepare_clips

    engine = FakeEngine()
    reports: list[tuple[int, int, int]] = []
    cache = ClipCache(isolated_cache)
    prepare_clips(["One.", "Two."], engine, VoiceOptions(), cache)  # two of five from the cache
    texts = ["One.", "Two.", "Three.", "Four.", "Five."]

    def progress(done: int, total: int) -> None:
        reports.append((done, total, len(engine.calls)))

    engine.calls.clear()
    prepare_clips(texts, engine, VoiceOptions(), cache, progress=progress)
    # The cached ones at once, then one report per clip while the engine is still at work (not all at the end).
    assert reports == [(2, 5, 0), (3, 5, 1), (4, 5, 2), (5, 5, 3)]
