"""Plan + clips -> float32 stereo blocks. Every sample depends only on its absolute position, so the
output is identical for any block size and memory stays flat however long the session is."""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass
from typing import Iterator, Mapping, Protocol

import numpy as np

from . import chimes
from .dsp import db_to_gain, running_mean, running_min
from .pan import pan_gains, side_position
from .loudness import HOP_S, LIMIT_SMOOTH_S, hop_energies, limit, limit_block_frames, loudness_from_hops
from .music import Loop, loop_energies, loop_from_samples
from .plan import Plan
from .settings import SETTINGS
from .voice.clips import MemoryClip

SAMPLE_RATE = 44100
BLOCK_FRAMES = 65536
# The loudness target (EBU R128 / BS.1770) is the narration's (dialogue loudness): the voice is the anchor,
# the music and chimes sit relative to it, so a louder bed never pushes the voice up or down.
DEFAULT_LOUDNESS_LUFS = SETTINGS["loudness_lufs"].default
# The whole session stays this close to the target too: the bed fills the gaps between phrases, which
# brings the programme's gated loudness under the narration's (about 2 LU with the default bed). Outside
# this window everything moves together, so the voice stays the anchor of the bed and the chimes.
PROGRAMME_WINDOW_LU = (-0.5, 0.5)
# Each clip is limited to this true peak after levelling (espeak's crest factor is about 20 dB).
VOICE_CEILING_DBTP = -2.0
# The bus safety net: a stateless soft knee above this level, approaching BUS_CEILING but never past it.
BUS_KNEE = db_to_gain(-2.2)
BUS_CEILING = db_to_gain(-1.6)
DUCK_DB = SETTINGS["duck_db"].default
DUCK_ATTACK_S = 0.3
# A slow release: the bed comes back like a breath, not a jolt.
DUCK_RELEASE_S = 2.0
# The bed never comes back up for less than this between two ducks (a short swell is what pumps), so
# sounds closer than attack + release + this (counts, "chime then phrase", a short preview) share one duck.
MIN_SWELL_S = 3.0
DUCK_HOLD_S = DUCK_ATTACK_S + DUCK_RELEASE_S + MIN_SWELL_S
MIN_FADE_IN_S = 0.5


class Clip(Protocol):
    frames: int
    hops: np.ndarray  # K-weighted 100 ms hop energies (loudness.hop_energies)
    peak: float  # the highest true peak, linear

    def peak_blocks(self) -> tuple[np.ndarray, np.ndarray]: ...  # see loudness.clip_levels

    def load(self) -> tuple[np.ndarray, np.ndarray | None]: ...


@dataclass(frozen=True)
class _ChimeKind:
    kind: str


@dataclass(frozen=True)
class _Source:
    start: int  # frame
    length: int
    key: object  # what to load: a speech text or a chime kind (levels are applied when it is loaded)
    position: float = 0.0  # where it sits: -1 toward the left, 0 centre, 1 toward the right (pan.side_position)

    @property
    def end(self) -> int:
        return self.start + self.length


def frames(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    return int(round(seconds * sample_rate))


def level_voice(clip: Clip, gain: float, sample_rate: int) -> np.ndarray:
    """A voice clip at its narration gain, limited as a whole clip to VOICE_CEILING_DBTP (deterministic, so
    the block size of the mix never matters); its cached true peaks spare the oversampling."""
    raw, block_peaks = clip.load()
    g = np.float32(gain)
    peaks = None if block_peaks is None else block_peaks * g
    return limit(raw * g, sample_rate, VOICE_CEILING_DBTP, peaks=peaks, block=limit_block_frames(sample_rate))


def limited_hops(clip: Clip, gain: float, sample_rate: int, blocks: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The clip's hop energies (at unit gain) as the limiter will leave them at `gain`: each hop's K-weighted
    energy times the share of it the limiter keeps. The limiter's gain is followed on the
    clip's ~1 ms blocks (a block's lowest need is at its highest peak, then the limiter's own min and mean
    windows): enough for a loudness estimate, at a fraction of the cost of limiting the clip."""
    energy, top = blocks
    ceiling = db_to_gain(VOICE_CEILING_DBTP)
    need = np.minimum(1.0, ceiling / np.maximum(top * gain, 1e-12))
    block = limit_block_frames(sample_rate)
    half = max(1, int(LIMIT_SMOOTH_S * sample_rate) // block)
    kept_gain = np.minimum(running_mean(running_min(need, 4 * half + 1), 2 * half + 1), need)
    per_hop = int(round(HOP_S * sample_rate)) // block
    kept = (energy * kept_gain**2).reshape(-1, per_hop).sum(axis=1)
    total = energy.reshape(-1, per_hop).sum(axis=1)
    share = np.divide(kept, total, out=np.ones_like(total), where=total > 0)
    hops = clip.hops
    return hops * share[: len(hops)] if len(share) >= len(hops) else hops


def soft_clip(x: np.ndarray) -> np.ndarray:
    """Identity below the knee, a tanh shoulder above it; never reaches BUS_CEILING. Stateless, so any
    block size gives the same samples."""
    mag = np.abs(x)
    over = mag > BUS_KNEE
    if np.any(over):
        room = BUS_CEILING - BUS_KNEE
        x[over] = np.sign(x[over]) * (BUS_KNEE + room * np.tanh((mag[over] - BUS_KNEE) / room))
    return x


def _duck_ramp(progress: np.ndarray, duck_db: float) -> np.ndarray:
    """Gain along a ducking ramp: a raised-cosine path in dB, so there are no corners, clicks or zipper noise."""
    depth = 0.5 - 0.5 * np.cos(np.pi * progress)
    return db_to_gain(duck_db * depth)


class Mixer:
    """Renders a plan block by block: music loop with fades and ducking, chimes, narration.

    Clips are loaded only while they sound, so memory does not grow with the length of the session.
    """

    def __init__(
        self,
        plan: Plan,
        clips: Mapping[str, Clip | np.ndarray],
        music: np.ndarray | Loop | None = None,
        sample_rate: int = SAMPLE_RATE,
        loudness_lufs: float = DEFAULT_LOUDNESS_LUFS,
        music_hops: np.ndarray | None = None,
    ):
        """`music` is a Loop (render streams it from the cache) or a float32 stereo track, taken over and
        folded in place; `music_hops` are the loop's 100 ms K-weighted energies, from which its loudness
        follows too, where already known (render caches them per file); else they are measured."""
        self.plan = plan
        self.sample_rate = sample_rate
        self.total_frames = frames(plan.duration_s, sample_rate)
        self.clips = {t: MemoryClip(c, sample_rate) if isinstance(c, np.ndarray) else c for t, c in clips.items()}
        self.chime_set = plan.chimes if plan.chimes in chimes.SETS else None
        sources = []
        for event in plan.events:
            position = side_position(event.side) if plan.pan else 0.0
            if event.type == "speech":
                sources.append(_Source(frames(event.start_s, sample_rate), self.clips[event.text].frames, event.text, position))
            elif event.type == "chime" and self.chime_set:
                length = len(chimes.chime(event.kind, sample_rate, self.chime_set))
                sources.append(_Source(frames(event.start_s, sample_rate), length, _ChimeKind(event.kind), position))
        sources.sort(key=lambda s: s.start)
        self.sources = sources
        self.source_starts = [s.start for s in sources]
        # The longest source bounds how far back a block must look for sources still sounding.
        self.max_source_frames = max((s.length for s in sources), default=0)
        self._loaded: dict[object, np.ndarray] = {}
        self.duck_db = plan.music.duck_db if plan.music is not None else DUCK_DB
        # Chimes duck the bed like speech: a cue then a phrase is one duck, not two with a swell between.
        ducked = [(e.start_s, e.end_s) for e in plan.events if e.type == "speech" or (e.type == "chime" and self.chime_set)]
        self._duck_spans = self._merge_spans(ducked)
        self._duck_starts = [s for s, _ in self._duck_spans]

        self.loop: Loop | None = None
        if music is not None and plan.music is not None:
            self.loop = music if isinstance(music, Loop) else loop_from_samples(music, sample_rate)
        self._set_levels(loudness_lufs, music_hops)

    def _set_levels(self, target_lufs: float, music_hops: np.ndarray | None) -> None:
        """Level every source once, before mixing: the narration to the target, the music volume_db from it
        (the loop's own loudness, before ducking), the chimes CHIME_UNDER_SPEECH_LU under it. The session
        is predicted by summing each source's 100 ms K-weighted energies on the session's hop grid
        (energies of unrelated sources add), so no second pass over the audio is needed; only when it would
        end up outside PROGRAMME_WINDOW_LU of the target is everything moved together."""
        sr = self.sample_rate
        hop = int(round(HOP_S * sr))
        n_hops = -(-self.total_frames // hop)
        speech = [(event.text, frames(event.start_s, sr) // hop) for event in self.plan.speech()]

        def voice_timeline(hops_of: Mapping[str, np.ndarray]) -> np.ndarray:
            timeline = np.zeros(n_hops)
            for text, at in speech:
                self._place(timeline, hops_of.get(text, self.clips[text].hops), at)
            return timeline

        voice = voice_timeline({})
        chime = np.zeros(n_hops)
        if self.chime_set:
            kind_hops: dict[str, np.ndarray] = {}
            for event in self.plan.events:
                if event.type == "chime":
                    if event.kind not in kind_hops:
                        kind_hops[event.kind] = hop_energies(chimes.chime(event.kind, sr, self.chime_set), sr, 2.0)
                    self._place(chime, kind_hops[event.kind], frames(event.start_s, sr) // hop)
        music = np.zeros(n_hops)
        music_lufs = None
        if self.loop is not None:
            hops = music_hops if music_hops is not None else loop_energies(self.loop, sr)
            music_lufs = loudness_from_hops(hops, sr)  # the loop's loudness: what is heard
            starts = np.arange(n_hops) * hop
            music = hops[(starts % self.loop.frames) // hop] * self.music_gain_at((starts + hop / 2) / sr) ** 2

        speech_lufs = loudness_from_hops(voice, sr)
        voice_gain = db_to_gain(target_lufs - speech_lufs) if np.isfinite(speech_lufs) else 1.0
        # Clips whose true peak the gain pushes over the ceiling will be limited, which takes some of their
        # loudness (Piper's dynamic voice: 0.7 LU over a session). Those clips are measured as limited (from
        # per-block peaks and energies kept with each processed clip) and the narration levelled again.
        ceiling = db_to_gain(VOICE_CEILING_DBTP)
        blocks: dict[str, tuple[np.ndarray, np.ndarray]] = {}

        def heard(gain: float) -> np.ndarray:
            """The voice timeline at unit gain as it will be heard at `gain`, its limited clips included."""
            hot = sorted({text for text, _ in speech if self.clips[text].peak * gain > ceiling})
            for text in hot:
                if text not in blocks:
                    blocks[text] = self.clips[text].peak_blocks()
            return voice_timeline({t: limited_hops(self.clips[t], gain, sr, blocks[t]) for t in hot}) if hot else voice

        if np.isfinite(speech_lufs):
            for _ in range(2):  # twice: the new gain limits a little more
                voice_gain *= db_to_gain(target_lufs - loudness_from_hops(heard(voice_gain) * voice_gain**2, sr))
        music_gain = 0.0
        if self.loop is not None and music_lufs is not None and np.isfinite(music_lufs):
            music_gain = db_to_gain(target_lufs + self.plan.music.volume_db - music_lufs)
        chime_gain = db_to_gain(target_lufs - chimes.CHIME_UNDER_SPEECH_LU - chimes.CHIME_LUFS)
        others = music * music_gain**2 + chime * chime_gain**2
        low, high = target_lufs + PROGRAMME_WINDOW_LU[0], target_lufs + PROGRAMME_WINDOW_LU[1]
        scale, anchor = 1.0, 1.0
        for _ in range(4):  # a raised voice limits a little more: predicted again
            g = voice_gain * scale
            voice_heard = heard(g) * g**2
            speech_now = loudness_from_hops(voice_heard, sr)
            # The bed and the chimes follow the narration as it will be heard, limiting included.
            anchor = db_to_gain(speech_now - target_lufs) if np.isfinite(speech_now) else scale
            programme = loudness_from_hops(voice_heard + others * anchor**2, sr)
            if not np.isfinite(programme) or low - 0.05 <= programme <= high + 0.05:
                break
            scale *= db_to_gain(min(max(programme, low), high) - programme)
        self.predicted_lufs = programme  # the session's loudness as predicted (tests compare it with the audio)
        self.voice_gain = float(voice_gain * scale)
        self.chime_gain = float(chime_gain * anchor)
        if self.loop is not None:
            self._loop_unit = np.float32(self.loop.unit * music_gain * anchor)

    @staticmethod
    def _place(timeline: np.ndarray, hops: np.ndarray, at: int) -> None:
        n = max(0, min(len(hops), len(timeline) - at))
        timeline[at : at + n] += hops[:n]

    def music_gain_at(self, t: np.ndarray) -> np.ndarray:
        """The music bed's envelope (fades and ducking) at arbitrary times; music_gain() is the same curve,
        computed only where it changes, for the audio itself."""
        plan = self.plan
        fade_in_s = max(MIN_FADE_IN_S, plan.lead_in_s)
        gain = np.sin(0.5 * np.pi * np.clip(t / fade_in_s, 0.0, 1.0))
        gain = gain * np.sin(0.5 * np.pi * np.clip((plan.duration_s - t) / plan.fade_out_s, 0.0, 1.0))
        if self._duck_spans:
            spans = np.array(self._duck_spans)
            i = np.clip(np.searchsorted(spans[:, 0] - DUCK_ATTACK_S, t, side="right") - 1, 0, len(spans) - 1)
            span_start, span_end = spans[i, 0], spans[i, 1]
            rise = np.clip((t - (span_start - DUCK_ATTACK_S)) / DUCK_ATTACK_S, 0.0, 1.0)
            fall = np.clip(((span_end + DUCK_RELEASE_S) - t) / DUCK_RELEASE_S, 0.0, 1.0)
            gain = gain * _duck_ramp(np.minimum(rise, fall), self.duck_db)
        return gain

    def _samples(self, key: object) -> np.ndarray:
        samples = self._loaded.get(key)
        if samples is None:
            if isinstance(key, _ChimeKind):
                samples = chimes.chime(key.kind, self.sample_rate, self.chime_set) * np.float32(self.chime_gain)
            else:
                samples = level_voice(self.clips[key], self.voice_gain, self.sample_rate)
            self._loaded[key] = samples
        return samples

    @staticmethod
    def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
        # Sounds closer than DUCK_HOLD_S share one duck, so the music never swells for less than MIN_SWELL_S.
        merged: list[list[float]] = []
        for start, end in sorted(spans):
            if merged and start - merged[-1][1] < DUCK_HOLD_S:
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
        duck_db = self.duck_db
        duck_gain = np.float32(db_to_gain(duck_db))
        first = max(bisect.bisect_right(self._duck_starts, start / sr + DUCK_ATTACK_S) - 1, 0)
        for span_start, span_end in self._duck_spans[first:]:
            if span_start - DUCK_ATTACK_S > stop / sr:
                break
            if (r := region(span_start - DUCK_ATTACK_S, span_start)) is not None:
                progress = (times(r) - (span_start - DUCK_ATTACK_S)) / DUCK_ATTACK_S
                gain[r[0] : r[1]] *= _duck_ramp(np.clip(progress, 0.0, 1.0), duck_db)
            if (r := region(span_start, span_end)) is not None:
                gain[r[0] : r[1]] *= duck_gain
            if (r := region(span_end, span_end + DUCK_RELEASE_S)) is not None:
                progress = ((span_end + DUCK_RELEASE_S) - times(r)) / DUCK_RELEASE_S
                gain[r[0] : r[1]] *= _duck_ramp(np.clip(progress, 0.0, 1.0), duck_db)
        return gain

    def stems(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The three sources of frames [start, stop) before they are summed: voice and chimes (mono, before
        panning), music (stereo)."""
        return self._parts(start, stop)[0]

    def _parts(self, start: int, stop: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """stems(), and what panning adds to the centred voice and chimes on each channel (None: nothing)."""
        n = stop - start
        music = np.zeros((n, 2), dtype=np.float32)
        if self.loop is not None:
            loop_len = self.loop.frames
            pos, filled = start % loop_len, 0
            while filled < n:
                take = min(n - filled, loop_len - pos)
                music[filled : filled + take] = self.loop.read(pos, take)
                filled, pos = filled + take, 0
            music *= (self.music_gain(start, stop) * self._loop_unit)[:, None]
        first = bisect.bisect_left(self.source_starts, start - self.max_source_frames)
        last = bisect.bisect_left(self.source_starts, stop)
        voice = np.zeros(n, dtype=np.float32)
        chime = np.zeros(n, dtype=np.float32)
        tilt = None
        sounding = set()
        for source in self.sources[first:last]:
            a, b = max(start, source.start), min(stop, source.end)
            if a < b:
                samples = self._samples(source.key)[a - source.start : b - source.start]
                sounding.add(source.key)
                target = chime if isinstance(source.key, _ChimeKind) else voice
                target[a - start : b - start] += samples
                if source.position:
                    tilt = np.zeros((n, 2), dtype=np.float32) if tilt is None else tilt
                    left, right = pan_gains(source.position)
                    tilt[a - start : b - start] += samples[:, None] * np.array([left - 1.0, right - 1.0], dtype=np.float32)
        # Forget clips that have finished; one still sounding stays loaded for the next block.
        for key in [k for k in self._loaded if k not in sounding]:
            del self._loaded[key]
        return {"voice": voice, "music": music, "chimes": chime}, tilt

    def fork(self) -> Mixer:
        """A mixer for another thread: the same plan, levels and music, its own clips in memory.

        Any range of the session can be mixed on its own (block() depends only on start and stop), which
        is what lets segments of one session be encoded at once."""
        twin = copy.copy(self)
        twin._loaded = {}
        return twin

    def block(self, start: int, stop: int) -> np.ndarray:
        parts, tilt = self._parts(start, stop)
        out = parts["music"]
        out += (parts["voice"] + parts["chimes"])[:, None]
        if tilt is not None:
            out += tilt
        return soft_clip(out)

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        for start in range(0, self.total_frames, block_frames):
            yield self.block(start, min(start + block_frames, self.total_frames))
