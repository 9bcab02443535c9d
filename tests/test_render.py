"""End to end: render, decode the file back, and compare what is heard with the plan."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from voiceguide import UsageError, render
from voiceguide.chimes import chime as chime_samples
from voiceguide.voice import ClipCache

from .conftest import SMALL_ROUTINE

SR = 44100
WINDOW_S = 0.02


def decode(path):
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert rate == SR and data.shape[1] == 2
    return data


def envelope_db(mono: np.ndarray) -> np.ndarray:
    n = int(WINDOW_S * SR)
    frames = mono[: len(mono) // n * n].reshape(-1, n).astype(np.float64)
    return 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)


def window(t_s: float) -> int:
    return int(t_s / WINDOW_S)


def chime_onset_s(audio: np.ndarray, start_s: float) -> float:
    # Chimes strike in 4 ms, so a threshold crossing marks their onset sharply.
    start = int((start_s - 0.05) * SR)
    # A tenth of the chime's peak: above an MP3's pre-echo of a loud knock, still inside the strike's attack.
    threshold = 0.1 * np.max(np.abs(audio[start : start + SR // 2, 0]))
    return (start + int(np.argmax(np.abs(audio[start:, 0]) > threshold))) / SR


def mp3_delay_s(audio: np.ndarray, plan) -> float:
    """The offset of decoded audio against the plan, read at the first chime."""
    first = next(e for e in plan.events if e.type == "chime")
    return chime_onset_s(audio, first.start_s) - first.start_s


@pytest.mark.parametrize("suffix", [".mp3", ".wav", ".flac", "segmented.mp3"])
def test_render_matches_plan(write_routine, fake_engine, tmp_path, suffix, monkeypatch):
    if suffix == "segmented.mp3":
        # A short session in 10 s segments, so this checks the joins of the parallel MP3 encoder too.
        from voiceguide.export import mp3_segments

        monkeypatch.setattr(mp3_segments, "SEGMENT_S", 10.0)
        monkeypatch.setattr(mp3_segments, "MIN_SEGMENT_S", 10.0)
        suffix = ".mp3"
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / f"session{suffix}"
    cues = tmp_path / "cues.json"
    # Wood: its knocks ring out within their spans, so the silence between them can be checked.
    result = render(routine, out, engine="fake", cues=cues, chimes="wood")
    plan = result.plan
    audio = decode(out)
    assert abs(len(audio) / SR - plan.duration_s) < 0.1

    # Gapless MP3 (LAME info frame): decoded audio lines up with the plan to the sample, like WAV.
    delay = mp3_delay_s(audio, plan)
    assert abs(delay) < 0.001
    assert len(audio) == round(plan.duration_s * SR)
    env = envelope_db(audio[:, 0])
    shift = window(delay)
    for event in plan.events:
        if event.type == "speech":
            inner = env[window(event.start_s + 0.05) + shift : window(event.end_s - 0.05) + shift]
            # Speech energy throughout its span (the fake voice pauses briefly between words).
            assert np.percentile(inner, 75) > -40, event
    # With music off, everything outside speech and chimes is silence.
    # A chime rings out past its span (under what follows).
    rings_s = {e.kind: len(chime_samples(e.kind, SR, plan.chimes)) / SR for e in plan.events if e.type == "chime"}
    sounding = [(e.start_s, max(e.end_s, e.start_s + rings_s.get(e.kind, 0.0) * (e.type == "chime"))) for e in plan.events if e.type in ("speech", "chime")]
    quiet = np.ones(len(env), bool)
    for a, b in sounding:
        quiet[max(0, window(a - 0.1) + shift) : window(b + 0.1) + shift] = False
    assert quiet.sum() > len(env) * 0.3
    assert np.max(env[quiet]) < -60

    # Chimes start when planned.
    for chime in (e for e in plan.events if e.type == "chime"):
        assert chime_onset_s(audio, chime.start_s) - delay == pytest.approx(chime.start_s, abs=0.005), chime

    sheet = json.loads(cues.read_text())
    assert sheet["duration_s"] == pytest.approx(plan.duration_s, abs=0.001)
    assert {e["type"] for e in sheet["events"]} == {"speech", "chime", "action", "pause"}
    assert [c["title"] for c in sheet["chapters"]] == ["Introduction", "Neck", "Jaw", "Closing"]


def test_segmented_mp3_decodes_to_the_mix(write_routine, fake_engine, tmp_path, monkeypatch):
    from voiceguide.export import mp3_segments

    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: {track: ocean-wash}"))
    render(routine, tmp_path / "s.wav", engine="fake")
    joins = []
    real = mp3_segments.encode_segments
    monkeypatch.setattr(mp3_segments, "encode_segments", lambda *a, **k: (r := real(*a, **k), joins.extend(r[2]))[0])
    monkeypatch.setattr(mp3_segments, "SEGMENT_S", 10.0)
    monkeypatch.setattr(mp3_segments, "MIN_SEGMENT_S", 10.0)
    render(routine, tmp_path / "s.mp3", engine="fake")
    assert len(joins) >= 3
    mix, mp3 = decode(tmp_path / "s.wav"), decode(tmp_path / "s.mp3")
    assert mp3.shape == mix.shape
    # Coding error stays at the codec's level in every 100 ms window, joins included (a bad join is a click
    # or a dropout at signal level).
    n = int(0.1 * SR)
    usable = len(mix) // n * n
    err = np.sqrt(np.mean(((mp3 - mix)[:usable].reshape(-1, n, 2)) ** 2, axis=(1, 2)))
    level = np.sqrt(np.mean((mix[:usable].reshape(-1, n, 2)) ** 2, axis=(1, 2)))
    assert np.all(err < np.maximum(0.1 * level, 10 ** (-60 / 20))), np.max(err / np.maximum(level, 1e-9))


def test_existing_output_is_kept_without_force(write_routine, fake_engine, tmp_path):
    out = tmp_path / "s.mp3"
    out.write_bytes(b"precious")
    with pytest.raises(UsageError, match="already exists; use --force"):
        render(write_routine(SMALL_ROUTINE), out, engine="fake")
    assert out.read_bytes() == b"precious"
    render(write_routine(SMALL_ROUTINE), out, engine="fake", force=True)
    assert out.read_bytes() != b"precious"


def test_failed_render_leaves_nothing_behind(write_routine, tmp_path, monkeypatch):
    from voiceguide.voice import ENGINES

    from .conftest import FakeEngine

    monkeypatch.setitem(ENGINES, "broken", lambda: FakeEngine(fail_on="jaw"))
    out = tmp_path / "s.mp3"
    out.write_bytes(b"old session")
    with pytest.raises(Exception, match="fake engine refuses"):
        render(write_routine(SMALL_ROUTINE), out, engine="broken", force=True)
    assert out.read_bytes() == b"old session"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["s.mp3", "routine.yaml", "clip-cache"])


def test_rerender_after_one_edit_synthesises_one_clip(write_routine, fake_engine, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    first = render(write_routine(SMALL_ROUTINE), tmp_path / "a.mp3", engine="fake", cache=cache)
    assert first.clips_synthesized > 5
    edited = SMALL_ROUTINE.replace("Glide along the jaw line.", "Glide slowly along the jaw line.")
    again = render(write_routine(edited), tmp_path / "b.mp3", engine="fake", cache=cache)
    assert again.clips_synthesized == 1
    assert fake_engine.calls[-1] == "Glide slowly along the jaw line."


def test_music_runs_from_start_to_fade(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: {track: warm-pad, volume_db: -20}"))
    plan = render(routine, tmp_path / "m.wav", engine="fake").plan
    audio = decode(tmp_path / "m.wav")
    env = envelope_db(audio[:, 0])
    pause = next(e for e in plan.events if e.type == "pause")
    # Music fills the quiet step, far above silence but below the narration.
    music_level = np.median(env[window(pause.start_s + 0.5) : window(pause.end_s - 0.2)])
    speech = [e for e in plan.events if e.kind == "intro"][0]
    speech_level = np.median(env[window(speech.start_s + 0.1) : window(speech.end_s - 0.1)])
    assert -50 < music_level < speech_level - 10
    # Music is already playing in the lead-in, and the session fades out to near silence.
    assert np.max(env[window(0.5) : window(1.0)]) > -70
    assert env[-2] < music_level - 15


def test_real_engine_render(write_routine, tmp_path, shared_real_cache):
    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: {track: warm-pad}"))
    out = tmp_path / "real.mp3"
    result = render(routine, out, voice="en-us", rate_wpm=160, cache=ClipCache(shared_real_cache))
    audio = decode(out)
    assert abs(len(audio) / SR - result.plan.duration_s) < 0.1
    env = envelope_db(audio[:, 0])
    delay = 0.0
    instructions = [e for e in result.plan.events if e.kind == "instruction"]
    for event in instructions:
        inner = env[window(event.start_s + delay + 0.05) : window(event.end_s + delay - 0.05)]
        assert np.percentile(inner, 75) > -35
