"""Background music: decode a track once and make it loop seamlessly at the session's sample rate."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile
import soxr

from .errors import AudioError
from .loudness import integrated_loudness

LOOP_CROSSFADE_S = 2.0
MIN_TRACK_S = 1.0


def decode(path: Path, sample_rate: int) -> np.ndarray:
    """Any audio file -> float32 stereo (n, 2) at sample_rate. libsndfile first; ffmpeg (via pydub) if present."""
    if not path.is_file():
        raise AudioError(f"music file {path} was not found")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        data, rate = _decode_with_ffmpeg(path, exc)
    if data.shape[0] < MIN_TRACK_S * rate:
        raise AudioError(f"music file {path} is too short ({data.shape[0] / max(rate, 1):.2f} s); use at least {MIN_TRACK_S:g} s of audio")
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    elif data.shape[1] > 2:
        data = data[:, :2]
    if rate != sample_rate:
        data = soxr.resample(data, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(data, dtype=np.float32)


def _decode_with_ffmpeg(path: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        raise AudioError(
            f"music file {path} could not be decoded ({first_error}); use WAV, FLAC, OGG or MP3, "
            "or install ffmpeg for other formats"
        )
    try:
        from pydub import AudioSegment

        segment = AudioSegment.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - pydub raises many kinds for undecodable input
        raise AudioError(f"music file {path} is not audio that ffmpeg can decode: {exc}") from None
    samples = np.array(segment.get_array_of_samples(), dtype=np.float32).reshape(-1, segment.channels)
    return samples / float(1 << (8 * segment.sample_width - 1)), segment.frame_rate


def make_loop(track: np.ndarray, sample_rate: int) -> np.ndarray:
    """Fold the track's tail over its head with an equal-power crossfade, so index n % len(loop) never clicks.

    Works in place and returns a view of `track` (a long bed is not copied).
    """
    fade = min(int(LOOP_CROSSFADE_S * sample_rate), track.shape[0] // 4)
    if fade < 2:
        return track
    u = (np.arange(fade, dtype=np.float32) + 0.5) / fade
    fade_in = np.sin(0.5 * np.pi * u)[:, None]
    fade_out = np.cos(0.5 * np.pi * u)[:, None]
    track[:fade] = track[:fade] * fade_in + track[-fade:] * fade_out
    return track[: track.shape[0] - fade]


def track_loudness(path: Path, samples: np.ndarray, sample_rate: int, cache_dir: Path | None) -> float:
    """Integrated loudness of a decoded track, measured once per file version and remembered."""
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{sample_rate}".encode()).hexdigest()
    index = cache_dir / "music-loudness.json" if cache_dir is not None else None
    known: dict = {}
    if index is not None:
        try:
            known = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        if isinstance(known.get(key), (int, float)):
            return float(known[key])
    lufs = integrated_loudness(samples, sample_rate)
    if index is not None and np.isfinite(lufs):
        known = known if isinstance(known, dict) else {}
        known[key] = lufs
        try:
            tmp = index.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known), encoding="utf-8")
            os.replace(tmp, index)
        except OSError:
            pass  # a cache that cannot be written only costs a re-measurement next time
    return lufs
