"""The music bed's own movement, evened out once when a track becomes a loop.

A bed that rises and falls by itself (a wave breaking, a chord change, an arpeggio's high note) is heard as
the mix swelling: under a held duck, where the mixer keeps the level still on purpose, a 5 to 8 dB rise of
the music's momentary loudness within ten seconds is as noticeable as the duck letting go (issue 16 counted
such "swells" in every built-in track). It also widens the session's loudness range, whose quiet end is the
bed between phrases. So each loop is levelled gently, at two time scales, around its own loudness:

- momentary (400 ms) against its slow (8 s) mean, by MOMENTARY_EVENNESS: the bed keeps its texture and
  attacks (they are shorter than the window) but its swells and dips shrink to about a sixth;
- the slow mean against the whole loop's loudness, by SLOW_EVENNESS (a wave's long surge, a quiet bar).

The gain moves smoothly (a 300 ms mean, interpolated per sample) and stays within GAIN_RANGE_DB, so a
steady bed is left as it was and nothing pumps. Pure functions on 100 ms K-weighted hop energies
(loudness.hop_energies); music.py applies them to the cached loop, so a render pays nothing for them.
"""

from __future__ import annotations

import numpy as np

from .loudness import HOP_S

MOMENTARY_HOPS = 4  # 400 ms: BS.1770's momentary window
SLOW_HOPS = 80  # 8 s
SMOOTH_HOPS = 3  # 300 ms
MOMENTARY_EVENNESS = 0.85
SLOW_EVENNESS = 0.6
GAIN_RANGE_DB = (-12.0, 6.0)
_FLOOR = 1e-12  # a silent hop (an energy of zero) counts as very quiet, not minus infinity


def circular_mean(values: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over `n` entries of a circular sequence (a loop's end flows into its start)."""
    if len(values) == 0:
        return values.astype(np.float64)
    n = max(1, min(n, len(values)))
    reps = -(-n // len(values)) + 1  # a loop shorter than the window wraps more than once
    ring = np.tile(values.astype(np.float64), 2 * reps + 1)
    start = reps * len(values) - n // 2
    sums = np.cumsum(np.concatenate([[0.0], ring[start : start + len(values) + n]]))
    return (sums[n:] - sums[:-n])[: len(values)] / n


def gain_db(hops: np.ndarray) -> np.ndarray:
    """The levelling gain (dB) at each 100 ms hop of a loop, from its K-weighted hop energies."""
    if len(hops) == 0:
        return np.zeros(0)
    energies = np.maximum(np.asarray(hops, dtype=np.float64), _FLOOR)
    if energies.max() <= _FLOOR:
        return np.zeros(len(energies))  # silence stays silence
    momentary = 10 * np.log10(circular_mean(energies, MOMENTARY_HOPS))
    slow = 10 * np.log10(circular_mean(energies, SLOW_HOPS))
    whole = 10 * np.log10(np.mean(energies))
    gain = -MOMENTARY_EVENNESS * (momentary - slow) - SLOW_EVENNESS * (slow - whole)
    # Near-silent stretches (a track's pause) are not pulled up into audibility.
    gain = np.where(momentary < whole - 30.0, 0.0, gain)
    return circular_mean(np.clip(gain, *GAIN_RANGE_DB), SMOOTH_HOPS)


def gains_at(positions: np.ndarray, hop_gain_db: np.ndarray, sample_rate: int, loop_frames: int) -> np.ndarray:
    """Linear gains for loop frames `positions`, the hop gains joined smoothly (and around the loop's seam)."""
    hop = int(round(HOP_S * sample_rate))
    centres = (np.arange(len(hop_gain_db)) + 0.5) * hop
    db = np.interp(positions, centres, hop_gain_db, period=loop_frames)
    return np.power(10.0, db / 20.0).astype(np.float32)
