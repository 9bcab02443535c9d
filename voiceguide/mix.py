"""Plan + clips -> float32 stereo blocks. Every sample depends only on its absolute position, so the
output is identical for any block size and memory stays flat however long the session is."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np

from . import chimes
from .music import make_loop, rms_db
from .plan import Plan

SAMPLE_RATE = 44100
BLOCK_FRAMES = 65536
# Narration sits here (RMS of all speech together, one gain for the whole session so levels never jump
# from sentence to sentence); music.volume_db is relative to it.
VOICE_RMS_DB = -18.0
DUCK_DB = -10.0
DUCK_ATTACK_S = 0.25
DUCK_RELEASE_S = 0.7
MIN_FADE_IN_S = 0.5


@dataclass(frozen=True)
class _Source:
    start: int  # frame
    samples: np.ndarray  # mono float32
    gain: float

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


def frames(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    return int(round(seconds * sample_rate))


def voice_gain(clips: Mapping[str, np.ndarray]) -> float:
    if not clips:
        return 1.0
    level_db = rms_db(np.concatenate(list(clips.values())))
    if level_db < -80:
        return 1.0  # silence: nothing to level
    return float(10 ** ((VOICE_RMS_DB - level_db) / 20))


class Mixer:
    """Renders a plan block by block: music loop with fades and ducking, chimes, narration."""

    def __init__(
        self,
        plan: Plan,
        clips: Mapping[str, np.ndarray],
        music: np.ndarray | None = None,
        sample_rate: int = SAMPLE_RATE,
    ):
        self.plan = plan
        self.sample_rate = sample_rate
        self.total_frames = frames(plan.duration_s, sample_rate)
        gain = voice_gain({e.text: clips[e.text] for e in plan.speech()})
        sources = []
        for event in plan.events:
            if event.type == "speech":
                sources.append(_Source(frames(event.start_s, sample_rate), clips[event.text], gain))
            elif event.type == "chime":
                sources.append(_Source(frames(event.start_s, sample_rate), chimes.chime(event.kind, sample_rate), 1.0))
        sources.sort(key=lambda s: s.start)
        self.sources = sources
        self.source_starts = [s.start for s in sources]
        # The longest source bounds how far back a block must look for sources still sounding.
        self.max_source_frames = max((len(s.samples) for s in sources), default=0)

        self.loop = None
        if music is not None and plan.music is not None:
            level = VOICE_RMS_DB + plan.music.volume_db
            self.loop = make_loop(music, sample_rate) * np.float32(10 ** ((level - rms_db(music)) / 20))
        self._duck_spans = self._merge_spans([(e.start_s, e.end_s) for e in plan.speech()])
        self._duck_starts = [s for s, _ in self._duck_spans]

    @staticmethod
    def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
        # Speech closer than a release plus an attack stays ducked, so the music does not pump.
        merged: list[list[float]] = []
        for start, end in sorted(spans):
            if merged and start - merged[-1][1] < DUCK_ATTACK_S + DUCK_RELEASE_S:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [(s, e) for s, e in merged]

    def music_gain(self, start: int, stop: int) -> np.ndarray:
        """Linear gain of the music bed for frames [start, stop): fade in, ducking, fade out.

        Only the frames inside a fade or a ducking ramp are computed; the rest stay at unity.
        """
        sr = self.sample_rate
        gain = np.ones(stop - start, dtype=np.float32)

        def region(a_s: float, b_s: float) -> tuple[int, int, np.ndarray] | None:
            a, b = max(start, int(np.floor(a_s * sr))), min(stop, int(np.ceil(b_s * sr)))
            if a >= b:
                return None
            return a - start, b - start, np.arange(a, b, dtype=np.float64) / sr

        plan = self.plan
        fade_in_s = max(MIN_FADE_IN_S, plan.lead_in_s)
        if (r := region(0.0, fade_in_s)) is not None:
            a, b, t = r
            gain[a:b] *= np.sin(0.5 * np.pi * np.clip(t / fade_in_s, 0.0, 1.0))
        if (r := region(plan.duration_s - plan.fade_out_s, plan.duration_s)) is not None:
            a, b, t = r
            gain[a:b] *= np.sin(0.5 * np.pi * np.clip((plan.duration_s - t) / plan.fade_out_s, 0.0, 1.0))
        # Merged spans are at least attack + release apart, so their ramps never overlap.
        first = max(bisect.bisect_right(self._duck_starts, start / sr + DUCK_ATTACK_S) - 1, 0)
        for span_start, span_end in self._duck_spans[first:]:
            if span_start - DUCK_ATTACK_S > stop / sr:
                break
            if (r := region(span_start - DUCK_ATTACK_S, span_end + DUCK_RELEASE_S)) is None:
                continue
            a, b, t = r
            rise = np.clip((t - (span_start - DUCK_ATTACK_S)) / DUCK_ATTACK_S, 0.0, 1.0)
            fall = np.clip(((span_end + DUCK_RELEASE_S) - t) / DUCK_RELEASE_S, 0.0, 1.0)
            # Raised-cosine ramps: no corners, so no clicks or zipper noise.
            depth = 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))
            gain[a:b] *= 10 ** (DUCK_DB * depth / 20)
        return gain

    def block(self, start: int, stop: int) -> np.ndarray:
        n = stop - start
        out = np.zeros((n, 2), dtype=np.float32)
        if self.loop is not None:
            loop_len = self.loop.shape[0]
            pos, filled = start % loop_len, 0
            while filled < n:
                take = min(n - filled, loop_len - pos)
                out[filled : filled + take] = self.loop[pos : pos + take]
                filled, pos = filled + take, 0
            out *= self.music_gain(start, stop)[:, None]
        first = bisect.bisect_left(self.source_starts, start - self.max_source_frames)
        last = bisect.bisect_left(self.source_starts, stop)
        mono = np.zeros(n, dtype=np.float32)
        for source in self.sources[first:last]:
            a, b = max(start, source.start), min(stop, source.end)
            if a < b:
                mono[a - start : b - start] += source.samples[a - source.start : b - source.start] * np.float32(source.gain)
        out += mono[:, None]
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        for start in range(0, self.total_frames, block_frames):
            yield self.block(start, min(start + block_frames, self.total_frames))
