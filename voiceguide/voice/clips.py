"""Engine WAV -> mix-ready clip: mono float32, silence trimmed, short fades, resampled with soxr."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import soundfile
import soxr

from ..dsp import biquad_highpass, biquad_lowpass, cached_ir, db_to_gain, fir_filter

from ..errors import EngineError
from ..stale import temp_tag
from ..loudness import HOP_S, clip_levels, hop_energies, limit_block_frames, true_peak
from .presets import preset as _preset

# Relative to the clip's own peak, so quiet and loud voices trim alike.
TRIM_THRESHOLD_DB = -40.0
KEEP_BEFORE_S = 0.02
KEEP_AFTER_S = 0.06
FADE_S = 0.005


def trim_bounds(samples: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """[start, end) of what trim_silence keeps (empty when silent). Trimming twice keeps the same samples, so
    the cache can store a clip already trimmed."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak <= 1e-4:
        return 0, 0
    loud = np.flatnonzero(np.abs(samples) >= peak * db_to_gain(TRIM_THRESHOLD_DB))
    start = max(0, int(loud[0]) - int(KEEP_BEFORE_S * sample_rate))
    end = min(samples.size, int(loud[-1]) + 1 + int(KEEP_AFTER_S * sample_rate))
    return start, end


def trim_silence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    start, end = trim_bounds(samples, sample_rate)
    return samples[start:end]


def apply_fades(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    n = min(int(FADE_S * sample_rate), samples.size // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


HIGHPASS_HZ = 70.0
# A gentle shelf takes the edge off synthetic sibilants ("s", "sh") without dulling the voice.
SHELF_HZ, SHELF_DB = 6000.0, -4.0
# The voice filters' impulse responses have decayed below -100 dB well within this many taps.
VOICE_TAPS = 2048


def _room(sample_rate: int, room_s: float) -> np.ndarray:
    """A small-room impulse response: seeded, exponentially decaying, darkened noise."""
    rng = np.random.default_rng(7)
    n = int(room_s * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n) * np.exp(-t / (room_s / 6.9))  # -60 dB at the end
    ir = fir_filter(ir, cached_ir((biquad_lowpass(3500, 0.7071, sample_rate),), VOICE_TAPS))
    ir[: int(0.012 * sample_rate)] = 0.0  # early gap before the first reflections
    return ir / np.sqrt(np.sum(ir**2))


@lru_cache(maxsize=8)
def _voice_filter(sample_rate: int, preset: str) -> np.ndarray:
    """One FIR for the whole voice chain: high-pass, then a shelf that softens sibilance (and when the preset
    has one, as the soft preset does, a gentle low-pass)."""
    highpass = cached_ir((biquad_highpass(HIGHPASS_HZ, 0.7071, sample_rate),), VOICE_TAPS)
    highs = fir_filter(highpass, cached_ir((biquad_highpass(SHELF_HZ, 0.7071, sample_rate),), VOICE_TAPS))
    h = highpass - (1 - db_to_gain(SHELF_DB)) * highs
    lowpass_hz = _preset(preset).lowpass_hz
    if lowpass_hz is not None:
        h = fir_filter(h, cached_ir((biquad_lowpass(lowpass_hz, 0.7071, sample_rate),), VOICE_TAPS))
    h.setflags(write=False)
    return h


def polish(samples: np.ndarray, sample_rate: int, preset: str = "plain") -> np.ndarray:
    """High-pass, soften sibilance, and as the preset says (voice.presets) darken and add a small room."""
    x = fir_filter(samples.astype(np.float64), _voice_filter(sample_rate, preset))
    chosen = _preset(preset)
    if chosen.room_s is not None:
        room = _room(sample_rate, chosen.room_s)
        wet = fir_filter(np.concatenate([x, np.zeros(len(room) - 1)]), room)
        x = np.concatenate([x, np.zeros(len(wet) - len(x))]) * (1 - chosen.room_wet) + chosen.room_wet * wet
        x = trim_silence(x, sample_rate)  # the reverb tail is kept only while audible
    return x.astype(np.float32)


def load_clip(path: Path, sample_rate: int, preset: str = "plain") -> np.ndarray:
    """The mix-ready clip of an engine's WAV. The voice filters run at the engine's own rate, before the
    resampling: they shape only what the engine made (all below its Nyquist frequency), at half the cost at
    22050 Hz, and the cache keeps only the engine's audio, so a warm render does this for every clip it plays."""
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise EngineError(f"its audio file could not be read: {exc}") from None
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    mono = trim_silence(mono, rate)
    if mono.size == 0:
        raise EngineError("it is silent: the engine may not know this language or these words")
    mono = polish(mono, rate, preset)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return apply_fades(np.ascontiguousarray(mono, dtype=np.float32), sample_rate)


# Bump when polish() or anything else that shapes a mix-ready clip changes: the measurements are cached.
# 2: per-block K-weighted energies and peaks for the limiter-aware level; 3: digests of the stored arrays;
# 4: the voice filters run at the engine's rate, and the samples and per-sample peaks are no longer stored
# (they cost 350 kB per second of speech: the clip is processed again from the engine's WAV when it plays).
PROCESS_VERSION = 5
_SMALL = ("frames", "peak", "hops", "block_energy", "block_peak")
# 5: one flat file (magic, JSON header, the arrays' bytes, a digest of all of it) instead of an .npz: a warm
# render reads every clip's measurements before it can mix, and the zip archive cost 0.5 ms a clip, 10x this.
_SMALL_MAGIC = b"VGMEAS1\n"
_SMALL_DIGEST_BYTES = 16


def small_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A clip's measurements as stored: magic, the header's length and the header (JSON: each array's name,
    dtype and shape), the arrays' bytes in that order, then a digest of everything before it."""
    listed = [(name, np.asarray(arrays[name], order="C")) for name in _SMALL]  # ascontiguousarray makes 0-d arrays 1-d
    header = json.dumps([[name, a.dtype.str, list(a.shape)] for name, a in listed]).encode()
    body = b"".join([_SMALL_MAGIC, len(header).to_bytes(4, "little"), header, *(a.tobytes() for _, a in listed)])
    return body + hashlib.blake2b(body, digest_size=_SMALL_DIGEST_BYTES).digest()


def small_arrays(data: bytes) -> dict[str, np.ndarray] | None:
    """The arrays of small_bytes() if the file is whole and its digest matches, else None: measurements
    that were truncated or altered (random bytes, garbage arrays of the right shape, frames=1e11) are made
    again, never used."""
    body, digest = data[:-_SMALL_DIGEST_BYTES], data[-_SMALL_DIGEST_BYTES:]
    if len(data) < len(_SMALL_MAGIC) + 4 + _SMALL_DIGEST_BYTES or not body.startswith(_SMALL_MAGIC):
        return None
    if hashlib.blake2b(body, digest_size=_SMALL_DIGEST_BYTES).digest() != digest:
        return None
    try:
        at = len(_SMALL_MAGIC) + 4
        end = at + int.from_bytes(body[at - 4 : at], "little")
        listed = json.loads(body[at:end])
        arrays = {}
        for name, dtype, shape in listed:
            if np.dtype(dtype).kind not in "iuf" or any(int(d) < 0 for d in shape):
                return None  # numbers only, of a size the file holds (a -1 would take the rest)
            count = int(np.prod(shape, dtype=np.int64))
            array = np.frombuffer(body, dtype=np.dtype(dtype), count=count, offset=end).reshape(tuple(shape))
            end += array.nbytes
            arrays[name] = array
    except (ValueError, TypeError, KeyError):
        return None
    if end != len(body) or set(arrays) != set(_SMALL):
        return None
    return arrays


def _consistent(small: dict[str, np.ndarray], sample_rate: int) -> bool:
    hop, block = int(round(HOP_S * sample_rate)), limit_block_frames(sample_rate)
    shapes_ok = all(small[n].ndim == 0 for n in ("frames", "peak")) and all(small[n].ndim == 1 for n in _SMALL[2:])
    if not shapes_ok or small["frames"].dtype.kind not in "iu":
        return False
    frames, hops = int(small["frames"]), len(small["hops"])
    if not (0 < frames and hops == -(-frames // hop) and len(small["block_energy"]) == len(small["block_peak"]) == hops * (hop // block)):
        return False
    # Energies and peaks are finite and never negative: a NaN would silence the mix, an inf deafen it.
    return all(np.all(np.isfinite(small[n])) and np.all(small[n] >= 0) for n in _SMALL[1:])


def _processed_path(source: Path, sample_rate: int, preset: str) -> Path:
    return source.with_name(f"{source.stem}.{preset}.{sample_rate}.v{PROCESS_VERSION}.meas")


def _read_small(processed: Path) -> dict[str, np.ndarray] | None:
    """A clip's measurements, verified; remembered by the file's identity on disk, since a render reads them
    when it lays out the session, again when it levels it and again for every play of the clip."""
    try:
        info = processed.stat()
    except OSError:
        return None
    return _read_small_once(str(processed), info.st_ino, info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=256)
def _read_small_once(processed: str, _ino: int, _size: int, _mtime_ns: int) -> dict[str, np.ndarray] | None:
    try:
        with open(processed, "rb") as f:
            # Read-only views of the bytes: shared by every reader.
            return small_arrays(f.read())
    except OSError:
        return None


class _RecentClips:
    """The last few clips made, kept for the lines a session says again and again (counts, repeated
    instructions: sculpt plays 38 clips 54 times), bounded in samples so memory stays small. Keyed by the
    entry's identity on disk as well: an entry made again is a new file."""

    MAX_SAMPLES = 30 * 44100

    def __init__(self):
        self._lock = threading.Lock()
        self._clips: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def get(self, path: Path, sample_rate: int, preset: str) -> np.ndarray:
        try:
            info = path.stat()
            key = (str(path), info.st_ino, info.st_mtime_ns, sample_rate, preset)
        except OSError:
            key = None
        with self._lock:
            if key in self._clips:
                self._clips.move_to_end(key)
                return self._clips[key]
        samples = load_clip(path, sample_rate, preset)
        samples.setflags(write=False)  # shared between plays: nobody may change it
        if key is not None and len(samples) <= self.MAX_SAMPLES // 4:
            with self._lock:
                self._clips[key] = samples
                while sum(len(c) for c in self._clips.values()) > self.MAX_SAMPLES:
                    self._clips.popitem(last=False)
        return samples


_recent = _RecentClips()


@dataclass(frozen=True)
class ClipRef:
    """A mix-ready clip kept on disk: its length and level are known, its samples are made when needed.

    Holding every clip of a long session in memory would grow with session length; the mixer loads each
    one only while it sounds, from the engine's 16-bit WAV in the cache. The clip's measurements (length,
    true peak, loudness hops, per-block energies and peaks: about 8 kB per second of speech) are cached beside
    it, so a warm render lays out and levels the session without touching the samples.
    """

    path: Path
    sample_rate: int
    preset: str
    frames: int
    hops: np.ndarray  # K-weighted 100 ms hop energies, as heard on both channels of the mix
    peak: float  # the highest true peak (linear), to know before loading whether a gain will need limiting

    @classmethod
    def measure(cls, path: Path, sample_rate: int, preset: str = "plain") -> ClipRef:
        processed = _processed_path(path, sample_rate, preset)
        small = _read_small(processed)
        # The hops must cover the frames (and the blocks the hops): a length is never taken on its own word.
        if small is not None and _consistent(small, sample_rate):
            return cls(path, sample_rate, preset, int(small["frames"]), small["hops"], float(small["peak"]))
        samples = load_clip(path, sample_rate, preset)
        peaks = true_peak(samples).astype(np.float32)
        hops, block_energy, block_peak = clip_levels(samples, peaks, sample_rate)
        tmp = processed.with_name(f".{processed.name}.{temp_tag()}.tmp")
        try:
            arrays = dict(
                hops=hops, frames=np.asarray(len(samples)), peak=np.asarray(peaks.max()),
                block_energy=block_energy.astype(np.float32), block_peak=block_peak,
            )
            tmp.write_bytes(small_bytes(arrays))
            os.replace(tmp, processed)
        except OSError:
            pass  # an unwritable cache only means measuring again next time
        finally:
            tmp.unlink(missing_ok=True)
        return cls(path, sample_rate, preset, len(samples), hops, float(peaks.max()))

    def peak_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-millisecond energies and true peaks (loudness.clip_levels), kept with the measurements so a
        warm render need not load the samples to foresee the limiter."""
        small = _read_small(_processed_path(self.path, self.sample_rate, self.preset))
        if small is not None and int(small["frames"]) == self.frames:
            return small["block_energy"].astype(np.float64), small["block_peak"]
        samples, _ = self.load()
        return clip_levels(samples, true_peak(samples), self.sample_rate)[1:]

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Samples, made from the (sealed) WAV and held to the length the plan was laid out with whatever
        happens, and a bound on their true peaks: each ~1 ms block's highest true peak (kept with the
        measurements; blocks of loudness.limit_block_frames samples from the first), which stands for every
        sample of the block. The limiter then never lets a peak through (it may take a little more, within
        a millisecond of a peak, than exact peaks would ask: inaudible) and skips the 4x oversampling that
        cost more than making the clip (None when not known)."""
        samples = _recent.get(self.path, self.sample_rate, self.preset)
        if len(samples) != self.frames:
            samples = np.pad(samples[: self.frames], (0, max(0, self.frames - len(samples))))
        small = _read_small(_processed_path(self.path, self.sample_rate, self.preset))
        if small is None or int(small["frames"]) != self.frames:
            return samples, None
        block_peaks = small["block_peak"].astype(np.float32)
        return samples, (block_peaks if len(block_peaks) * limit_block_frames(self.sample_rate) >= self.frames else None)


@dataclass(frozen=True)
class MemoryClip:
    """A clip already in memory (tests, previews), with the same interface as ClipRef."""

    samples: np.ndarray
    sample_rate: int = 44100

    @property
    def frames(self) -> int:
        return len(self.samples)

    @property
    def hops(self) -> np.ndarray:
        return hop_energies(self.samples, self.sample_rate, channels_weight=2.0)

    def peak_blocks(self) -> tuple[np.ndarray, np.ndarray]:
        return clip_levels(self.samples, true_peak(self.samples), self.sample_rate)[1:]

    @cached_property
    def peak(self) -> float:
        return float(true_peak(self.samples).max()) if len(self.samples) else 0.0

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.samples, None
