"""AAC on every core: the session is cut into segments that separate encoder processes mix and encode at
once, and their AAC frames are joined so the file decodes like one encoder's.

Why this works. An AAC-LC frame carries 1024 samples and holds no bits for other frames (no bit reservoir in
the stream, no prediction across frames in LC): the decoder's only memory is the overlap of each frame's
windowed inverse MDCT with the next one's. An encoder started at a frame boundary k*1024 works on the same
frame grid as a whole-session encoder (its frame j is the session's frame k + j; both feed the same PCM), so
after some warm-up its frames encode the same windows of the same signal, quantised by a rate control that
has settled. A frame of one encoder followed by a frame of the other then overlap-adds like two frames of
one encoder, as long as the window halves that overlap have the same shape: the join frame F is chosen
where both encoders coded frame F - 1 with the same window sequence and shape (find_join), so time-domain
aliasing cancels as usual.

Every packet keeps the timestamp a whole-session encoder gives it (the encoder's 1024 samples of priming
included), so the MP4 muxer writes the same edit list: the file is exactly the session's length.

PyAV holds the GIL while it encodes, so threads would take turns: segments go to forked processes (each mixes
its own share). Where fork is not available, or other threads run (fork would copy their locks), one
encoder does the whole session.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from .segments import MIN_SEGMENT_S, SEGMENT_S, Framing, Segment, new_in_share, segment_shares
from .segments import plan_segments as plan_framed

SAMPLES_PER_FRAME = 1024
# Frames an encoder runs before its frames are used: its rate control and transient detection have settled
# (0.74 s at 44.1 kHz).
WARMUP_FRAMES = 32
# Where to look for a frame where both encoders chose the same window (usually the first one).
SEARCH_FRAMES = 64
# The encoder's last frames depend on where its input ends (look-ahead, flush).
TAIL_FRAMES = 8
FRAMING = Framing(SAMPLES_PER_FRAME, WARMUP_FRAMES, SEARCH_FRAMES, TAIL_FRAMES)
# AAC raw data block elements and window sequences (ISO/IEC 14496-3, 4.4.2).
_SCE, _CPE = 0, 1


class JoinError(RuntimeError):
    """No frame in the search window allows a clean join (the caller falls back to one encoder)."""


def plan_segments(total_samples: int, sample_rate: int, segment_s: float | None = None) -> list[Segment]:
    # The lengths are read here at each call, so a test can make this format's segments short.
    return plan_framed(total_samples, sample_rate, FRAMING, segment_s or SEGMENT_S, MIN_SEGMENT_S)


def window_of(frame: bytes) -> tuple[int, int] | None:
    """(window_sequence, window_shape) of a raw AAC-LC frame whose channels share one window (a mono SCE, or a
    stereo CPE with common_window); None when that cannot be read from its first bytes."""
    if len(frame) < 3:
        return None
    bits = int.from_bytes(frame[:3], "big")  # 24 bits: enough for either layout

    def take(at: int, width: int) -> int:
        return (bits >> (24 - at - width)) & ((1 << width) - 1)

    element = take(0, 3)
    if element == _CPE:
        if not take(7, 1):  # no common window: each channel has its own (only the first is this close)
            return None
        return take(9, 2), take(11, 1)  # after ics_reserved_bit
    if element == _SCE:
        return take(16, 2), take(18, 1)  # after global_gain (8 bits) and ics_reserved_bit
    return None


Packet = tuple[bytes, int, int]  # data, pts (samples, the priming frame at -1024), duration (samples)


def find_join(earlier: Mapping[int, Packet], later: Mapping[int, Packet], segment: Segment, search_frames: int = SEARCH_FRAMES) -> int:
    """The session frame F (a packet timestamp / 1024, plus one for the priming) from which `later` is used:
    both encoders coded frame F - 1 with the same window sequence and shape. The decoder overlaps the right
    half of frame F - 1 (the earlier encoder's) with the left half of frame F (the later's), which the later
    encoder shaped to fit its own frame F - 1: the same window, so the aliasing cancels as within one stream.
    (Requiring long windows instead found no join within 64 frames of speech with chimes, which switches to
    short windows every few frames.)"""
    last = max(earlier) - TAIL_FRAMES
    for f in range(segment.join_from, min(segment.join_from + search_frames, last)):
        a, b = earlier.get(f - 1), later.get(f - 1)
        if a is None or b is None or f not in later:
            continue
        window = window_of(a[0])
        if window is not None and window == window_of(b[0]):
            return f
    raise JoinError(f"no clean join near AAC frame {segment.join_from}")


def new_encoder(sample_rate: int, channels: int, bitrate_kbps: int):
    import av

    from .m4a import CODEC, CODER_OPTIONS

    ctx = av.CodecContext.create(CODEC, "w")
    ctx.sample_rate = sample_rate
    ctx.layout = {1: "mono", 2: "stereo"}[channels]
    ctx.format = "fltp"
    ctx.bit_rate = int(bitrate_kbps) * 1000
    ctx.options = dict(CODER_OPTIONS)
    ctx.open()
    return ctx


def encode_segment(
    render_block: Callable[[int, int], np.ndarray], segment: Segment, sample_rate: int, channels: int, bitrate_kbps: int,
    block_frames: int, on_block: Callable[[int, int], None] | None = None,
) -> dict[int, Packet]:
    """Packets of one segment, keyed by session frame (pts // 1024 + 1: the priming packet is frame 0)."""
    import av

    from .m4a import aac_planar

    ctx = new_encoder(sample_rate, channels, bitrate_kbps)
    layout = ctx.layout.name
    packets: dict[int, Packet] = {}

    def keep(encoded) -> None:
        for packet in encoded:
            packets[packet.pts // SAMPLES_PER_FRAME + 1] = (bytes(packet), int(packet.pts), int(packet.duration))

    for start in range(segment.input_start, segment.input_stop, block_frames):
        stop = min(start + block_frames, segment.input_stop)
        frame = av.AudioFrame.from_ndarray(aac_planar(render_block(start, stop)), format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start  # session time: packets come out on the whole-session encoder's timestamps
        keep(ctx.encode(frame))
        if on_block:
            on_block(start, stop)
    keep(ctx.encode(None))
    return packets


def join(segments: list[Segment], packets: list[Mapping[int, Packet]]) -> tuple[Iterator[Packet], list[int]]:
    """The frame of each join (all found first: a JoinError comes before anything is written), and the
    session's packets in order, read as they are muxed: segment i gives its frames from join i - 1 to join i."""
    joins = [find_join(earlier, later, segment) for segment, earlier, later in zip(segments[1:], packets, packets[1:])]
    bounds = [-1, *joins, max(packets[-1]) + 1]

    def ordered() -> Iterator[Packet]:
        for i, own in enumerate(packets):
            for k in sorted(own):
                if bounds[i] <= k < bounds[i + 1]:
                    yield own[k]

    return ordered(), joins


class StoredPackets(Mapping[int, Packet]):
    """A segment's packets as a forked worker hands them back: their bytes in a file (an unlinked temporary
    the parent opened before the fork, so nothing is left behind whatever happens), here only their frame
    numbers, timestamps and offsets. The parent then holds a few bytes per packet, not the session's AAC:
    with every packet in memory an hour's .m4a render peaked at 221 MB."""

    def __init__(self, fd: int, frames: np.ndarray, pts: np.ndarray, durations: np.ndarray, offsets: np.ndarray):
        self._fd, self._frames, self._pts, self._durations, self._offsets = fd, frames, pts, durations, offsets

    @classmethod
    def store(cls, packets: dict[int, Packet], fd: int) -> tuple[np.ndarray, ...]:
        """Write `packets` to the file `fd`; return what StoredPackets(fd, *returned) needs to read them."""
        frames = np.array(sorted(packets), dtype=np.int64)
        data = [packets[k][0] for k in frames.tolist()]
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in data], dtype=np.int64)]).astype(np.int64)
        blob, written = memoryview(b"".join(data)), 0
        while written < len(blob):  # a write may take less than it was given
            taken = os.pwrite(fd, blob[written:], written)
            if taken == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written += taken
        pts = np.array([packets[k][1] for k in frames.tolist()], dtype=np.int64)
        durations = np.array([packets[k][2] for k in frames.tolist()], dtype=np.int64)
        return frames, pts, durations, offsets

    def __getitem__(self, frame: int) -> Packet:
        i = int(np.searchsorted(self._frames, frame))
        if i == len(self._frames) or self._frames[i] != frame:
            raise KeyError(frame)
        start, stop = int(self._offsets[i]), int(self._offsets[i + 1])
        return os.pread(self._fd, stop - start, start), int(self._pts[i]), int(self._durations[i])

    def __contains__(self, frame: object) -> bool:  # without reading the packet
        if not isinstance(frame, (int, np.integer)):
            return False
        i = int(np.searchsorted(self._frames, frame))
        return i < len(self._frames) and self._frames[i] == frame

    def __iter__(self) -> Iterator[int]:
        return iter(self._frames.tolist())

    def __len__(self) -> int:
        return len(self._frames)


def mux(path: Path, packets: Iterable[Packet], sample_rate: int, channels: int, bitrate_kbps: int) -> None:
    """The packets in an .m4a, with the edit list a whole-session encoder's packets would get."""
    import av

    from .m4a import CODEC, CODER_OPTIONS, MUXER, _movie_options

    with av.open(str(path), "w", format=MUXER, options=_movie_options(sample_rate)) as container:
        stream = container.add_stream(CODEC, rate=sample_rate, layout={1: "mono", 2: "stereo"}[channels])
        stream.bit_rate = int(bitrate_kbps) * 1000
        stream.codec_context.options = dict(CODER_OPTIONS)
        time_base = Fraction(1, sample_rate)
        for data, pts, duration in packets:
            packet = av.Packet(data)
            packet.pts = packet.dts = pts
            packet.duration = duration
            packet.time_base = time_base
            packet.stream = stream
            container.mux(packet)


# --- processes ------------------------------------------------------------------------------------------

# Set in the parent just before the workers fork; the children inherit it (nothing is pickled but indexes).
_JOB: dict = {}


def _work(index: int) -> tuple[np.ndarray, ...]:
    job = _JOB
    segment = job["segments"][index]
    done, share = job["done"], job["shares"][index]

    def counted(start: int, stop: int) -> None:
        new = new_in_share(share, start, stop)
        if new:
            with done.get_lock():
                done.value += new

    packets = encode_segment(job["make_renderer"](), segment, job["rate"], job["channels"], job["bitrate"], job["block"], counted)
    return StoredPackets.store(packets, job["files"][index].fileno())


def can_fork() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def write_m4a(
    path: Path,
    make_renderer: Callable[[], Callable[[int, int], np.ndarray]],
    total_samples: int,
    sample_rate: int,
    channels: int = 2,
    bitrate_kbps: int = 128,
    block_frames: int = 4096,
    on_block: Callable[[int], None] | None = None,
    workers: int | None = None,
    segment_s: float | None = None,
) -> list[int]:
    """Write an .m4a of samples [0, total_samples) that `make_renderer()` produces; return the join frames.
    `on_block` is told how many new session samples were encoded (each once), and may raise to cancel."""
    segments = plan_segments(total_samples, sample_rate, segment_s)
    workers = max(1, min(workers or os.cpu_count() or 1, len(segments)))
    if workers == 1 or not can_fork():
        segments = [Segment(0, 0, 0, total_samples)]

    shares = segment_shares(segments, FRAMING, total_samples)
    if len(segments) == 1:
        def counted(start: int, stop: int) -> None:
            if on_block:
                on_block(stop - start)

        packets = [encode_segment(make_renderer(), segments[0], sample_rate, channels, bitrate_kbps, block_frames, counted)]
        mux(path, join(segments, packets)[0], sample_rate, channels, bitrate_kbps)
        return []

    context = multiprocessing.get_context("fork")
    done = context.Value("q", 0)
    with ExitStack() as stack:
        files = [stack.enter_context(tempfile.TemporaryFile(prefix="voiceguide-aac-")) for _ in segments]
        _JOB.update(segments=segments, shares=shares, done=done, make_renderer=make_renderer, rate=sample_rate,
                    channels=channels, bitrate=bitrate_kbps, block=block_frames, files=files)
        pool = context.Pool(workers)
        try:
            pending = [pool.apply_async(_work, (i,)) for i in range(len(segments))]
            reported = 0
            while not all(p.ready() for p in pending):
                time.sleep(0.1)
                reported = _report(done, reported, on_block)
            packets = [StoredPackets(f.fileno(), *p.get()) for f, p in zip(files, pending)]
            _report(done, reported, on_block)
            pool.close()
        except BaseException:
            pool.terminate()  # cancelled (or failed): the workers stop now, not at the end of their segments
            raise
        finally:
            pool.join()
            _JOB.clear()
        try:
            ordered, joins = join(segments, packets)
        except JoinError:
            # One encoder for the whole session: slower, never wrong. The segments have reported every sample,
            # so it reports none again, but still calls on_block after each block, which is where a render is
            # cancelled.
            def again(_frames: int) -> None:
                if on_block:
                    on_block(0)

            return write_m4a(path, make_renderer, total_samples, sample_rate, channels, bitrate_kbps, block_frames, again, workers=1)
        mux(path, ordered, sample_rate, channels, bitrate_kbps)
    return joins


def _report(done, reported: int, on_block: Callable[[int], None] | None) -> int:
    now = done.value
    if on_block and now > reported:
        on_block(now - reported)
    return now
