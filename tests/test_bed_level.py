"""bed_level: a loop's own swells and dips evened out, steady beds left alone, nothing clipped."""

from __future__ import annotations

import numpy as np
import pytest

from voiceguide import bed_level
from voiceguide.library import builtin_tracks
from voiceguide.loudness import hop_energies
from voiceguide.music import LOOP_UNIT, loop_from_samples, open_loop

SR = 44100


def _noise(seconds: float, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.05, (int(seconds * SR), 2)).astype(np.float32)


def _momentary_db(samples: np.ndarray) -> np.ndarray:
    """400 ms loudness every 100 ms (circular), in dB of K-weighted energy."""
    return 10 * np.log10(bed_level.circular_mean(hop_energies(samples, SR), 4))


def _range_in_windows_db(samples: np.ndarray, window_s: float = 10.0) -> float:
    """The 90th percentile of the momentary loudness's range (max - min) inside sliding windows."""
    m = _momentary_db(samples)
    n = int(window_s * 10)
    return float(np.percentile([np.ptp(m[i : i + n]) for i in range(0, len(m) - n, 5)], 90))


def _read_all(loop) -> np.ndarray:
    return np.concatenate(list(loop.chunks(1 << 16)))


def test_a_steady_bed_is_left_as_it_was():
    noise = _noise(30)
    gain = bed_level.gain_db(hop_energies(noise, SR))
    assert np.max(np.abs(gain)) < 0.3


def test_a_bed_that_swells_by_itself_is_evened_out():
    # Noise rising and falling by 8 dB over 5 s (a wave breaking, a bar louder than the next): under a held
    # duck this reads as the mix swelling.
    noise = _noise(40)
    envelope_db = 4 * np.sin(2 * np.pi * np.arange(len(noise)) / (5 * SR))
    swelling = noise * (10 ** (envelope_db / 20)).astype(np.float32)[:, None]
    before = _range_in_windows_db(swelling)
    levelled = _read_all(loop_from_samples(swelling.copy(), SR))
    after = _range_in_windows_db(levelled)
    assert before > 7.5
    assert after < 3.0, (before, after)
    # The texture inside each stretch is untouched: the gain never changes faster than the momentary window.
    # (From 2.5 s on: the first 2 s of a loop hold the track's folded tail.)
    def rms_10ms(x: np.ndarray) -> np.ndarray:
        x = x[int(2.5 * SR) : len(levelled) // 441 * 441]
        return np.sqrt(np.mean(x[: len(x) // 441 * 441, 0].reshape(-1, 441) ** 2, axis=1))

    gain_db = 20 * np.log10(rms_10ms(levelled) / rms_10ms(swelling))
    assert np.max(np.abs(np.diff(gain_db))) < 0.2  # dB per 10 ms: no pumping, no zipper


def test_silence_and_a_pause_are_not_lifted():
    assert np.array_equal(bed_level.gain_db(np.zeros(100)), np.zeros(100))
    noise = _noise(30)
    noise[10 * SR : 14 * SR] *= 1e-4  # -80 dB: a pause in the track
    levelled = _read_all(loop_from_samples(noise.copy(), SR))
    pause = levelled[11 * SR : 13 * SR]
    assert np.sqrt(np.mean(pause**2)) < 0.05 * 1e-3  # still silent, not pulled up toward the bed


def test_a_hot_loop_with_dips_is_never_clipped():
    # Peaks near the loop file's ceiling (+6 dBFS) and 6 dB dips the leveller wants to raise.
    noise = _noise(30) * np.float32(1.9 / 0.25)
    noise = np.clip(noise, -1.95, 1.95)
    noise[5 * SR : 8 * SR] *= 0.5
    loop = loop_from_samples(noise.copy(), SR)
    raw = loop.read(0, loop.frames)
    assert np.max(np.abs(raw.astype(np.int32))) < 32767
    assert np.max(np.abs(_read_all(loop))) <= 32767 * LOOP_UNIT


@pytest.mark.parametrize("track", sorted(builtin_tracks()))
def test_every_builtin_bed_stays_within_3_db_over_ten_seconds(track, tmp_path):
    from voiceguide.library import is_circular

    path = builtin_tracks()[track].path
    loop = open_loop(path, SR, tmp_path, fold=not is_circular(path))
    levelled = _read_all(loop)
    assert _range_in_windows_db(levelled) < 3.0
    # Gentle: the levelling moves the bed by a few dB at most.
    gain = bed_level.gain_db(hop_energies(levelled, SR))
    assert np.max(np.abs(gain)) < 3.0
