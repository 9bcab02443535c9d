"""Background music: decode a track once and make it loop seamlessly at the session's sample rate.

A music path comes from a routine file, so it is only ever read as audio: libsndfile, else ffmpeg's libraries
through PyAV (bundled with its wheels, so a system ffmpeg changes nothing), opened as a file object (no
protocol is parsed from the name) with audio demuxers only (no playlist can make it open other files or URLs).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from .errors import AudioInputError
from . import bed_level
from .loudness import HOP_S, hop_energies, hop_energies_of_chunks, per_run

LOOP_CROSSFADE_S = 2.0
# A loop is kept as 16-bit stereo; one step is this much of full scale, so a hot file up to +6 dBFS still
# fits. The steps are 90 dB below full scale, under a bed that plays 10 dB and more below the voice.
LOOP_UNIT = 2.0 / 32767
# 3: the loop is levelled (bed_level); a loop file of an earlier version is made again.
LOOP_VERSION = 3
LOOP_MAGIC = f"VGLOOP{LOOP_VERSION}\0".encode()
LOOP_HEADER_BYTES = 16  # magic, then the frame count (uint64 LE); 16-bit stereo frames follow
# Then a digest of the header and frames: a loop file whose samples were altered is made again, never played.
LOOP_DIGEST_BYTES = 32
MIN_TRACK_S = 1.0
MIN_RATE_HZ, MAX_RATE_HZ = 8000, 384000  # sample rates a music file may have
BLOCK_FRAMES = 1 << 16  # frames decoded at a time (fewer for files with many channels)
BLOCK_SAMPLES = 1 << 17  # at most this many samples (frames x channels) decoded at a time
FORMATS_HINT = "use a WAV, FLAC, OGG, MP3 or M4A file"

# Demuxers PyAV may use for a music file (comma-separated FFmpeg names): audio containers only. Playlists
# (hls, concat), image sequences and network formats are left out, so a music file can never make ffmpeg's
# libraries open other files or URLs.
AUDIO_DEMUXERS = (
    "wav,w64,aiff,caf,au,voc,flac,ogg,mp3,aac,ac3,eac3,dts,truehd,mov,matroska,asf,wv,ape,tta,tak,shn,mpc,mpc8,"
    "amr,dsf,iff"
)
# Uncompressed containers and integer encodings (as libsndfile names them) whose header proves the whole file:
# every frame is there (checked by reading the last one) and no sample can be invalid. FLAC also says PCM_16,
# so the container counts too. Anything else is decoded in full to be checked.
_PLAIN_CONTAINERS = {"WAV", "WAVEX", "RF64", "W64", "AIFF", "CAF", "AU"}
_PLAIN_PCM = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW"}


class MusicFileError(AudioInputError):
    """A music file that cannot be used (bad input, exit code 2); `problem` is what is wrong, without the path."""

    def __init__(self, path: Path, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"music file {path} {problem}")


def _unreadable(path: Path) -> str | None:
    """Why `path` cannot be read as a music file at all (missing, a folder, permission, empty), or None."""
    try:
        if path.is_dir():
            return "is a folder, not an audio file"
        if not path.is_file():
            return "was not found" if not path.exists() else "is not a regular file"
        with open(path, "rb") as handle:
            if not handle.read(1):
                return f"is empty (0 bytes): {FORMATS_HINT} with at least {MIN_TRACK_S:g} s of audio"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def probe(path: Path) -> str | None:
    """Why `path` cannot be used as music, or None. For validating a routine (`voiceguide check`) before any
    work is done, so it refuses everything a render would: the same decoder, the same checks.

    A plain PCM file (WAV, AIFF, ...) is proved by its header and its last frame; any other file is decoded
    once in full at its own rate (bounded memory; on an idle 2-core machine about 0.25 s for a 3-minute OGG,
    3 s for an hour of FLAC or MP3), as only that finds a damaged or truncated stream or invalid samples.
    """
    try:
        with _Reader(path) as reader:
            if not reader.proved_by_header():
                for _ in reader.blocks():
                    pass
            reader.check_length()
    except MusicFileError as exc:
        return exc.problem
    return None


def decode(path: Path, sample_rate: int) -> np.ndarray:
    """Any audio file -> float32 stereo (n, 2) at sample_rate, whole (for tools and tests; a render streams
    the music through open_loop).

    The file is only ever decoded as audio. A file that is missing, unreadable, empty, too short, damaged or
    not audio raises MusicFileError (bad input, exit code 2) naming the file.
    """
    blocks = list(decode_blocks(path, sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros((0, 2), dtype=np.float32)


def _reason(exc: Exception) -> str:
    """libsndfile's own words ("Format not recognised."), without the path it repeats."""
    text = (getattr(exc, "error_string", None) or str(exc)).strip().rstrip(".")
    if "does not exist" in text or not text:
        return "not a recognised audio format"  # what libsndfile says of a file it cannot make sense of
    return text


def _not_audio(reason: str) -> str:
    return f"is not audio that voiceguide can read ({reason}); {FORMATS_HINT}"


def _damaged(reason: str) -> str:
    return f"is damaged or cut short ({reason}); export it again or {FORMATS_HINT}"


def _check_rate(path: Path, rate: int) -> None:
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise MusicFileError(path, f"has a sample rate of {rate} Hz; use a file of {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz")


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


def _to_float(samples: np.ndarray) -> np.ndarray:
    """Decoded samples of any PCM type -> float32 in [-1, 1)."""
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    if samples.dtype.kind == "u":  # unsigned 8-bit, centred on 128
        half = float(1 << (8 * samples.dtype.itemsize - 1))
        return ((samples.astype(np.float32) - np.float32(half)) * np.float32(1 / half)).astype(np.float32, copy=False)
    return samples.astype(np.float32) * np.float32(1 / float(1 << (8 * samples.dtype.itemsize - 1)))


class _Reader:
    """A music file decoded as float32 stereo blocks at its own rate, a bounded piece at a time.

    libsndfile first; when it cannot read the file, PyAV (imported only then), restricted to the file itself
    and audio demuxers. Every problem is a MusicFileError, whichever decoder met it.
    """

    def __init__(self, path: Path):
        self.path = path
        self.rate: int | None = None
        self.frames = 0  # frames decoded so far (or proved by the header)
        self._sndfile: soundfile.SoundFile | None = None
        self._first_error: Exception | None = None

    def __enter__(self) -> _Reader:
        problem = _unreadable(self.path)
        if problem:
            raise MusicFileError(self.path, problem)
        try:
            with _native_stderr_silenced():
                self._sndfile = soundfile.SoundFile(str(self.path))
        except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
            self._first_error = exc  # not a format libsndfile knows: PyAV may (blocks() tells)
            return self
        if self._sndfile.channels < 1:
            self.close()
            raise MusicFileError(self.path, "has no audio channels")
        try:
            _check_rate(self.path, self._sndfile.samplerate)
        except MusicFileError:
            self.close()
            raise
        self.rate = self._sndfile.samplerate
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._sndfile is not None:
            self._sndfile.close()
            self._sndfile = None

    def proved_by_header(self) -> bool:
        """True when libsndfile reads the file as integer PCM and its last frame is there: every frame then
        decodes, and `frames` is the header's count."""
        handle = self._sndfile
        if (handle is None or handle.format not in _PLAIN_CONTAINERS or handle.subtype not in _PLAIN_PCM
                or not handle.seekable() or handle.frames < 1):
            return False
        try:
            with _native_stderr_silenced():
                handle.seek(handle.frames - 1)
                last = handle.read(1, dtype="float32", always_2d=True)
                handle.seek(0)
        except (soundfile.LibsndfileError, RuntimeError, OSError):
            return False  # blocks() will tell what is wrong
        if len(last) != 1:
            return False
        self.frames = handle.frames
        return True

    def check_length(self) -> None:
        rate = self.rate or 1
        if self.frames < MIN_TRACK_S * rate:
            raise MusicFileError(self.path, f"is too short ({self.frames / rate:.2f} s); use at least {MIN_TRACK_S:g} s of audio")

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The file as float32 stereo blocks at self.rate, counted into self.frames."""
        self.frames = 0
        source = self._sndfile_blocks(block_frames) if self._sndfile is not None else self._pyav_blocks(block_frames)
        for block in source:
            block = _stereo(block)
            if not np.isfinite(np.sum(block, dtype=np.float64)):
                raise MusicFileError(self.path, "holds invalid samples (NaN or infinity); export it again as WAV or FLAC")
            self.frames += len(block)
            yield block

    def _sndfile_blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        handle = self._sndfile
        step = max(1, min(block_frames, BLOCK_SAMPLES // handle.channels))
        while True:
            try:
                with _native_stderr_silenced():
                    block = handle.read(step, dtype="float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
                raise MusicFileError(self.path, _damaged(_reason(exc))) from None
            if len(block):
                yield block
            if len(block) < step:
                return

    def _pyav_blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        not_audio = _not_audio(_reason(self._first_error))
        try:
            import av
        except ImportError:  # PyAV is a dependency; without it only libsndfile's formats can be read
            raise MusicFileError(self.path, not_audio) from None
        try:
            file = open(self.path, "rb")
        except OSError as exc:
            raise MusicFileError(self.path, f"cannot be read ({exc.strerror or exc})") from None
        with file:
            try:
                # A file object: the name is never parsed as a protocol ("concat:a|b", "http:..."). No demuxer
                # but an audio one, and no protocol at all for anything a demuxer might want to open besides.
                container = av.open(
                    file, "r", container_options={"format_whitelist": AUDIO_DEMUXERS, "protocol_whitelist": "none"},
                    metadata_errors="replace",
                )
            except (av.FFmpegError, OSError, ValueError, RuntimeError, EOFError):
                raise MusicFileError(self.path, not_audio) from None
            with container:
                allowed = set(AUDIO_DEMUXERS.split(","))
                if not allowed.intersection(container.format.name.split(",")) or not container.streams.audio:
                    raise MusicFileError(self.path, not_audio)
                stream = container.streams.audio[0]
                if stream.codec_context.sample_rate:
                    _check_rate(self.path, stream.codec_context.sample_rate)
                yield from self._pyav_frames(av, container, stream, block_frames)
                if self.rate is None:  # not one frame of sound (ffmpeg's flac demuxer "opens" any text)
                    raise MusicFileError(self.path, not_audio)

    def _pyav_frames(self, av, container, stream, block_frames: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        pending_frames = 0
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if self.rate is None:
                        _check_rate(self.path, frame.sample_rate)
                        self.rate = frame.sample_rate
                    elif frame.sample_rate != self.rate:
                        raise MusicFileError(
                            self.path, f"changes its sample rate midway ({self.rate} Hz, then {frame.sample_rate} Hz); export it again as WAV or FLAC"
                        )
                    channels = len(frame.layout.channels)
                    if channels < 1:
                        raise MusicFileError(self.path, "has no audio channels")
                    samples = frame.to_ndarray()
                    samples = samples.T if frame.format.is_planar else samples.reshape(-1, channels)
                    pending.append(_to_float(samples[:, :2]))
                    pending_frames += len(samples)
                    if pending_frames >= min(block_frames, BLOCK_SAMPLES // channels):
                        yield np.concatenate(pending)
                        pending, pending_frames = [], 0
        except (av.FFmpegError, OSError, ValueError, RuntimeError, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise MusicFileError(self.path, _damaged(reason)) from None
        if pending:
            yield np.concatenate(pending)


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
        # Its hop energies when they came with making it (the levelling measures them): see loop_hops.
        self.hops: np.ndarray | None = None

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
    """A Loop from a decoded float32 stereo track (taken over: it is folded and levelled in place)."""
    loop = make_loop(track, sample_rate)
    frames = loop.shape[0]
    hop_gain = _guarded_gain(bed_level.gain_db(hop_energies(loop, sample_rate)), _hop_peaks(loop, sample_rate))
    loop *= bed_level.gains_at(np.arange(frames), hop_gain, sample_rate, frames)[:, None]
    return Loop(frames, samples=_to_int16(loop))


def _hop_peaks(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    hop = int(round(HOP_S * sample_rate))
    # Channel by channel: a max along the short channel axis costs several times more.
    peaks = np.abs(samples[:, 0]) if len(samples) else np.zeros(0, dtype=np.float32)
    for channel in range(1, samples.shape[1]):
        np.maximum(peaks, np.abs(samples[:, channel]), out=peaks)
    peaks = np.concatenate([peaks, np.zeros((-len(peaks)) % hop, dtype=peaks.dtype)])
    return peaks.reshape(-1, hop).max(axis=1)


def _guarded_gain(hop_gain_db: np.ndarray, hop_peaks: np.ndarray) -> np.ndarray:
    """The levelling gain, lowered as a whole where it would push a peak past what the loop file can hold."""
    if not len(hop_gain_db):
        return hop_gain_db
    # Interpolation between hops never exceeds the larger neighbour: each hop's peak with its neighbours' gains.
    nearby = np.maximum(hop_gain_db, np.maximum(np.roll(hop_gain_db, 1), np.roll(hop_gain_db, -1)))
    loudest = float(np.max(hop_peaks[: len(nearby)] * np.power(10.0, nearby[: len(hop_peaks)] / 20.0)))
    room = 0.999 * 32767 * LOOP_UNIT
    return hop_gain_db - (20 * np.log10(loudest / room) if loudest > room else 0.0)


def open_loop(path: Path, sample_rate: int, cache_dir: Path | None, fold: bool = True) -> Loop:
    """The loop of a music file: decoded, resampled and folded once into a 16-bit file in the cache, which
    later renders only open. Without a usable cache it goes to an anonymous temporary file instead.

    `fold=False` is for a track made circular (the built-ins): its end already flows into its start, and a
    fold would play two bars at once at every seam."""
    crossfade_s = LOOP_CROSSFADE_S if fold else 0.0
    if cache_dir is not None:
        file = cache_dir / "music" / f"{_track_key(path, sample_rate)}.loop{crossfade_s:g}.s16"
        try:
            return _open_loop_fd(os.open(file, os.O_RDONLY), sample_rate, crossfade_s)
        except (OSError, ValueError):
            pass  # not there yet, or damaged: made (again) below
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                with open(tmp, "w+b") as out:
                    hops = _write_loop(path, sample_rate, out, crossfade_s)
                os.replace(tmp, file)
            finally:
                tmp.unlink(missing_ok=True)
            # What loop_hops would measure with another pass over the loop, known already from the levelling.
            _save_hops(_hops_file(cache_dir, path, sample_rate, crossfade_s), hops)
            loop = _open_loop_fd(os.open(file, os.O_RDONLY), sample_rate, crossfade_s)
            loop.hops = hops
            return loop
        except (OSError, ValueError):
            pass  # an unwritable cache: a temporary file does the same job for this render
    with tempfile.TemporaryFile() as out:
        hops = _write_loop(path, sample_rate, out, crossfade_s)
        loop = _open_loop_fd(os.dup(out.fileno()), sample_rate, crossfade_s)
    loop.hops = hops  # with nowhere to keep them, measured once all the same
    return loop


def _open_loop_fd(fd: int, sample_rate: int, crossfade_s: float = LOOP_CROSSFADE_S) -> Loop:
    header = os.pread(fd, LOOP_HEADER_BYTES, 0)
    total = int.from_bytes(header[8:16], "little") if header[:8] == LOOP_MAGIC else -1
    body = LOOP_HEADER_BYTES + total * 4
    if (
        total < 1
        or os.fstat(fd).st_size != body + LOOP_DIGEST_BYTES
        or os.pread(fd, LOOP_DIGEST_BYTES, body) != _loop_digest(fd, body)
    ):
        os.close(fd)
        raise ValueError("not a complete loop file")
    return Loop(total - _fade_frames(total, sample_rate, crossfade_s), fd=fd)


def _loop_digest(fd: int, size: int) -> bytes:
    """Digest of the first `size` bytes of a loop file, read a megabyte at a time (memory stays flat)."""
    h = hashlib.blake2b(digest_size=LOOP_DIGEST_BYTES)
    for offset in range(0, size, 1 << 20):
        h.update(os.pread(fd, min(1 << 20, size - offset), offset))
    return h.digest()


def _fade_frames(total: int, sample_rate: int, crossfade_s: float = LOOP_CROSSFADE_S) -> int:
    fade = min(int(crossfade_s * sample_rate), total // 4)
    return fade if fade >= 2 else 0


def _write_loop(path: Path, sample_rate: int, out: BinaryIO, crossfade_s: float = LOOP_CROSSFADE_S) -> np.ndarray:
    """Decode `path` a block at a time into `out` as 16-bit stereo at sample_rate, then fold the tail over
    the head (the same equal-power crossfade as make_loop) and level it (bed_level). Returns the levelled
    loop's hop energies (see _level_loop_file)."""
    out.write(bytes(LOOP_HEADER_BYTES))
    total = 0
    for block in decode_blocks(path, sample_rate):
        out.write(_to_int16(block).tobytes())
        total += len(block)
    fade = _fade_frames(total, sample_rate, crossfade_s)
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
        out.flush()
    hops = _level_loop_file(out.fileno(), total - fade, sample_rate)
    # The header goes in last: a file cut short by a crash or a full disk never passes for a loop.
    out.seek(0)
    out.write(LOOP_MAGIC + total.to_bytes(8, "little"))
    out.flush()
    body = LOOP_HEADER_BYTES + total * 4
    out.seek(body)
    out.write(_loop_digest(out.fileno(), body))
    out.flush()
    return hops


def _level_loop_file(fd: int, frames: int, sample_rate: int) -> np.ndarray:
    """Level the `frames` played frames of a loop file in place (bed_level), a few seconds at a time.

    Returns the levelled loop's K-weighted hop energies, as each hop's energy before times its mean squared
    gain: the gain moves slowly against a 100 ms hop, so this is within 0.003 dB of measuring the levelled
    loop again (0.1 dB on the worst hop of the built-in tracks), which would cost a second K-filter pass."""
    unit = np.float32(LOOP_UNIT)
    hop = int(round(HOP_S * sample_rate))
    chunk = hop * 50

    def pieces() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, frames, chunk):
            count = min(chunk, frames - start)
            data = os.pread(fd, count * 4, LOOP_HEADER_BYTES + start * 4)
            yield start, np.frombuffer(data, dtype="<i2").reshape(-1, 2) * unit

    peaks: list[np.ndarray] = []

    def measured() -> Iterator[np.ndarray]:
        for _, piece in pieces():
            peaks.append(_hop_peaks(piece, sample_rate))
            yield piece

    hops = hop_energies_of_chunks(measured(), sample_rate, 2)
    hop_gain = _guarded_gain(bed_level.gain_db(hops), np.concatenate(peaks) if peaks else np.zeros(0))
    power: list[np.ndarray] = []
    for start, piece in pieces():
        gains = bed_level.gains_at(np.arange(start, start + len(piece)), hop_gain, sample_rate, frames)
        os.pwrite(fd, _to_int16(piece * gains[:, None]).tobytes(), LOOP_HEADER_BYTES + start * 4)
        power.append(per_run(gains.astype(np.float64) ** 2, hop, np.mean))
    return hops * np.concatenate(power) if power else hops


def decode_blocks(path: Path, sample_rate: int, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Like decode(), as float32 stereo blocks at sample_rate, so a long track never sits in memory: the file
    is decoded and resampled (soxr, streaming) a block of at most `block_frames` source frames at a time, so
    memory follows the block, never the length or the rates a header claims (rates are 8 to 384 kHz)."""
    with _Reader(path) as reader:
        resampler = None
        for block in reader.blocks(block_frames):
            if reader.rate == sample_rate:
                yield block
                continue
            if resampler is None:
                resampler = soxr.ResampleStream(reader.rate, sample_rate, 2, dtype="float32", quality="HQ")
            # Fed in pieces that come out at most about block_frames long (8 kHz is 5.5x up to 44.1 kHz).
            piece = max(256, block_frames * reader.rate // sample_rate)
            for start in range(0, len(block), piece):
                out = resampler.resample_chunk(block[start : start + piece])
                if len(out):
                    yield out
        reader.check_length()  # of the file itself, at its own rate: the same test as probe()
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros((0, 2), dtype=np.float32), last=True)
            if len(tail):
                yield tail


def _stereo(block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 1:
        return np.repeat(block, 2, axis=1)
    return np.ascontiguousarray(block[:, :2])


def loop_hops(path: Path, loop: Loop, sample_rate: int, cache_dir: Path | None, fold: bool = True) -> np.ndarray:
    """The K-weighted 100 ms hop energies of a track's loop (what the mixer's loudness prediction needs),
    measured once per file version and remembered: filtering a few minutes of stereo costs about a second,
    on every render, before mixing can start."""
    hop = int(round(HOP_S * sample_rate))
    expected = -(-loop.frames // hop)
    if loop.hops is not None and loop.hops.shape == (expected,):
        return loop.hops
    crossfade_s = LOOP_CROSSFADE_S if fold else 0.0
    file = _hops_file(cache_dir, path, sample_rate, crossfade_s) if cache_dir is not None else None
    if file is not None:
        try:
            hops = np.load(file, allow_pickle=False)
            if hops.shape == (expected,) and np.all(np.isfinite(hops)):
                return hops
        except (OSError, ValueError):
            pass
    hops = loop_energies(loop, sample_rate)
    if file is not None:
        _save_hops(file, hops)
    return hops


def _hops_file(cache_dir: Path, path: Path, sample_rate: int, crossfade_s: float) -> Path:
    return cache_dir / "music" / f"{_track_key(path, sample_rate)}-loop{crossfade_s:g}-v{LOOP_VERSION}.npy"


def _save_hops(file: Path, hops: np.ndarray) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, hops)
        os.replace(tmp, file)
    except OSError:
        pass  # a cache that cannot be written only costs a re-measurement next time


def loop_energies(loop: Loop, sample_rate: int) -> np.ndarray:
    return hop_energies_of_chunks(loop.chunks(int(round(HOP_S * sample_rate)) * 50), sample_rate, 2)
