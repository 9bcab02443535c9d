"""The mixer: block-size invariance, seamless loops, fades and ducking, measured on its output."""

from __future__ import annotations

import numpy as np
import pytest

from voiceguide.mix import DUCK_DB, Mixer, frames
from voiceguide.music import decode, make_loop
from voiceguide.plan import build_plan, spoken_texts
from voiceguide.routine import parse_routine

from .conftest import SMALL_ROUTINE, fake_speech

SR = 44100


def fake_clips(routine):
    import soxr

    return {t: soxr.resample(fake_speech(t), 22050, SR).astype(np.float32) for t in spoken_texts(routine)}


def noise_bed(seconds=7.3, seed=3):
    # Uncorrelated material, like real pads and washes: an equal-power seam keeps its level.
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((int(seconds * SR), 2))).astype(np.float32)


@pytest.fixture
def mixed_setup(tmp_path):
    routine = parse_routine(SMALL_ROUTINE)
    clips = fake_clips(routine)
    plan = build_plan(routine, {t: len(c) / SR for t, c in clips.items()})
    return routine, clips, plan


def with_music(plan, tmp_path, volume_db=-20.0):
    from voiceguide.routine import MusicSettings

    return type(plan)(**{**plan.__dict__, "music": MusicSettings("test", tmp_path / "bed.wav", volume_db)})


def test_any_block_size_gives_identical_samples(mixed_setup, tmp_path):
    _, clips, plan = mixed_setup
    plan = with_music(plan, tmp_path)
    mixer = Mixer(plan, clips, noise_bed())
    whole = np.concatenate(list(mixer.blocks(10**9)))
    assert whole.shape == (frames(plan.duration_s), 2)
    for size in (1000, 4096, 44100, 65537):
        chunked = np.concatenate(list(mixer.blocks(size)))
        assert np.array_equal(chunked, whole), size


def test_loop_seam_has_no_jump():
    rng = np.random.default_rng(1)
    t = np.arange(5 * SR) / SR
    # A track whose end does not match its start: a naive loop would click.
    track = np.stack([0.4 * np.sin(2 * np.pi * 3.7 * t + 1.0) + 0.01 * rng.standard_normal(len(t))] * 2, axis=1).astype(np.float32)
    loop = make_loop(track.copy(), SR)
    inner_jump = np.max(np.abs(np.diff(loop[:, 0])))
    seam_jump = abs(float(loop[0, 0] - loop[-1, 0]))
    assert seam_jump <= inner_jump
    naive_jump = abs(float(track[0, 0] - track[-1, 0]))
    assert naive_jump > 3 * inner_jump  # the test track really would click without the crossfade


def test_music_ducks_under_speech_and_fades(mixed_setup, tmp_path):
    _, clips, plan = mixed_setup
    plan = with_music(plan, tmp_path)
    silent = {t: np.zeros_like(c) for t, c in clips.items()}
    mixer = Mixer(plan, silent, noise_bed())
    music = np.concatenate(list(mixer.blocks()))[:, 0]
    chimes = [e for e in plan.events if e.type == "chime"]

    def level_db(a_s, b_s):
        seg = music[frames(a_s) : frames(b_s)].astype(np.float64)
        # Chimes ring in this mix too; measure only music-only stretches.
        return 20 * np.log10(np.sqrt(np.mean(seg**2)) + 1e-12)

    speech = [e for e in plan.speech() if e.duration_s > 0.8]
    between = [e for e in plan.events if e.type == "action" and e.duration_s > 2.5 and not any(
        s.start_s < e.end_s and s.end_s > e.start_s for s in plan.speech())]
    assert speech and between
    ducked = max(level_db(e.start_s + 0.3, e.end_s - 0.3) for e in speech if not any(c.start_s < e.end_s and c.end_s > e.start_s for c in chimes))
    open_ = min(level_db(e.start_s + 1.0, e.end_s - 1.0) for e in between)
    assert open_ - ducked >= -DUCK_DB - 0.5
    # Starts from silence and ends in silence.
    assert np.max(np.abs(music[: frames(0.05)])) < 0.02
    assert np.max(np.abs(music[-frames(0.05) :])) < 0.01


def test_music_gain_has_no_clicks(mixed_setup, tmp_path):
    _, clips, plan = mixed_setup
    mixer = Mixer(with_music(plan, tmp_path), clips, noise_bed())
    gain = mixer.music_gain(0, frames(plan.duration_s))
    # Largest per-sample gain step stays tiny: ramps are smooth, not stepped.
    assert np.max(np.abs(np.diff(gain))) < 0.002


def test_speech_and_chimes_land_at_planned_frames(mixed_setup):
    _, clips, plan = mixed_setup
    out = np.concatenate(list(Mixer(plan, clips, None).blocks()))[:, 0]
    for event in plan.events:
        if event.type not in ("speech", "chime"):
            continue
        start = frames(event.start_s)
        onset = start + int(np.argmax(np.abs(out[start : start + frames(0.5)]) > 1e-3))
        assert abs(onset - start) < frames(0.15), event
        assert np.max(np.abs(out[max(0, start - frames(0.01)) - frames(0.02) : start - frames(0.01)] if start > frames(0.05) else [0])) < 1e-3 or event.kind == "count"


def test_decode_mono_and_resample(tmp_path):
    import soundfile

    path = tmp_path / "mono22k.wav"
    soundfile.write(str(path), np.zeros(22050 * 2, np.float32) + 0.1, 22050)
    data = decode(path, SR)
    assert data.shape == (SR * 2, 2) or abs(data.shape[0] - SR * 2) <= 2


def test_sparse_music_gain_matches_the_full_envelope(mixed_setup, tmp_path):
    """music_gain (audio, computed only where it changes) and music_gain_at (loudness prediction) are one curve."""
    _, clips, plan = mixed_setup
    mixer = Mixer(with_music(plan, tmp_path), clips, noise_bed())
    n = frames(plan.duration_s)
    sparse = mixer.music_gain(0, n)
    full = mixer.music_gain_at(np.arange(n) / SR)
    assert np.max(np.abs(sparse - full)) < 1e-5


def test_session_loudness_holds_when_clips_must_be_limited(mixed_setup, monkeypatch):
    """A voice with a high crest factor (sharp consonant peaks, as Piper's) is limited clip by clip; the
    level prediction accounts for what the limiter takes."""
    from voiceguide import mix
    from voiceguide.loudness import integrated_loudness, true_peak_db

    _, clips, plan = mixed_setup
    rng = np.random.default_rng(11)
    spiky = {}
    for text, clip in clips.items():
        x = clip.copy()
        clicks = rng.choice(len(x), size=max(1, len(x) // 2000), replace=False)
        x[clicks] = np.sign(rng.standard_normal(len(clicks))) * np.max(np.abs(x)) * 6  # peaks far above the speech
        spiky[text] = x

    def session_lufs() -> tuple[float, float]:
        out = np.concatenate(list(Mixer(plan, spiky, None).blocks()))
        return integrated_loudness(out, SR), true_peak_db(out)

    lufs, peak_db = session_lufs()
    assert lufs == pytest.approx(mix.DEFAULT_LOUDNESS_LUFS, abs=0.3)
    assert peak_db <= mix.VOICE_CEILING_DBTP + 0.1
    # Without the second look, the limiter's loss shows as a session well under the target.
    monkeypatch.setattr(mix, "VOICE_CEILING_DBTP", 100.0)  # no clip counts as hot for the prediction ...
    real_limit = mix.limit
    monkeypatch.setattr(mix, "limit", lambda x, sr, _ceiling, **k: real_limit(x, sr, -2.0, **k))  # ... yet all are limited
    assert session_lufs()[0] < mix.DEFAULT_LOUDNESS_LUFS - 1.0
