"""Synthesised timing chimes, one per cue kind, each exactly as long as its span in the plan."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .plan import CHIME_S

CHIME_PEAK_DB = -12.0

# (partial frequency ratio, relative amplitude, decay time constant in seconds) per strike.
_BOWL = ((1.0, 1.0, 1.2), (2.71, 0.45, 0.7), (5.15, 0.2, 0.35), (8.43, 0.08, 0.2))
_BELL = ((1.0, 1.0, 0.45), (2.0, 0.35, 0.3), (3.01, 0.18, 0.2), (4.17, 0.08, 0.12))


def _strike(fundamental_hz: float, partials, length_s: float, sample_rate: int, beat_hz: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(length_s * sample_rate))) / sample_rate
    out = np.zeros_like(t)
    for ratio, amp, tau in partials:
        f = fundamental_hz * ratio
        tone = np.sin(2 * np.pi * f * t)
        if beat_hz:
            # A second, slightly detuned copy gives a singing bowl's slow beating.
            tone = 0.5 * (tone + np.sin(2 * np.pi * (f + beat_hz) * t))
        out += amp * tone * np.exp(-t / tau)
    attack = min(len(t), int(0.004 * sample_rate))
    out[:attack] *= np.linspace(0, 1, attack)
    return out


def _place(total: np.ndarray, strike: np.ndarray, at_s: float, sample_rate: int) -> None:
    start = int(round(at_s * sample_rate))
    n = min(len(strike), len(total) - start)
    total[start : start + n] += strike[:n]


@lru_cache(maxsize=16)
def chime(kind: str, sample_rate: int = 44100) -> np.ndarray:
    """Mono float32 samples for a cue kind: section, step, switch or end."""
    length_s = CHIME_S[kind]
    total = np.zeros(int(round(length_s * sample_rate)))
    if kind == "step":
        _place(total, _strike(1046.5, _BELL, length_s, sample_rate), 0.0, sample_rate)
    elif kind == "section":
        _place(total, _strike(523.25, _BOWL, length_s, sample_rate, beat_hz=1.7), 0.0, sample_rate)
    elif kind == "switch":
        # Two quick rising notes: unmistakably different from the single step bell.
        _place(total, _strike(880.0, _BELL, length_s, sample_rate), 0.0, sample_rate)
        _place(total, 0.8 * _strike(1318.5, _BELL, length_s - 0.22, sample_rate), 0.22, sample_rate)
    elif kind == "end":
        for i, (f, at) in enumerate(((392.0, 0.0), (523.25, 0.9), (392.0, 1.8))):
            _place(total, (0.9**i) * _strike(f, _BOWL, length_s - at, sample_rate, beat_hz=1.3), at, sample_rate)
    else:
        raise KeyError(kind)
    # End exactly at silence so nothing rings past the span into the next speech.
    fade = int(0.25 * sample_rate)
    total[-fade:] *= np.cos(np.linspace(0, np.pi / 2, fade)) ** 2
    total *= 10 ** (CHIME_PEAK_DB / 20) / np.max(np.abs(total))
    samples = total.astype(np.float32)
    samples.setflags(write=False)
    return samples
