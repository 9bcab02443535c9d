"""Cutting a session into segments for encoders that run at once (MP3: export.mp3_segments, AAC:
export.m4a_segments). Both formats plan the same way and differ only in their frames: how many samples a frame
holds, how many an encoder runs before its frames are used, where the join is looked for, and how many of
its last frames depend on where its input ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


# Long enough that the warm-up and search (~2 s of extra encoding) cost about 2 %, short enough that two
# cores share a 20-minute session evenly.
SEGMENT_S = 90.0
MIN_SEGMENT_S = 20.0


@dataclass(frozen=True)
class Framing:
    samples_per_frame: int
    warmup_frames: int  # frames an encoder runs before its frames are used
    search_frames: int  # where to look for a frame that allows a clean join
    tail_frames: int  # the encoder's last frames depend on where its input ends (look-ahead, flush)


@dataclass(frozen=True)
class Segment:
    first_frame: int  # the session frame of this encoder's first input sample
    join_from: int  # the earliest frame at which this segment may take over from the previous one
    input_start: int  # samples
    input_stop: int


def plan_segments(
    total_samples: int, sample_rate: int, framing: Framing, segment_s: float = SEGMENT_S, min_segment_s: float = MIN_SEGMENT_S
) -> list[Segment]:
    """Segments on the frame grid that cover [0, total_samples); one when the session is too short to share."""
    spf = framing.samples_per_frame
    total_frames = -(-total_samples // spf)
    per_segment = int(max(segment_s, min_segment_s) * sample_rate) // spf
    count = max(1, round(total_frames / per_segment))
    if count == 1 or total_frames < 2 * (framing.warmup_frames + framing.search_frames + framing.tail_frames):
        return [Segment(0, 0, 0, total_samples)]
    bounds = [round(i * total_frames / count) for i in range(count + 1)]
    segments = []
    for i in range(count):
        first = 0 if i == 0 else bounds[i] - framing.warmup_frames
        # Each encoder runs on past the next segment's search window, plus the frames its own end spoils.
        stop = total_samples if i == count - 1 else min(total_samples, (bounds[i + 1] + framing.search_frames + framing.tail_frames) * spf)
        segments.append(Segment(first, bounds[i], first * spf, stop))
    return segments


def segment_shares(segments: list[Segment], framing: Framing, total_samples: int) -> list[tuple[int, int]]:
    """The session samples each segment reports as done, so progress counts every sample once (warm-up and
    search overlap are encoded twice)."""
    spf = framing.samples_per_frame
    return [
        (seg.join_from * spf, nxt.join_from * spf if nxt else total_samples)
        for seg, nxt in zip(segments, [*segments[1:], None])
    ]


def new_in_share(share: tuple[int, int], start: int, stop: int) -> int:
    """How many of the block [start, stop)'s samples fall in this segment's share."""
    return max(0, min(stop, share[1]) - max(start, share[0]))


# A format's session writer (mp3_segments.write_mp3, m4a_segments.write_m4a, which share their parameters):
# it renders and encodes a whole session itself (segments on every core, joined gaplessly) and returns the
# frames where segments were joined. Called as writer(path, make_renderer, total_samples, sample_rate,
# channels, bitrate_kbps, block_frames, on_block): each segment gets its own renderer from `make_renderer()`;
# `on_block` is told how many new session samples were encoded (each once), and may raise to cancel.
SessionWriter = Callable[..., list[int]]
