"""Background music: decode a track once and make it loop seamlessly at the session's sample rate.

A music path comes from a routine file, so it is only ever read as audio: libsndfile, else ffmpeg limited to
local files and audio containers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile
import soxr

from .errors import AudioError, AudioInputError
from .loudness import HOP_S, hop_energies

LOOP_CROSSFADE_S = 2.0
MIN_TRACK_S = 1.0


# Demuxers ffmpeg may use for a music file (comma-separated FFmpeg names): audio containers only. Playlists
# (hls, concat), image sequences and network formats are left out, so a music file can never make ffmpeg
# open other files or URLs.
FFMPEG_AUDIO_DEMUXERS = (
    "wav,w64,aiff,caf,au,voc,flac,ogg,mp3,aac,ac3,eac3,dts,truehd,mov,matroska,asf,wv,ape,tta,tak,shn,mpc,mpc8,"
    "amr,dsf,iff"
)
FFMPEG_TIMEOUT_S = 600.0


def _unreadable(path: Path) -> str | None:
    """Why `path` cannot be read as a music file at all (missing, a folder, permission, empty), or None."""
    try:
        if path.is_dir():
            return "is a folder, not an audio file"
        if not path.is_file():
            return "was not found" if not path.exists() else "is not a regular file"
        with open(path, "rb") as handle:
            if not handle.read(1):
                return "is empty (0 bytes): use a WAV, FLAC, OGG or MP3 file with at least 1 s of audio"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def probe(path: Path) -> str | None:
    """Why `path` cannot be used as music, or None: a quick check that reads only the file's header.

    For validating a routine (`voiceguide check`) before any work is done; `decode` repeats every check.
    """
    problem = _unreadable(path)
    if problem:
        return problem
    try:
        with _native_stderr_silenced():
            info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        if _ffmpeg_available():
            return None  # ffmpeg may know the format; decode() tells
        return f"is not audio that voiceguide can read ({_reason(exc)}); use WAV, FLAC, OGG or MP3, or install ffmpeg for other formats"
    if 0 < info.frames < MIN_TRACK_S * info.samplerate:
        return f"is too short ({info.frames / info.samplerate:.2f} s); use at least {MIN_TRACK_S:g} s of audio"
    return None


def decode(path: Path, sample_rate: int) -> np.ndarray:
    """Any audio file -> float32 stereo (n, 2) at sample_rate. libsndfile first; ffmpeg if present.

    The file is only ever decoded as audio. A file that is missing, unreadable, empty, too short or not audio
    raises AudioInputError (bad input, exit code 2) naming the file.
    """
    problem = _unreadable(path)
    if problem:
        raise AudioInputError(f"music file {path} {problem}")
    try:
        with _native_stderr_silenced():
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        data, rate = _decode_with_ffmpeg(path, exc, sample_rate)
    if data.shape[1] == 0 or data.shape[0] < MIN_TRACK_S * rate:
        raise AudioInputError(
            f"music file {path} is too short ({data.shape[0] / max(rate, 1):.2f} s); use at least {MIN_TRACK_S:g} s of audio"
        )
    if not np.isfinite(np.sum(data, dtype=np.float64)):  # one pass, no temporary the size of the track
        raise AudioInputError(f"music file {path} holds invalid samples (NaN or infinity); export it again as WAV or FLAC")
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    elif data.shape[1] > 2:
        data = data[:, :2]
    if rate != sample_rate:
        data = soxr.resample(data, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(data, dtype=np.float32)


def _reason(exc: Exception) -> str:
    """libsndfile's own words ("Format not recognised."), without the path it repeats."""
    text = (getattr(exc, "error_string", None) or str(exc)).strip().rstrip(".")
    if "does not exist" in text or not text:
        return "not a recognised audio format"  # what libsndfile says of a file it cannot make sense of
    return text


@contextmanager
def _native_stderr_silenced():
    """libsndfile's MP3 decoder prints "Note: Illegal Audio-MPEG-Header" lines straight to fd 2; the user gets
    one clear message instead."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _ffmpeg_available() -> bool:
    return bool(shutil.which("ffmpeg"))


def _read_preallocated(path: Path) -> tuple[np.ndarray, int]:
    """Decode into one array of the final size (soundfile.read may grow and copy for compressed files)."""
    with soundfile.SoundFile(str(path)) as f:
        if f.frames <= 0 or f.frames > 6 * 3600 * f.samplerate:
            data = f.read(dtype="float32", always_2d=True)
            return data, f.samplerate
        data = np.zeros((f.frames, f.channels), dtype=np.float32)
        filled = 0
        while filled < f.frames:
            got = f.read(min(1 << 18, f.frames - filled), dtype="float32", always_2d=True, out=data[filled : filled + (1 << 18)])
            if len(got) == 0:
                break
            filled += len(got)
        return data[:filled], f.samplerate


def _decode_with_ffmpeg(path: Path, first_error: Exception, sample_rate: int) -> tuple[np.ndarray, int]:
    """Decode with ffmpeg, restricted to local files and audio containers, straight to float32 stereo."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise AudioInputError(
            f"music file {path} is not audio that voiceguide can read ({_reason(first_error)}); use WAV, FLAC, OGG "
            "or MP3, or install ffmpeg for other formats"
        )
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "file", "-format_whitelist", FFMPEG_AUDIO_DEMUXERS,
        # "file:" keeps a name such as "concat:a|b" or "http:..." from being read as a protocol.
        "-i", f"file:{path.resolve()}",
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "2", "-ar", str(sample_rate), "-f", "f32le", "pipe:1",
    ]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"ffmpeg did not finish decoding the music file {path} within {FFMPEG_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise AudioError(f"ffmpeg could not be started to decode {path}: {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioInputError(
            f"music file {path} is not audio that ffmpeg can decode"
            + (f" ({detail[-1][:200]})" if detail else "")
            + "; use WAV, FLAC, OGG or MP3"
        )
    usable = len(done.stdout) // 8 * 8
    # A writable copy: make_loop folds the track in place.
    samples = np.frombuffer(done.stdout, dtype=np.float32, count=usable // 4).reshape(-1, 2).copy()
    return samples, sample_rate


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


def _track_key(path: Path, sample_rate: int) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{sample_rate}".encode()).hexdigest()


def loop_hops(path: Path, loop: np.ndarray, sample_rate: int, cache_dir: Path | None) -> np.ndarray:
    """The K-weighted 100 ms hop energies of a track's loop (what the mixer's loudness prediction needs),
    measured once per file version and remembered: filtering a few minutes of stereo costs about a second,
    on every render, before mixing can start."""
    hop = int(round(HOP_S * sample_rate))
    expected = -(-loop.shape[0] // hop)
    file = cache_dir / "music" / f"{_track_key(path, sample_rate)}-loop{LOOP_CROSSFADE_S:g}.npy" if cache_dir is not None else None
    if file is not None:
        try:
            hops = np.load(file, allow_pickle=False)
            if hops.shape == (expected,) and np.all(np.isfinite(hops)):
                return hops
        except (OSError, ValueError):
            pass
    hops = hop_energies(loop, sample_rate)
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, hops)
            os.replace(tmp, file)
        except OSError:
            pass  # a cache that cannot be written only costs a re-measurement next time
    return hops
