"""Synthesised timing chimes: a few sets, each a family of distinct cues, levelled by loudness (BS.1770),
not by peak, so a bowl, a bell and a wood block sit equally far under the voice. A cue starts at its span
in the plan and its tail rings out naturally under whatever follows (it is quiet by then)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .dsp import db_to_gain
from .loudness import hop_energies
from .plan import CHIME_S, TAIL_S

# The loudness of every set's step cue over its span, as chime() returns it (heard on both channels). The
# mixer scales all cues together to sit CHIME_UNDER_SPEECH_LU under the narration; other cues keep their
# level relative to the step cue (the first strike's level in _CUES: a tick is 10 dB softer).
CHIME_LUFS = -24.0
# Far enough under the voice not to mask a word a tail rings under, near enough to be heard over the bed.
CHIME_UNDER_SPEECH_LU = 8.0
# A tail is rendered until its slowest partial has decayed this far (then a short fade to exact zero).
RING_OUT_DB = -60.0
SETS = {
    "bowl": "singing bowl: inharmonic partials with slow beating, warm and long",
    "bell": "small bright bell: near-harmonic partials, clear and short",
    "wood": "soft wood block: a hollow knock with a quick decay",
}

# (partial frequency ratio, relative amplitude, decay time constant in seconds)
_BOWL = ((1.0, 1.0, 1.4), (2.71, 0.45, 0.8), (5.15, 0.2, 0.4), (8.43, 0.08, 0.22))
_BELL = ((1.0, 1.0, 0.45), (2.0, 0.35, 0.3), (3.01, 0.18, 0.2), (4.17, 0.08, 0.12))
_WOOD = ((1.0, 1.0, 0.05), (2.57, 0.5, 0.03), (4.1, 0.2, 0.015))


def _damped_sine(f: float, tau: float, phase: float, n: int, sr: int) -> np.ndarray:
    """sin(2 pi f t + phase) * exp(-t / tau) for t = arange(n) / sr, as the imaginary part of one complex
    exponential split into rows and columns (exp(s (kB + j)) = exp(s kB) exp(s j)): one complex product per
    sample instead of a sine and an exponential, which made a bowl's ten-second ring cost 30 ms."""
    if n == 0:
        return np.zeros(0)
    s = complex(-1.0 / tau, 2 * np.pi * f) / sr
    cols = min(n, 1024)
    rows = -(-n // cols)
    z = np.exp(s * cols * np.arange(rows) + 1j * phase)[:, None] * np.exp(s * np.arange(cols))[None, :]
    return z.imag.ravel()[:n]


def _strike(f0: float, partials, length_s: float, sr: int, beat_hz: float = 0.0, attack_s: float = 0.004) -> np.ndarray:
    n = int(round(length_s * sr))
    out = np.zeros(n)
    for ratio, amp, tau in partials:
        f = f0 * ratio
        if beat_hz:
            # A slightly detuned twin gives a singing bowl's slow beating.
            out += 0.5 * amp * (_damped_sine(f, tau, 0.0, n, sr) + _damped_sine(f + beat_hz * ratio, tau, 0.7, n, sr))
        else:
            out += amp * _damped_sine(f, tau, 0.0, n, sr)
    attack = min(n, max(1, int(attack_s * sr)))
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


def _ring_s(chime_set: str, kind: str) -> float:
    """How long a strike of this set and kind rings before its slowest partial reaches RING_OUT_DB."""
    if kind == "tick":
        partials = {"bowl": _BOWL_TICK, "bell": _BELL_TICK}.get(chime_set, _WOOD)
    else:
        partials = {"bowl": _BOWL, "bell": _BELL}.get(chime_set, _WOOD)
    return max(tau for _, _, tau in partials) * -RING_OUT_DB / 20 * np.log(10)


def span_loudness(samples: np.ndarray, span_s: float, sample_rate: int) -> float:
    """Loudness (BS.1770 K-weighting, as heard on both channels) of a mono cue over its span: its energy
    over the whole span, ungated, so a short knock and a long ring that fill the same slot of the session
    with the same energy count as equally loud."""
    frames = int(round(span_s * sample_rate))
    energy = hop_energies(samples[:frames], sample_rate, 2.0).sum()
    return -0.691 + 10 * np.log10(max(energy / frames, 1e-20))


@lru_cache(maxsize=32)
def chime(kind: str, sample_rate: int = 44100, chime_set: str = "bowl") -> np.ndarray:
    """Mono float32 samples for a cue kind (section, step, switch, halfway, tick, end) in a chime set: its
    span in the plan and then its tail, at CHIME_LUFS (the step cue) or that less its first strike's level."""
    if chime_set not in SETS:
        raise KeyError(chime_set)
    span_s = CHIME_S[kind]
    ring_s = _ring_s(chime_set, kind)
    last_at_s = max(at_s for _, at_s, _ in _CUES[kind])
    length_s = max(span_s, last_at_s + ring_s)
    if kind == "end":  # the session ends TAIL_S after the closing cue starts: it fades out with the music
        length_s = min(length_s, TAIL_S)
    total = np.zeros(int(round(length_s * sample_rate)))
    for f0, at_s, level in _CUES[kind]:
        make = _tick if kind == "tick" else _voice
        start = int(round(at_s * sample_rate))
        strike = level * make(chime_set, f0, (len(total) - start) / sample_rate, sample_rate)
        total[start : start + len(strike)] += strike[: len(total) - start]
    # The tail is already RING_OUT_DB down (a short fade takes it to exact zero), or it is the closing cue's.
    fade = min(len(total) // 4, int((1.5 if kind == "end" else 0.1) * sample_rate))
    total[len(total) - fade :] *= np.cos(np.linspace(0, np.pi / 2, fade)) ** 2
    level_db = CHIME_LUFS + 20 * np.log10(_CUES[kind][0][2]) - span_loudness(total, span_s, sample_rate)
    samples = (total * db_to_gain(level_db)).astype(np.float32)
    samples.setflags(write=False)
    return samples
