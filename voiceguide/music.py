"""Background music: decode a track once and make it loop seamlessly at the session's sample rate.

A music path comes from a routine file, so it is only ever read as audio: libsndfile, else ffmpeg limited to
local files and audio containers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from .errors import AudioError, AudioInputError
from .loudness import HOP_S, hop_energies_of_chunks

LOOP_CROSSFADE_S = 2.0
# A loop is kept as 16-bit stereo; one step is this much of full scale, so a hot file up to +6 dBFS still
# fits. The steps are 90 dB below full scale, under a bed that plays 10 dB and more below the voice.
LOOP_UNIT = 2.0 / 32767
LOOP_MAGIC = b"VGLOOP1\0"
LOOP_HEADER_BYTES = 16  # magic, then the frame count (uint64 LE); 16-bit stereo frames follow
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
    """Any audio file -> float32 stereo (n, 2) at sample_rate, whole (for tools and tests; a render streams
    the music through open_loop). libsndfile first; ffmpeg if present.

    The file is only ever decoded as audio. A file that is missing, unreadable, empty, too short or not audio
    raises AudioInputError (bad input, exit code 2) naming the file.
    """
    blocks = list(decode_blocks(path, sample_rate))
    data = np.concatenate(blocks) if blocks else np.zeros((0, 2), dtype=np.float32)
    _check_length(path, len(data), sample_rate)
    return data


def _check_length(path: Path, frames: int, sample_rate: int) -> None:
    if frames < MIN_TRACK_S * sample_rate:
        raise AudioInputError(f"music file {path} is too short ({frames / sample_rate:.2f} s); use at least {MIN_TRACK_S:g} s of audio")


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


class Loop:
    """A track folded into a seamless loop at the session rate, kept as 16-bit stereo and read a block at a
    time: from a file in the cache (so memory does not depend on the track's length: an hour of music
    costs no more than a minute) or, for arrays handed in directly, from memory.

    Reads are positional (os.pread), so mixer threads can share one Loop.
    """

    def __init__(self, frames: int, samples: np.ndarray | None = None, fd: int | None = None):
        self.frames = frames  # the loop's length: index n of the session plays frame n % frames
        self.unit = LOOP_UNIT
        self._samples, self._fd = samples, fd

    def read(self, start: int, count: int) -> np.ndarray:
        """int16 frames [start, start + count) of the loop (the caller wraps around frames)."""
        if self._samples is not None:
            return self._samples[start : start + count]
        data = os.pread(self._fd, count * 4, LOOP_HEADER_BYTES + start * 4)
        return np.frombuffer(data, dtype="<i2").reshape(-1, 2)

    def chunks(self, chunk_frames: int) -> Iterator[np.ndarray]:
        """The whole loop as float32 pieces, at its true level."""
        for start in range(0, self.frames, chunk_frames):
            yield self.read(start, min(chunk_frames, self.frames - start)) * np.float32(self.unit)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.round(np.clip(samples * np.float32(1 / LOOP_UNIT), -32767, 32767)).astype("<i2")


def loop_from_samples(track: np.ndarray, sample_rate: int) -> Loop:
    """A Loop from a decoded float32 stereo track (taken over: it is folded in place)."""
    loop = make_loop(track, sample_rate)
    return Loop(loop.shape[0], samples=_to_int16(loop))


def open_loop(path: Path, sample_rate: int, cache_dir: Path | None) -> Loop:
    """The loop of a music file: decoded, resampled and folded once into a 16-bit file in the cache, which
    later renders only open. Without a usable cache it goes to an anonymous temporary file instead."""
    if cache_dir is not None:
        file = cache_dir / "music" / f"{_track_key(path, sample_rate)}.loop{LOOP_CROSSFADE_S:g}.s16"
        try:
            return _open_loop_fd(os.open(file, os.O_RDONLY), sample_rate)
        except (OSError, ValueError):
            pass  # not there yet, or damaged: made (again) below
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                with open(tmp, "w+b") as out:
                    _write_loop(path, sample_rate, out)
                os.replace(tmp, file)
            finally:
                tmp.unlink(missing_ok=True)
            return _open_loop_fd(os.open(file, os.O_RDONLY), sample_rate)
        except (OSError, ValueError):
            pass  # an unwritable cache: a temporary file does the same job for this render
    with tempfile.TemporaryFile() as out:
        _write_loop(path, sample_rate, out)
        return _open_loop_fd(os.dup(out.fileno()), sample_rate)


def _open_loop_fd(fd: int, sample_rate: int) -> Loop:
    header = os.pread(fd, LOOP_HEADER_BYTES, 0)
    total = int.from_bytes(header[8:16], "little") if header[:8] == LOOP_MAGIC else -1
    if total < MIN_TRACK_S * sample_rate or os.fstat(fd).st_size != LOOP_HEADER_BYTES + total * 4:
        os.close(fd)
        raise ValueError("not a complete loop file")
    return Loop(total - _fade_frames(total, sample_rate), fd=fd)


def _fade_frames(total: int, sample_rate: int) -> int:
    fade = min(int(LOOP_CROSSFADE_S * sample_rate), total // 4)
    return fade if fade >= 2 else 0


def _write_loop(path: Path, sample_rate: int, out: BinaryIO) -> None:
    """Decode `path` a block at a time into `out` as 16-bit stereo at sample_rate, then fold the tail over
    the head (the same equal-power crossfade as make_loop)."""
    out.write(bytes(LOOP_HEADER_BYTES))
    total = 0
    for block in decode_blocks(path, sample_rate):
        out.write(_to_int16(block).tobytes())
        total += len(block)
    _check_length(path, total, sample_rate)
    fade = _fade_frames(total, sample_rate)
    out.flush()
    if fade:
        fd = out.fileno()
        unit = np.float32(LOOP_UNIT)
        head = np.frombuffer(os.pread(fd, fade * 4, LOOP_HEADER_BYTES), dtype="<i2").reshape(-1, 2) * unit
        tail = np.frombuffer(os.pread(fd, fade * 4, LOOP_HEADER_BYTES + (total - fade) * 4), dtype="<i2").reshape(-1, 2) * unit
        u = (np.arange(fade, dtype=np.float32) + 0.5) / fade
        folded = head * np.sin(0.5 * np.pi * u)[:, None] + tail * np.cos(0.5 * np.pi * u)[:, None]
        out.seek(LOOP_HEADER_BYTES)
        out.write(_to_int16(folded).tobytes())
    # The header goes in last: a file cut short by a crash or a full disk never passes for a loop.
    out.seek(0)
    out.write(LOOP_MAGIC + total.to_bytes(8, "little"))
    out.flush()


def decode_blocks(path: Path, sample_rate: int, block_frames: int = 1 << 16) -> Iterator[np.ndarray]:
    """Like decode(), as float32 stereo blocks at sample_rate, so a long track never sits in memory."""
    problem = _unreadable(path)
    if problem:
        raise AudioInputError(f"music file {path} {problem}")
    try:
        with _native_stderr_silenced():
            handle = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        data, _ = _decode_with_ffmpeg(path, exc, sample_rate)  # rare formats: ffmpeg, whole (then resampled by it)
        for start in range(0, len(data), block_frames):
            yield _checked(path, data[start : start + block_frames])
        return
    with handle:
        if handle.channels == 0:
            raise AudioInputError(f"music file {path} has no audio channels")
        resampler = soxr.ResampleStream(handle.samplerate, sample_rate, 2, dtype="float32", quality="HQ") if handle.samplerate != sample_rate else None
        while True:
            with _native_stderr_silenced():
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            last = len(block) < block_frames
            block = _checked(path, _stereo(block))
            if resampler is not None:
                block = resampler.resample_chunk(block, last=last)
            if len(block):
                yield block
            if last:
                return


def _stereo(block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 1:
        return np.repeat(block, 2, axis=1)
    return np.ascontiguousarray(block[:, :2])


def _checked(path: Path, block: np.ndarray) -> np.ndarray:
    if not np.isfinite(np.sum(block, dtype=np.float64)):
        raise AudioInputError(f"music file {path} holds invalid samples (NaN or infinity); export it again as WAV or FLAC")
    return block


def loop_hops(path: Path, loop: Loop, sample_rate: int, cache_dir: Path | None) -> np.ndarray:
    """The K-weighted 100 ms hop energies of a track's loop (what the mixer's loudness prediction needs),
    measured once per file version and remembered: filtering a few minutes of stereo costs about a second,
    on every render, before mixing can start."""
    hop = int(round(HOP_S * sample_rate))
    expected = -(-loop.frames // hop)
    file = cache_dir / "music" / f"{_track_key(path, sample_rate)}-loop{LOOP_CROSSFADE_S:g}.npy" if cache_dir is not None else None
    if file is not None:
        try:
            hops = np.load(file, allow_pickle=False)
            if hops.shape == (expected,) and np.all(np.isfinite(hops)):
                return hops
        except (OSError, ValueError):
            pass
    hops = loop_energies(loop, sample_rate)
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, hops)
            os.replace(tmp, file)
        except OSError:
            pass  # a cache that cannot be written only costs a re-measurement next time
    return hops


def loop_energies(loop: Loop, sample_rate: int) -> np.ndarray:
    return hop_energies_of_chunks(loop.chunks(int(round(HOP_S * sample_rate)) * 50), sample_rate, 2)
