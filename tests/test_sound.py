"""Sound quality, measured on rendered audio: loudness, true peak, ducking depth, loops, chimes, voice polish."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from voiceguide import render
from voiceguide.chimes import SETS, chime
from voiceguide.library import builtin_tracks
from voiceguide.loudness import integrated_loudness, limit, true_peak_db
from voiceguide.music import decode, make_loop
from voiceguide.plan import CHIME_S
from voiceguide.voice import ClipCache, VoiceOptions, get_engine, prepare_clips

from .conftest import SMALL_ROUTINE

SR = 44100
ROOT = Path(__file__).resolve().parent.parent


def write_noise(path: Path, level: float, seconds: float = 30.0, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    soundfile.write(str(path), np.clip(rng.standard_normal((int(seconds * SR), 2)) * level, -1, 1).astype(np.float32), SR)
    return path


def measure(path: Path) -> tuple[float, float]:
    audio, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    # An independent meter (pyloudnorm) judges the result, not our own.
    return pyloudnorm.Meter(rate).integrated_loudness(audio), true_peak_db(audio.astype(np.float32))


def routine_with_music(write_routine, track: str, name: str = "r.yaml") -> Path:
    return write_routine(SMALL_ROUTINE.replace("music: none", f"music: {{track: {track}}}"), name)


@pytest.mark.parametrize("music_level", [0.003, 0.5])
def test_session_loudness_and_true_peak_whatever_the_music_level(write_routine, fake_engine, tmp_path, music_level):
    write_noise(tmp_path / "bed.wav", music_level)
    routine = routine_with_music(write_routine, "bed.wav")
    render(routine, tmp_path / "s.mp3", engine="fake")
    lufs, peak_dbtp = measure(tmp_path / "s.mp3")
    assert lufs == pytest.approx(-16.0, abs=1.0)
    assert peak_dbtp <= -1.0


def test_loudness_option(write_routine, fake_engine, tmp_path):
    routine = routine_with_music(write_routine, "warm-pad")
    render(routine, tmp_path / "quiet.mp3", engine="fake", loudness_lufs=-19)
    lufs, peak_dbtp = measure(tmp_path / "quiet.mp3")
    assert lufs == pytest.approx(-19.0, abs=1.0) and peak_dbtp <= -1.0


def test_music_dips_under_speech_and_sits_10_to_15_lu_under_it_between_phrases(write_routine, fake_engine, tmp_path):
    routine = routine_with_music(write_routine, "warm-pad")
    plan = render(routine, tmp_path / "s.mp3", engine="fake", stems=tmp_path / "stems").plan
    music, _ = soundfile.read(str(tmp_path / "stems" / "music.wav"), dtype="float64", always_2d=True)
    voice, _ = soundfile.read(str(tmp_path / "stems" / "voice.wav"), dtype="float64")
    assert music.shape[0] == voice.shape[0] == round(plan.duration_s * SR)
    # The same session without ducking: comparing the two at the same moments takes the pad's own swells
    # (which move with every change of timing) out of the measurement.
    flat_routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: {track: warm-pad, duck_db: 0}"), "flat.yaml")
    render(flat_routine, tmp_path / "flat.wav", engine="fake", stems=tmp_path / "flat-stems")
    flat, _ = soundfile.read(str(tmp_path / "flat-stems" / "music.wav"), dtype="float64", always_2d=True)
    assert flat.shape == music.shape

    def level_db(audio, a_s, b_s):
        seg = audio[int(a_s * SR) : int(b_s * SR), 0]
        return 10 * np.log10(np.mean(seg**2) + 1e-20)

    def dip_db(a_s, b_s):
        return level_db(flat, a_s, b_s) - level_db(music, a_s, b_s)

    speech = [e for e in plan.speech() if e.duration_s > 1.0]
    during = np.median([dip_db(e.start_s + 0.3, e.end_s) for e in speech])
    # The shallower duck (about 7 dB, where it was 12), the same in both sessions up to their overall levels.
    gap = sorted(plan.speech(), key=lambda e: e.start_s)
    opens = [(a.end_s + 2.5, b.start_s - 0.4) for a, b in zip(gap, gap[1:]) if b.start_s - a.end_s > 6.0]
    assert opens, "the routine has a long enough gap for the bed to come back"
    between = np.median([dip_db(a, b) for a, b in opens])
    assert 6.0 <= during - between <= 8.0
    # Between phrases the bed sits 10 to 15 LU under the speech (an independent meter: pyloudnorm).
    meter = pyloudnorm.Meter(SR)
    speech_lufs = meter.integrated_loudness(np.stack([voice, voice], axis=1))
    bed_lufs = meter.integrated_loudness(np.concatenate([music[int(a * SR) : int(b * SR)] for a, b in opens]))
    assert 10.0 <= speech_lufs - bed_lufs <= 15.0
    # The voice stem holds the narration exactly where the plan puts it.
    first = plan.speech()[0]
    assert np.max(np.abs(voice[: int(first.start_s * SR) - 10])) == 0.0
    assert np.max(np.abs(voice[int(first.start_s * SR) : int(first.end_s * SR)])) > 0.1


def test_step_chimes_of_every_set_sit_6_to_10_lu_under_the_speech(write_routine, fake_engine, tmp_path):
    """Loudness (BS.1770), not peak: bowl, bell and wood within 3 LU of each other, measured by pyloudnorm
    over the step chimes' spans in rendered stems."""
    meter = pyloudnorm.Meter(SR)
    routine = routine_with_music(write_routine, "warm-pad")
    under = {}
    for chime_set in sorted(SETS):
        folder = tmp_path / chime_set
        folder.mkdir()
        plan = render(routine, folder / "s.wav", engine="fake", chimes=chime_set, stems=folder).plan
        voice, _ = soundfile.read(str(folder / "voice.wav"), dtype="float64")
        chimes, _ = soundfile.read(str(folder / "chimes.wav"), dtype="float64")
        steps = [e for e in plan.events if e.type == "chime" and e.kind == "step"]
        both = lambda x: np.stack([x, x], axis=1)  # noqa: E731 (mono stems play on both channels)
        # The spans' K-weighted energy, ungated (a wood knock is short, a bowl rings through its span).
        filtered = chimes
        for stage in meter._filters.values():
            filtered = stage.apply_filter(filtered)
        spans = np.concatenate([filtered[int(e.start_s * SR) : int(e.end_s * SR)] for e in steps])
        step_lufs = -0.691 + 10 * np.log10(2 * np.mean(spans**2))  # on both channels
        under[chime_set] = meter.integrated_loudness(both(voice)) - step_lufs
    assert all(6.0 <= lu <= 10.0 for lu in under.values()), under
    assert max(under.values()) - min(under.values()) <= 3.0, under


@pytest.mark.parametrize("chime_set", sorted(SETS))
def test_a_chime_rings_out_past_its_span_and_ends_in_silence(chime_set):
    for kind in CHIME_S:
        samples = chime(kind, SR, chime_set)
        span = round(CHIME_S[kind] * SR)
        assert len(samples) >= span
        assert np.max(np.abs(samples[-10:])) < 1e-4, "a chime ends in silence"
    bowl = chime("step", SR, "bowl")
    span = round(CHIME_S["step"] * SR)
    # The bowl is no longer cut at its span: its own decay carries on (about 1.4 s a factor e).
    rms = lambda x: np.sqrt(np.mean(x.astype(np.float64) ** 2))  # noqa: E731
    late = rms(bowl[span : span + SR // 10]) / rms(bowl[span - SR // 10 : span])
    assert 0.7 < late < 1.0


@pytest.mark.parametrize("name", sorted(builtin_tracks()))
def test_builtin_tracks_loop_without_a_jump(name):
    track = decode(builtin_tracks()[name].path, SR)
    assert track.shape[0] >= 120 * SR
    loop = make_loop(track, SR)
    jumps = np.abs(np.diff(loop[:, 0]))
    seam = abs(float(loop[0, 0] - loop[-1, 0]))
    assert seam <= np.max(jumps)
    # Level across the seam: the last and first two seconds within 1.5 dB.
    edge = 2 * SR
    tail_db = 10 * np.log10(np.mean(loop[-edge:] ** 2))
    head_db = 10 * np.log10(np.mean(loop[:edge] ** 2))
    assert abs(tail_db - head_db) < 1.5


def test_generator_reproduces_a_committed_track():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_music.py"), "--check", "warm-pad"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("chime_set", sorted(SETS))
def test_chime_cues_differ(chime_set):
    sounds = {kind: chime(kind, SR, chime_set) for kind in CHIME_S}
    for kind, samples in sounds.items():
        assert 20 * np.log10(np.max(np.abs(samples))) <= -1.0  # a short knock peaks high at its loudness, never clips
    # Distinct cues: each planned strike is heard as a fresh attack (3 dB jump in 10 ms), so the step
    # bell strikes once, the switch cue twice and the closing cue three times.
    from voiceguide.chimes import _CUES

    for kind, strikes in _CUES.items():
        x = sounds[kind]
        env = np.sqrt(np.mean(np.square(x[: len(x) // 441 * 441]).reshape(-1, 441), axis=1)) + 1e-9
        for _, at_s, _ in strikes:
            frame = int(round(at_s * 100))
            before = env[frame - 1] if frame > 0 else 1e-9
            assert env[frame + 1] > 1.41 * before, (chime_set, kind, at_s)
    assert [len(_CUES[k]) for k in ("step", "switch", "end")] == [1, 2, 3]


def test_chime_sets_sound_different():
    def centroid(x):
        spectrum = np.abs(np.fft.rfft(x))
        return float(np.sum(np.fft.rfftfreq(len(x), 1 / SR) * spectrum) / np.sum(spectrum))

    def decay_s(x):
        """Time from the peak until the 10 ms envelope falls 26 dB below it."""
        env = np.sqrt(np.mean(np.square(x[: len(x) // 441 * 441]).reshape(-1, 441), axis=1))
        peak = int(np.argmax(env))
        below = np.flatnonzero(env[peak:] < env[peak] * 0.05)
        return (below[0] if below.size else len(env) - peak) / 100

    features = {name: (centroid(chime("step", SR, name)), decay_s(chime("step", SR, name))) for name in SETS}
    assert features["bell"][0] > 1.3 * features["bowl"][0]  # the bell is brighter
    assert features["wood"][1] < 0.3 * features["bowl"][1]  # the wood block is short


def test_limiter_keeps_true_peak_under_ceiling():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(SR) * 0.4).astype(np.float32)
    limited = limit(x, SR, -3.0)
    assert true_peak_db(limited) <= -3.0 + 0.05
    # Quiet stretches pass untouched.
    quiet = x * 0.05
    assert np.array_equal(limit(quiet, SR, -3.0), quiet)


@pytest.mark.parametrize("seconds", [3, 75])
def test_loudness_meter_agrees_with_pyloudnorm(seconds):
    rng = np.random.default_rng(seconds)
    x = (rng.standard_normal((seconds * SR, 2)) * 0.1).astype(np.float32)
    x[: SR] *= 0.01
    ours = integrated_loudness(x, SR)
    theirs = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    assert ours == pytest.approx(theirs, abs=0.1)


def f0_hz(x: np.ndarray) -> float:
    """Median pitch of voiced 40 ms frames, by autocorrelation."""
    n = int(0.04 * SR)
    pitches = []
    for i in range(0, len(x) - n, n):
        frame = x[i : i + n] - x[i : i + n].mean()
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        lo, hi = int(SR / 400), int(SR / 60)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            pitches.append(SR / lag)
    return float(np.median(pitches))


def test_soft_preset_is_slower_lower_and_roomier(tmp_path, shared_real_cache):
    from voiceguide.pipeline import voice_options
    from voiceguide.routine import Routine, Section, VoiceSettings

    text = "Let your shoulders drop, and breathe out slowly through your mouth."
    engine = get_engine("pyttsx3")
    try:
        plain, _ = prepare_clips([text], engine, VoiceOptions(), ClipCache(shared_real_cache))
        routine = Routine(title="t", sections=(Section("s", ()),), voice=VoiceSettings(preset="soft"))
        soft, _ = prepare_clips([text], engine, voice_options(routine), ClipCache(shared_real_cache))
    finally:
        engine.close()
    p, s = plain[text].load()[0], soft[text].load()[0]
    assert len(s) > 1.1 * len(p)  # slower
    assert f0_hz(s) < 0.93 * f0_hz(p)  # lower
    # The room fills the gaps between words: far fewer near-silent 10 ms frames than the dry voice.
    def near_silent(x):
        env = 20 * np.log10(np.sqrt(np.mean(np.square(x[: len(x) // 441 * 441]).reshape(-1, 441), axis=1)) + 1e-9)
        return np.mean(env - env.max() < -40)

    assert near_silent(s) < 0.6 * near_silent(p)
    # Both clips start and end without a click.
    for clip in (p, s):
        assert abs(clip[0]) < 1e-3 and abs(clip[-1]) < 1e-3


def test_music_loop_energies_are_measured_once_and_survive_a_bad_cache(tmp_path):
    from voiceguide.music import loop_energies, loop_hops, open_loop

    path = builtin_tracks()["warm-pad"].path
    loop = open_loop(path, 44100, tmp_path)
    fresh = loop_energies(loop, 44100)
    # Stored when the loop was made, from the levelling's own measurement: within 0.1 dB on every hop of
    # measuring the levelled loop again, and within 0.01 dB as a whole.
    made = loop_hops(path, loop, 44100, tmp_path)
    assert np.max(np.abs(10 * np.log10(made / fresh))) < 0.1
    assert abs(10 * np.log10(made.mean() / fresh.mean())) < 0.01
    [stored] = (tmp_path / "music").glob("*.npy")
    # A later render opens the loop from the cache, without the hops that came with making it.
    loop.close()
    loop = open_loop(path, 44100, tmp_path)
    assert loop.hops is None
    # Remembered: a second call reads the file (shown by planting a different but valid array in it).
    np.save(stored, fresh * 2)
    assert np.array_equal(loop_hops(path, loop, 44100, tmp_path), fresh * 2)
    # A damaged or mismatched entry is measured again and replaced.
    for damage in (b"not numpy", None):
        if damage is None:
            np.save(stored, fresh[:-3])
        else:
            stored.write_bytes(damage)
        assert np.array_equal(loop_hops(path, loop, 44100, tmp_path), fresh)
    assert np.array_equal(np.load(stored), fresh)


def _read_all(loop) -> np.ndarray:
    return np.concatenate(list(loop.chunks(1 << 16)))


def test_a_streamed_loop_is_the_decoded_loop_to_16_bits(tmp_path):
    from voiceguide.music import LOOP_UNIT, loop_from_samples, open_loop

    path = builtin_tracks()["ocean-wash"].path
    expected = _read_all(loop_from_samples(decode(path, SR), SR))  # folded and levelled in memory
    loop = open_loop(path, SR, tmp_path)
    assert loop.frames == len(expected) == len(make_loop(decode(path, SR), SR))
    # 16-bit steps of LOOP_UNIT, the fold and the levelling computed from those steps (gains up to +6 dB):
    # within three steps.
    assert np.max(np.abs(_read_all(loop) - expected)) <= 3 * LOOP_UNIT
    # Reads wrap nowhere by themselves and are positional, so any range equals the same slice.
    assert np.array_equal(loop.read(12345, 1000) * np.float32(loop.unit), _read_all(loop)[12345:13345])


def test_a_loop_is_decoded_once_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    from voiceguide import music

    path = builtin_tracks()["warm-pad"].path
    first = _read_all(music.open_loop(path, SR, tmp_path))
    [stored] = (tmp_path / "music").glob("*.s16")

    def no_decoding(*_args, **_kwargs):
        raise AssertionError("decoded again")

    with monkeypatch.context() as m:
        m.setattr(music, "decode_blocks", no_decoding)
        assert np.array_equal(_read_all(music.open_loop(path, SR, tmp_path)), first)
    # Cut short (a crash, a full disk): the header no longer matches, so it is made again.
    with open(stored, "r+b") as f:
        f.truncate(stored.stat().st_size // 2)
    assert np.array_equal(_read_all(music.open_loop(path, SR, tmp_path)), first)
    size = 16 + 4 * (len(first) + music._fade_frames(len(first) + int(2 * SR), SR)) + music.LOOP_DIGEST_BYTES
    assert stored.stat().st_size == size
    # The right length but altered samples (random bytes in the body): the digest tells, so it is made again.
    with open(stored, "r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert np.array_equal(_read_all(music.open_loop(path, SR, tmp_path)), first)
    assert stored.stat().st_size == size
    # No usable cache: an anonymous temporary file, the same loop.
    assert np.array_equal(_read_all(music.open_loop(path, SR, None)), first)


def test_a_loop_at_another_rate_and_channel_count_is_resampled_to_stereo(tmp_path):
    from voiceguide.music import open_loop

    rate = 48000
    t = np.arange(int(10.5 * rate)) / rate
    mono = (0.25 * np.sin(2 * np.pi * 441 * t)).astype(np.float32)
    path = tmp_path / "tone.flac"
    soundfile.write(str(path), mono, rate)
    loop = open_loop(path, SR, tmp_path / "cache")
    heard = _read_all(loop)
    assert abs(loop.frames - (10.5 - 2.0) * SR) <= 2  # 2 s of the end folded over the start
    assert heard.shape[1] == 2 and np.array_equal(heard[:, 0], heard[:, 1])
    middle = heard[int(2.5 * SR) : int(4 * SR), 0]
    # Within 1 dB: the bed leveller (bed_level) evens the loop around its mean, the fold's level dip included.
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.11)
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    assert np.argmax(spectrum) * SR / len(middle) == pytest.approx(441, abs=1)


def test_limiting_a_long_clip_in_pieces_gives_the_one_pass_samples(monkeypatch):
    from voiceguide import loudness

    rng = np.random.default_rng(4)
    clip = (rng.standard_normal(300_000) * np.linspace(0.05, 0.6, 300_000)).astype(np.float32)
    pieces = limit(clip, SR, -1.0)
    monkeypatch.setattr(loudness, "LIMIT_CHUNK_FRAMES", 10**9)
    whole = limit(clip, SR, -1.0)
    assert np.array_equal(pieces, whole) and not np.array_equal(whole, clip)
    assert true_peak_db(pieces) <= -1.0 + 0.05


def test_limiting_with_block_peaks_keeps_the_ceiling_and_takes_no_less_than_sample_peaks(monkeypatch):
    """The mix limits a clip from its ~1 ms blocks' peaks (kept with its measurements): never a peak over the
    ceiling, never less reduction than per-sample limiting with each block's peak for its samples, and in
    pieces the same samples as in one pass (to float rounding)."""
    from voiceguide import loudness

    rng = np.random.default_rng(6)
    clip = (rng.standard_normal(300_017) * np.linspace(0.05, 0.8, 300_017)).astype(np.float32)
    block = loudness.limit_block_frames(SR)
    padded = np.concatenate([clip, np.zeros((-len(clip)) % block, np.float32)])
    block_peaks = loudness.true_peak(padded).reshape(-1, block).max(axis=1)
    by_blocks = limit(clip, SR, -1.0, peaks=block_peaks, block=block)
    by_samples = limit(clip, SR, -1.0, peaks=np.repeat(block_peaks, block)[: len(clip)])
    assert true_peak_db(by_blocks) <= -1.0 + 0.05
    assert np.all(np.abs(by_blocks) <= np.abs(by_samples) + 1e-7) and not np.array_equal(by_blocks, by_samples)
    # The extra reduction is a block's worth at most: under 0.2 dB of the clip's energy.
    assert 10 * np.log10(np.sum(by_samples.astype(np.float64) ** 2) / np.sum(by_blocks.astype(np.float64) ** 2)) < 0.2
    monkeypatch.setattr(loudness, "LIMIT_CHUNK_FRAMES", 10**9)
    # In one pass: the same to float rounding (each piece's running mean sums from its own start).
    assert np.max(np.abs(limit(clip, SR, -1.0, peaks=block_peaks, block=block) - by_blocks)) < 1e-6
    quiet = clip * 0.05
    assert np.array_equal(limit(quiet, SR, -1.0, peaks=block_peaks * 0.05, block=block), quiet)


@pytest.mark.parametrize("how", ["routine", "cli"])
def test_pan_false_or_no_pan_gives_identical_channels(how, write_routine, fake_engine, tmp_path):
    from .conftest import invoke

    text = SMALL_ROUTINE.replace("music: none", "music: none\npan: false" if how == "routine" else "music: none")
    routine = write_routine(text)
    args = ["render", routine, "-o", tmp_path / "off.wav", "--engine", "fake", "-q"] + (["--no-pan"] if how == "cli" else [])
    assert invoke(*args).exit_code == 0
    off, _ = soundfile.read(str(tmp_path / "off.wav"), dtype="float32")
    assert np.array_equal(off[:, 0], off[:, 1])
    if how == "cli":  # on by default: the same routine leans left and right during its sided step
        assert invoke("render", routine, "-o", tmp_path / "on.wav", "--engine", "fake", "-q").exit_code == 0
        on, _ = soundfile.read(str(tmp_path / "on.wav"), dtype="float32")
        assert not np.array_equal(on[:, 0], on[:, 1])


def test_circular_builtin_tracks_loop_whole_with_a_continuous_seam(tmp_path):
    from voiceguide.library import is_circular
    from voiceguide.music import open_loop

    for name, track in builtin_tracks().items():
        assert is_circular(track.path), name
        decoded = decode(track.path, SR)
        loop = open_loop(track.path, SR, tmp_path, fold=False)
        assert loop.frames == len(decoded)  # nothing folded: no two bars at once
        whole = np.concatenate(list(loop.chunks(1 << 16)))
        # Across the seam the signal moves no more than it does inside the track.
        seam = np.abs(whole[0] - whole[-1]).max()
        assert seam <= np.abs(np.diff(whole[: 10 * SR], axis=0)).max(), name
        loop.close()
    user = write_noise(tmp_path / "user.wav", 0.1, seconds=10.0)
    assert not is_circular(user)
    assert open_loop(user, SR, tmp_path).frames == 8 * SR  # a user's track keeps its 2 s equal-power fold
