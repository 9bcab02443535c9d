"""Loudness (ITU-R BS.1770 / EBU R128) and a true-peak limiter for single sources.

The session is levelled source by source before mixing (narration to the target, music relative to it), so
the streamed mix needs no second pass. Measuring works on gating blocks collected piecewise, so neither a
long music file nor all of a session's speech has to be held in float64 at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import soxr

from .dsp import FirStream, cached_ir, db_to_gain, fir_filter, running_mean, running_min

BLOCK_S = 0.4
HOP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
TRUE_PEAK_OVERSAMPLE = 4


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> tuple:
    """The two BS.1770 pre-filter stages (high shelf + high pass) as biquads ((b), (a)) at any rate."""
    # Analogue prototypes from the standard, bilinear-transformed (as pyloudnorm does).
    g_db, q, fc = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    k = np.tan(np.pi * fc / sample_rate)
    vh, vb = db_to_gain(g_db), 10 ** (g_db / 40)
    a0 = 1 + k / q + k * k
    shelf = (
        ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0),
        (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0),
    )
    fc, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * fc / sample_rate)
    a0 = 1 + k / q + k * k
    highpass = ((1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0))
    return (shelf, highpass)


def _k_filter(sample_rate: int) -> np.ndarray:
    # 4096 taps: the 38 Hz stage's response has decayed by more than 90 dB by then.
    return cached_ir(_k_weighting(sample_rate), 4096)


def hop_energies(samples: np.ndarray, sample_rate: int, channels_weight: float = 1.0, chunk_hops: int = 50) -> np.ndarray:
    """K-weighted energy (sum of squares over channels) of each 100 ms hop, the last one partial.

    Energies of uncorrelated sources add, so a session's gating blocks can be predicted by placing each
    source's hop energies on the session's hop grid, without rendering anything. Long inputs (a music
    track) are filtered a chunk at a time with the filter state carried over, so memory stays small.
    """
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    step = int(round(HOP_S * sample_rate)) * chunk_hops
    return hop_energies_of_chunks((x[i : i + step] for i in range(0, x.shape[0], step)), sample_rate, x.shape[1], channels_weight)


def hop_energies_of_chunks(chunks: Iterable[np.ndarray], sample_rate: int, channels: int, channels_weight: float = 1.0) -> np.ndarray:
    """hop_energies of a signal given as consecutive (frames, channels) pieces, each a whole number of hops
    long but the last, e.g. read from a file a few seconds at a time."""
    stream = FirStream(_k_filter(sample_rate), channels)
    hop = int(round(HOP_S * sample_rate))
    out = []
    for chunk in chunks:
        weighted = stream.process(chunk)
        power = np.sum(weighted * weighted, axis=1) * channels_weight
        power = np.concatenate([power, np.zeros((-len(power)) % hop)])
        out.append(power.reshape(-1, hop).sum(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


def loudness_from_hops(hops: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness from a timeline of 100 ms hop energies (four hops make a gating block)."""
    per_block = int(round(BLOCK_S / HOP_S))
    if len(hops) < per_block:
        return gated_loudness(np.array([hops.sum() / (len(hops) * HOP_S * sample_rate)])) if len(hops) else -np.inf
    csum = np.concatenate([[0.0], np.cumsum(hops)])
    blocks = (csum[per_block:] - csum[:-per_block]) / (BLOCK_S * sample_rate)
    return gated_loudness(blocks)


def gated_loudness(powers: np.ndarray) -> float:
    """Integrated loudness (LUFS) from block powers, with the absolute and relative gates."""
    powers = np.asarray(powers, dtype=np.float64)
    if powers.size == 0:
        return -np.inf
    lufs = -0.691 + 10 * np.log10(np.maximum(powers, 1e-20))
    kept = powers[lufs > ABSOLUTE_GATE_LUFS]
    if kept.size == 0:
        return -np.inf
    relative = -0.691 + 10 * np.log10(kept.mean()) + RELATIVE_GATE_LU
    kept = kept[-0.691 + 10 * np.log10(kept) > relative]
    return float(-0.691 + 10 * np.log10(kept.mean()))


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of a (long) signal: its gating blocks are built from 100 ms hops, which are
    filtered a few seconds at a time, so memory stays small whatever the length."""
    return loudness_from_hops(hop_energies(samples, sample_rate), sample_rate)


def true_peak(samples: np.ndarray) -> np.ndarray:
    """Per-sample true-peak estimate (4x oversampled magnitude), for mono (n,) input."""
    n = len(samples)
    up = soxr.resample(np.asarray(samples, dtype=np.float32), 1, TRUE_PEAK_OVERSAMPLE, quality="HQ")
    up = np.abs(up[: n * TRUE_PEAK_OVERSAMPLE], out=up[: n * TRUE_PEAK_OVERSAMPLE])
    # The sample values themselves are part of the true-peak envelope; then the highest of each sample's
    # phases, taken phase by phase, in place: numpy's max along a short last axis (reshape(n, 4).max(axis=1))
    # costs 15x more, and every temporary the size of the oversampled clip is a fresh mapping to fault in.
    peaks = np.abs(samples).astype(np.result_type(samples, np.float32))
    for phase in range(TRUE_PEAK_OVERSAMPLE):
        part = up[phase::TRUE_PEAK_OVERSAMPLE]
        np.maximum(peaks[: len(part)], part, out=peaks[: len(part)])
    return peaks


def true_peak_db(samples: np.ndarray) -> float:
    x = np.asarray(samples)
    peaks = [true_peak(x[:, c]).max() for c in range(x.shape[1])] if x.ndim == 2 else [true_peak(x).max()]
    return 20 * float(np.log10(max(max(peaks), 1e-12)))


LIMIT_CHUNK_FRAMES = 1 << 16
LIMIT_SMOOTH_S = 0.003


def limit(
    samples: np.ndarray, sample_rate: int, ceiling_db: float, smooth_s: float = LIMIT_SMOOTH_S, peaks: np.ndarray | None = None,
    block: int | None = None,
) -> np.ndarray:
    """A look-ahead peak limiter for one whole source: true peak stays at or below ceiling_db.

    The required gain is min-filtered over twice the smoothing window and then averaged over it, so the
    smoothed gain never exceeds what any sample in reach needs: no overshoot, no clicks. `peaks` are the
    source's per-sample true peaks if already known (they cost more than the limiting itself), or with
    `block`, the highest true peak of each run of `block` samples from the first (see _limit_blocks).
    """
    ceiling = db_to_gain(ceiling_db)
    if block is not None and peaks is not None:
        return _limit_blocks(samples, sample_rate, ceiling, smooth_s, peaks, block)
    peaks = true_peak(samples) if peaks is None else peaks
    if peaks.max() <= ceiling:
        return samples
    half = max(1, int(smooth_s * sample_rate))
    # The gain at a sample depends only on peaks within 3 * half of it (min over 2 * half, then mean over
    # half), so a long clip is limited a piece at a time with that much context on each side: the same
    # samples as in one pass, without float64 temporaries the size of a 30-second clip on every thread.
    margin = 3 * half
    out = np.empty_like(samples)
    n = len(samples)
    for start in range(0, n, LIMIT_CHUNK_FRAMES):
        stop = min(n, start + LIMIT_CHUNK_FRAMES)
        a, b = max(0, start - margin), min(n, stop + margin)
        need = np.minimum(1.0, ceiling / np.maximum(peaks[a:b], 1e-12))
        gain = np.minimum(running_mean(running_min(need, 4 * half + 1), 2 * half + 1), need)
        out[start:stop] = samples[start:stop] * gain[start - a : stop - a]
    return out


def _limit_blocks(
    samples: np.ndarray, sample_rate: int, ceiling: float, smooth_s: float, block_peaks: np.ndarray, block: int
) -> np.ndarray:
    """limit() with peaks known per block: the minimum is taken over whole blocks (a window rounded outward
    to blocks, so never less gain reduction than limit() would make), on the blocks themselves rather than
    on every sample, which was most of a warm render's limiting. Each sample's smoothed gain is a mean of
    minima whose windows all reach its own block, so it never exceeds what that block needs."""
    if len(block_peaks) == 0 or block_peaks.max() <= ceiling:
        return samples
    half = max(1, int(smooth_s * sample_rate))
    need = np.minimum(1.0, ceiling / np.maximum(np.asarray(block_peaks, dtype=np.float64), 1e-12))
    reach = -(-2 * half // block)
    floor = running_min(need, 2 * reach + 1)
    out = np.empty_like(samples)
    n = len(samples)
    for start in range(0, n, LIMIT_CHUNK_FRAMES):
        stop = min(n, start + LIMIT_CHUNK_FRAMES)
        a, b = max(0, start - half), min(n, stop + half)
        first = a // block
        per_sample = np.repeat(floor[first : -(-b // block)], block)[a - first * block : b - first * block]
        out[start:stop] = samples[start:stop] * running_mean(per_sample, 2 * half + 1)[start - a : stop - a]
    return out


def limit_block_frames(sample_rate: int) -> int:
    """The blocks on which the limiter's gain is foreseen: about 1 ms, a whole number of them per hop."""
    hop = int(round(HOP_S * sample_rate))
    return next(b for b in range(max(1, sample_rate // 1000), 0, -1) if hop % b == 0)


def clip_levels(samples: np.ndarray, peaks: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a mono voice clip, as heard on both channels: its hop energies (hop_energies), and per ~1 ms
    block its K-weighted energy and highest true peak, from which mix.limited_hops foresees what the
    limiter will take at any gain. One K-filter pass gives both."""
    hop, block = int(round(HOP_S * sample_rate)), limit_block_frames(sample_rate)
    power = fir_filter(np.asarray(samples, dtype=np.float64), _k_filter(sample_rate))
    np.multiply(power, power, out=power)
    power *= 2.0
    top = np.asarray(peaks, dtype=np.float32)
    # Whole hops and blocks as rows, the partial last one on its own (no padded copies of the clip); the
    # blocks then fill whole hops, as the limiter's foresight (mix.limited_hops) reads them hop by hop.
    hops = per_run(power, hop, np.sum)
    fill = len(hops) * (hop // block)
    return hops, _padded(per_run(power, block, np.sum), fill), _padded(per_run(top, block, np.max), fill)


def _padded(x: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([x, np.zeros(length - len(x), x.dtype)]) if len(x) < length else x


def per_run(x: np.ndarray, size: int, reduce) -> np.ndarray:
    """reduce() over each run of `size` values, the last run partial."""
    whole = len(x) // size * size
    out = reduce(x[:whole].reshape(-1, size), axis=1)
    return np.append(out, reduce(x[whole:])) if whole < len(x) else out
