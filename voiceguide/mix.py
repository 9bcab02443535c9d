"""Plan + clips -> float32 stereo blocks. Every sample depends only on its absolute position, so the
output is identical for any block size and memory stays flat however long the session is."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Protocol

import numpy as np

from . import chimes
from .music import make_loop, rms_db
from .plan import Plan
from .voice.clips import MemoryClip

SAMPLE_RATE = 44100
BLOCK_FRAMES = 65536
# Narration sits here (RMS of all speech together, one gain for the whole session so levels never jump
# from sentence to sentence); music.volume_db is relative to it.
VOICE_RMS_DB = -20.0
# espeak's crest factor is about 20 dB: without a cap the loudest syllables would clip.
VOICE_PEAK_DB = -1.5
DUCK_DB = -10.0
DUCK_ATTACK_S = 0.25
DUCK_RELEASE_S = 0.7
MIN_FADE_IN_S = 0.5


class Clip(Protocol):
    frames: int
    sum_sq: float
    peak: float

    def load(self) -> np.ndarray: ...


@dataclass(frozen=True)
class _ChimeKind:
    kind: str


@dataclass(frozen=True)
class _Source:
    start: int  # frame
    length: int
    key: object  # what to load: a speech text or a chime kind
    gain: float

    @property
    def end(self) -> int:
        return self.start + self.length


def frames(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    return int(round(seconds * sample_rate))


def voice_gain(clips: Iterable[Clip]) -> tuple[float, float]:
    """One gain for all narration, and the narration's RMS level after it (dBFS)."""
    clips = list(clips)
    total_frames = sum(c.frames for c in clips)
    if not total_frames:
        return 1.0, VOICE_RMS_DB
    level_db = 10 * float(np.log10(max(sum(c.sum_sq for c in clips) / total_frames, 1e-18)))
    if level_db < -80:
        return 1.0, VOICE_RMS_DB  # silence: nothing to level
    peak = max(c.peak for c in clips)
    gain = min(10 ** ((VOICE_RMS_DB - level_db) / 20), 10 ** (VOICE_PEAK_DB / 20) / peak)
    return float(gain), level_db + 20 * float(np.log10(gain))


def _duck_ramp(progress: np.ndarray) -> np.ndarray:
    """Gain along a ducking ramp: a raised-cosine path in dB, so there are no corners, clicks or zipper noise."""
    depth = 0.5 - 0.5 * np.cos(np.pi * progress)
    return 10 ** (DUCK_DB * depth / 20)


class Mixer:
    """Renders a plan block by block: music loop with fades and ducking, chimes, narration.

    Clips are loaded only while they sound, so memory does not grow with the length of the session.
    """

    def __init__(
        self,
        plan: Plan,
        clips: Mapping[str, Clip | np.ndarray],
        music: np.ndarray | None = None,
        sample_rate: int = SAMPLE_RATE,
    ):
        self.plan = plan
        self.sample_rate = sample_rate
        self.total_frames = frames(plan.duration_s, sample_rate)
        self.clips = {t: MemoryClip(c) if isinstance(c, np.ndarray) else c for t, c in clips.items()}
        spoken = {e.text for e in plan.speech()}
        gain, voice_level_db = voice_gain(self.clips[t] for t in spoken)
        sources = []
        for event in plan.events:
            if event.type == "speech":
                sources.append(_Source(frames(event.start_s, sample_rate), self.clips[event.text].frames, event.text, gain))
            elif event.type == "chime":
                chime = _ChimeKind(event.kind)
                sources.append(_Source(frames(event.start_s, sample_rate), len(chimes.chime(event.kind, sample_rate)), chime, 1.0))
        sources.sort(key=lambda s: s.start)
        self.sources = sources
        self.source_starts = [s.start for s in sources]
        # The longest source bounds how far back a block must look for sources still sounding.
        self.max_source_frames = max((s.length for s in sources), default=0)
        self._loaded: dict[object, np.ndarray] = {}

        self.loop = None
        if music is not None and plan.music is not None:
            # Music sits volume_db below the narration as it will actually sound.
            level = voice_level_db + plan.music.volume_db
            gain_music = np.float32(10 ** ((level - rms_db(music)) / 20))
            self.loop = make_loop(music, sample_rate)
            self.loop *= gain_music
        self._duck_spans = self._merge_spans([(e.start_s, e.end_s) for e in plan.speech()])
        self._duck_starts = [s for s, _ in self._duck_spans]

    def _samples(self, key: object) -> np.ndarray:
        samples = self._loaded.get(key)
        if samples is None:
            if isinstance(key, _ChimeKind):
                samples = chimes.chime(key.kind, self.sample_rate)
            else:
                samples = self.clips[key].load()
            self._loaded[key] = samples
        return samples

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

        def region(a_s: float, b_s: float) -> tuple[int, int] | None:
            # ceil on both ends, so adjacent regions tile the frames exactly once.
            a, b = max(start, int(np.ceil(a_s * sr))), min(stop, int(np.ceil(b_s * sr)))
            return (a - start, b - start) if a < b else None

        def times(r: tuple[int, int]) -> np.ndarray:
            return np.arange(start + r[0], start + r[1], dtype=np.float64) / sr

        plan = self.plan
        fade_in_s = max(MIN_FADE_IN_S, plan.lead_in_s)
        if (r := region(0.0, fade_in_s)) is not None:
            gain[r[0] : r[1]] *= np.sin(0.5 * np.pi * np.clip(times(r) / fade_in_s, 0.0, 1.0))
        if (r := region(plan.duration_s - plan.fade_out_s, plan.duration_s)) is not None:
            gain[r[0] : r[1]] *= np.sin(0.5 * np.pi * np.clip((plan.duration_s - times(r)) / plan.fade_out_s, 0.0, 1.0))
        # Merged spans are at least attack + release apart, so their ramps never overlap.
        duck_gain = np.float32(10 ** (DUCK_DB / 20))
        first = max(bisect.bisect_right(self._duck_starts, start / sr + DUCK_ATTACK_S) - 1, 0)
        for span_start, span_end in self._duck_spans[first:]:
            if span_start - DUCK_ATTACK_S > stop / sr:
                break
            if (r := region(span_start - DUCK_ATTACK_S, span_start)) is not None:
                progress = (times(r) - (span_start - DUCK_ATTACK_S)) / DUCK_ATTACK_S
                gain[r[0] : r[1]] *= _duck_ramp(np.clip(progress, 0.0, 1.0))
            if (r := region(span_start, span_end)) is not None:
                gain[r[0] : r[1]] *= duck_gain
            if (r := region(span_end, span_end + DUCK_RELEASE_S)) is not None:
                progress = ((span_end + DUCK_RELEASE_S) - times(r)) / DUCK_RELEASE_S
                gain[r[0] : r[1]] *= _duck_ramp(np.clip(progress, 0.0, 1.0))
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
        sounding = set()
        for source in self.sources[first:last]:
            a, b = max(start, source.start), min(stop, source.end)
            if a < b:
                samples = self._samples(source.key)
                sounding.add(source.key)
                mono[a - start : b - start] += samples[a - source.start : b - source.start] * np.float32(source.gain)
        # Forget clips that have finished; one still sounding stays loaded for the next block.
        for key in [k for k in self._loaded if k not in sounding]:
            del self._loaded[key]
        out += mono[:, None]
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        for start in range(0, self.total_frames, block_frames):
            yield self.block(start, min(start + block_frames, self.total_frames))
