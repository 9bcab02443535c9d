"""The engine registry: built-ins and plugins by one path, names for validation, capabilities that are reported."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import pytest

import voiceguide.voice as voice
from voiceguide.errors import EngineError
from voiceguide.routine import load_routine
from voiceguide.settings import SETTINGS
from voiceguide.voice import ENGINES, Capabilities, EngineSpec, get_engine
from voiceguide.voice.registry import PIPER, PYTTSX3, EngineRegistry, engine_names

from .conftest import FakeEngine, invoke

ROUTINE = "title: T\nmusic: none\nvoice: {engine: %s}\nsections:\n  - title: A\n    steps:\n      - say: Hello there.\n"


def test_the_built_ins_are_registered_with_their_capabilities():
    assert engine_names()[:2] == ("pyttsx3", "piper")
    assert ENGINES["pyttsx3"] is PYTTSX3 and ENGINES["piper"] is PIPER
    assert PIPER.capabilities.pitch is False and PYTTSX3.capabilities == Capabilities()


def test_a_registered_engine_is_accepted_everywhere_a_name_is(fake_engine, write_routine, tmp_path, monkeypatch):
    """Registered in code: usable with --engine, by a routine's voice engine and by the config's engine."""
    assert "fake" in SETTINGS["engine"].choice_list()
    routine = write_routine(ROUTINE % "fake")
    assert load_routine(routine).voice.engine == "fake"
    result = invoke("plan", routine, "--json")
    assert result.exit_code == 0, result.output
    assert fake_engine.calls
    config = tmp_path / "config.yaml"
    config.write_text("engine: fake\n", encoding="utf-8")
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(config))
    assert invoke("check", write_routine(ROUTINE % "pyttsx3", "other.yaml")).exit_code == 0


def test_an_unregistered_engine_is_still_refused(write_routine):
    result = invoke("check", write_routine(ROUTINE % "fake"))
    assert result.exit_code == 2 and "voice engine 'fake' is not one of: auto, pyttsx3, piper" in result.output


def _entry_points(monkeypatch, *points: EntryPoint) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [p for p in points if p.group == group])


def test_engines_of_installed_packages_are_found_and_loaded_on_use(monkeypatch):
    module = types.ModuleType("voiceguide_test_plugin")
    made = []
    module.SPEC = EngineSpec("ignored-name", lambda: made.append(1) or FakeEngine(), Capabilities(pitch=False))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    _entry_points(
        monkeypatch,
        EntryPoint("plug", f"{module.__name__}:SPEC", "voiceguide.engines"),
        EntryPoint("pyttsx3", f"{module.__name__}:SPEC", "voiceguide.engines"),  # never replaces a built-in
        EntryPoint("broken", "voiceguide_no_such_module:SPEC", "voiceguide.engines"),
        EntryPoint("other", f"{module.__name__}:SPEC", "some.other.group"),
    )
    registry = EngineRegistry()
    registry.register("pyttsx3", PYTTSX3)
    assert list(registry) == ["pyttsx3", "broken", "plug"]
    assert registry["pyttsx3"] is PYTTSX3 and made == []  # listing names imports nothing
    assert registry.capabilities("plug").pitch is False
    assert isinstance(registry["plug"](), FakeEngine) and made == [1]
    with pytest.raises(EngineError, match="'broken' .*could not be loaded"):
        registry["broken"]()


def test_without_package_metadata_the_built_ins_remain(monkeypatch):
    import importlib.metadata

    def no_metadata(group=None):
        raise OSError("no metadata here")

    monkeypatch.setattr(importlib.metadata, "entry_points", no_metadata)
    registry = EngineRegistry()
    registry.register("pyttsx3", PYTTSX3)
    registry.register("piper", PIPER)
    assert tuple(registry) == ("pyttsx3", "piper")


def test_get_engine_goes_through_the_registry(monkeypatch):
    engine = FakeEngine()
    monkeypatch.setitem(ENGINES, "fake", lambda: engine)
    assert get_engine("fake") is engine
    with pytest.raises(Exception, match="unknown voice engine 'fak' \\(did you mean 'fake'"):
        get_engine("fak")


@pytest.mark.parametrize("command", ["plan", "render"])
def test_a_setting_the_engine_cannot_apply_is_reported(command, write_routine, tmp_path, monkeypatch):
    """Piper has no pitch: the soft preset's pitch is reported as not applied (its rate and filters still are)."""
    engine = FakeEngine()
    engine.name = "nopitch"
    monkeypatch.setitem(ENGINES, "nopitch", EngineSpec("nopitch", lambda: engine, Capabilities(pitch=False)))
    monkeypatch.setattr(voice, "_WARNED", set())
    routine = write_routine(ROUTINE % "nopitch")
    extra = ["-o", tmp_path / "s.wav"] if command == "render" else []
    result = invoke(command, routine, "--preset", "soft", *extra)
    assert result.exit_code == 0, result.output
    assert "warning: the nopitch engine has no pitch control: the soft preset's pitch is not applied" in result.output
    assert engine.calls
    plain = invoke(command, routine, *(["-o", tmp_path / "p.wav"] if extra else []))
    assert plain.exit_code == 0 and "warning" not in plain.output
