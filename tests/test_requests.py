"""The request API: Session and Output resolved once, render() a thin wrapper, cancellation leaves nothing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import fields

import pytest

import voiceguide
from voiceguide.errors import Cancelled, ParameterError, UsageError
from voiceguide.pipeline import render, render_request, synthesize_plan
from voiceguide.requests import Cancel, Output, Session, resolve_request

from .conftest import SMALL_ROUTINE

RUNTIME_ONLY = {"output", "cache", "block_frames", "progress"}  # not settings: where the work runs and reports


def test_render_keywords_and_request_fields_cannot_drift():
    params = set(inspect.signature(render).parameters) - RUNTIME_ONLY
    request_fields = {f.name for f in fields(Session)} | {f.name for f in fields(Output)} - {"path"}
    assert params == request_fields
    assert set(inspect.signature(synthesize_plan).parameters) - {"cache", "progress"} == {f.name for f in fields(Session)}


def test_no_module_is_hidden_by_a_function_of_the_same_name():
    modules = {m.name for m in pkgutil.iter_modules(voiceguide.__path__)}
    assert not modules & set(voiceguide._LAZY), modules & set(voiceguide._LAZY)
    importlib.import_module("voiceguide.pipeline")
    assert callable(voiceguide.render)


@pytest.mark.parametrize(
    "session, output, parameter",
    [
        (dict(pace=0.8, length_s=60), {}, "pace"),
        (dict(length_s=-1), {}, "length_s"),
        (dict(pace=9.0), {}, "pace"),
        (dict(chimes="gong"), {}, "chimes"),
        ({}, dict(chapters="pages"), "chapters"),
        ({}, dict(loudness_lufs=-3), "loudness_lufs"),
        ({}, dict(cues="{out}"), "cues"),
    ],
)
def test_errors_name_their_parameter(write_routine, fake_engine, tmp_path, session, output, parameter):
    out = tmp_path / "s.wav"
    output = {k: (str(out) if v == "{out}" else v) for k, v in output.items()}
    with pytest.raises(ParameterError) as caught:
        resolve_request(Session(write_routine(SMALL_ROUTINE), engine="fake", **session), Output(out, **output))
    assert caught.value.parameter == parameter and isinstance(caught.value, UsageError)
    assert fake_engine.calls == [] and not out.exists()


def test_the_cli_keeps_its_words_for_pace_and_length(write_routine, fake_engine, tmp_path):
    with pytest.raises(ParameterError, match="use either --pace or --length"):
        render(write_routine(SMALL_ROUTINE), tmp_path / "s.wav", engine="fake", pace=0.8, length_s=60)


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_cancel_after_the_first_mix_block_leaves_no_file(write_routine, fake_engine, tmp_path, suffix):
    cancel = Cancel()
    stages = []

    def progress(stage, done, total):
        stages.append(stage)
        if stage == "mix":
            cancel.set()

    out = tmp_path / f"s{suffix}"
    with pytest.raises(Cancelled):
        render_request(
            Session(write_routine(SMALL_ROUTINE), engine="fake"), Output(out), progress=progress, cancel=cancel,
            block_frames=4096,
        )
    assert "mix" in stages and cancel.is_set()
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or "tmp" in p.name] == []


def test_a_request_renders_what_render_does(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    a = render(routine, tmp_path / "a.wav", engine="fake", pace=0.8)
    b = render_request(Session(routine, engine="fake", pace=0.8), Output(tmp_path / "b.wav"))
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert a.plan == b.plan
