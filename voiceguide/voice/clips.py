"""Engine WAV -> mix-ready clip: mono float32, silence trimmed, short fades, resampled with soxr."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from ..errors import EngineError

# Relative to the clip's own peak, so quiet and loud voices trim alike.
TRIM_THRESHOLD_DB = -40.0
KEEP_BEFORE_S = 0.02
KEEP_AFTER_S = 0.06
FADE_S = 0.005


def trim_silence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak <= 1e-4:
        return samples[:0]
    loud = np.flatnonzero(np.abs(samples) >= peak * 10 ** (TRIM_THRESHOLD_DB / 20))
    start = max(0, int(loud[0]) - int(KEEP_BEFORE_S * sample_rate))
    end = min(samples.size, int(loud[-1]) + 1 + int(KEEP_AFTER_S * sample_rate))
    return samples[start:end]


def apply_fades(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    n = min(int(FADE_S * sample_rate), samples.size // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


def load_clip(path: Path, sample_rate: int) -> np.ndarray:
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise EngineError(f"unreadable speech clip {path}: {exc}") from None
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    mono = trim_silence(mono, rate)
    if mono.size == 0:
        raise EngineError(f"the speech clip {path.name} is silent")
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return apply_fades(np.ascontiguousarray(mono, dtype=np.float32), sample_rate)


@dataclass(frozen=True)
class ClipRef:
    """A mix-ready clip kept on disk: its length and level are known, its samples are loaded when needed.

    Holding every clip of a long session in memory would grow with session length; the mixer loads each
    one only while it sounds.
    """

    path: Path
    sample_rate: int
    frames: int
    sum_sq: float
    peak: float

    @classmethod
    def measure(cls, path: Path, sample_rate: int) -> ClipRef:
        samples = load_clip(path, sample_rate)
        return cls(path, sample_rate, len(samples), float(np.dot(samples, samples)), float(np.max(np.abs(samples))))

    def load(self) -> np.ndarray:
        return load_clip(self.path, self.sample_rate)


@dataclass(frozen=True)
class MemoryClip:
    """A clip already in memory (tests, previews), with the same interface as ClipRef."""

    samples: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.samples)

    @property
    def sum_sq(self) -> float:
        return float(np.dot(self.samples.astype(np.float64), self.samples))

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if len(self.samples) else 0.0

    def load(self) -> np.ndarray:
        return self.samples
