"""Synthesised timing chimes: a few sets, each a family of distinct cues, each exactly as long as its
span in the plan (so nothing rings into the next speech)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .dsp import db_to_gain
from .plan import CHIME_S

CHIME_PEAK_DB = -9.0
SETS = {
    "bowl": "singing bowl: inharmonic partials with slow beating, warm and long",
    "bell": "small bright bell: near-harmonic partials, clear and short",
    "wood": "soft wood block: a hollow knock with a quick decay",
}

# (partial frequency ratio, relative amplitude, decay time constant in seconds)
_BOWL = ((1.0, 1.0, 1.4), (2.71, 0.45, 0.8), (5.15, 0.2, 0.4), (8.43, 0.08, 0.22))
_BELL = ((1.0, 1.0, 0.45), (2.0, 0.35, 0.3), (3.01, 0.18, 0.2), (4.17, 0.08, 0.12))
_WOOD = ((1.0, 1.0, 0.05), (2.57, 0.5, 0.03), (4.1, 0.2, 0.015))


def _strike(f0: float, partials, length_s: float, sr: int, beat_hz: float = 0.0, attack_s: float = 0.004) -> np.ndarray:
    t = np.arange(int(round(length_s * sr))) / sr
    out = np.zeros_like(t)
    for ratio, amp, tau in partials:
        f = f0 * ratio
        tone = np.sin(2 * np.pi * f * t)
        if beat_hz:
            # A slightly detuned twin gives a singing bowl's slow beating.
            tone = 0.5 * (tone + np.sin(2 * np.pi * (f + beat_hz * ratio) * t + 0.7))
        out += amp * tone * np.exp(-t / tau)
    attack = min(len(t), max(1, int(attack_s * sr)))
    out[:attack] *= np.linspace(0, 1, attack)
    return out


def _knock(f0: float, length_s: float, sr: int) -> np.ndarray:
    body = _strike(f0, _WOOD, length_s, sr, attack_s=0.001)
    # A few milliseconds of decaying noise: the stick's contact.
    rng = np.random.default_rng(int(f0))
    n = min(len(body), int(0.006 * sr))
    body[:n] += 0.3 * rng.standard_normal(n) * np.linspace(1, 0, n)
    return body


# Ticks: a soft, short metronome tap in each set's material, decaying well inside its 0.12 s span.
_BOWL_TICK = ((1.0, 1.0, 0.035), (2.71, 0.25, 0.02))
_BELL_TICK = ((1.0, 1.0, 0.03), (2.0, 0.2, 0.02), (3.01, 0.08, 0.012))


def _tick(chime_set: str, f0: float, length_s: float, sr: int) -> np.ndarray:
    if chime_set == "bowl":
        return _strike(f0, _BOWL_TICK, length_s, sr, attack_s=0.003)
    if chime_set == "bell":
        return _strike(f0 * 1.5, _BELL_TICK, length_s, sr, attack_s=0.002)
    return _knock(f0, length_s, sr)


def _voice(chime_set: str, f0: float, length_s: float, sr: int) -> np.ndarray:
    if chime_set == "bowl":
        return _strike(f0, _BOWL, length_s, sr, beat_hz=1.6)
    if chime_set == "bell":
        return _strike(f0 * 2, _BELL, length_s, sr)
    return _knock(f0 * 1.5, length_s, sr)


# Per cue: (pitch, start offset in seconds, relative level) for each strike.
_CUES = {
    "step": ((523.25, 0.0, 1.0),),
    "section": ((392.0, 0.0, 1.0), (587.33, 0.35, 0.7)),
    "switch": ((440.0, 0.0, 0.9), (659.25, 0.22, 0.8)),
    "halfway": ((783.99, 0.0, 0.45),),
    "tick": ((880.0, 0.0, 0.3),),
    "end": ((523.25, 0.0, 1.0), (392.0, 0.9, 0.9), (261.63, 1.8, 0.85)),
}


@lru_cache(maxsize=32)
def chime(kind: str, sample_rate: int = 44100, chime_set: str = "bowl") -> np.ndarray:
    """Mono float32 samples for a cue kind (section, step, switch, halfway, tick, end) in a chime set."""
    if chime_set not in SETS:
        raise KeyError(chime_set)
    length_s = CHIME_S[kind]
    total = np.zeros(int(round(length_s * sample_rate)))
    for f0, at_s, level in _CUES[kind]:
        make = _tick if kind == "tick" else _voice
        strike = level * make(chime_set, f0, length_s - at_s, sample_rate)
        start = int(round(at_s * sample_rate))
        total[start : start + len(strike)] += strike[: len(total) - start]
    # End exactly at silence, so nothing rings past the span into the next speech.
    fade = int(min(0.3, length_s / 3) * sample_rate)
    total[-fade:] *= np.cos(np.linspace(0, np.pi / 2, fade)) ** 2
    # Every cue of every set peaks at the same level, scaled by its first strike's level.
    total *= _CUES[kind][0][2] * db_to_gain(CHIME_PEAK_DB) / np.max(np.abs(total))
    samples = total.astype(np.float32)
    samples.setflags(write=False)
    return samples
