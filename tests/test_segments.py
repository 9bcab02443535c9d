"""The segment planner that MP3 and AAC share (export.segments): segments on each format's frame grid that
cover the session, overlap where joins are searched, and report every session sample exactly once."""

from __future__ import annotations

import pytest

from voiceguide.export import m4a_segments, mp3_segments
from voiceguide.export.segments import Segment, new_in_share, segment_shares

SR = 44100


@pytest.mark.parametrize("writer", [mp3_segments, m4a_segments], ids=["mp3", "m4a"])
@pytest.mark.parametrize("total", [20 * 60 * SR + 777, 181 * SR, 45 * SR])
def test_plans_cover_the_session_and_progress_counts_each_sample_once(writer, total):
    framing = writer.FRAMING
    spf = framing.samples_per_frame
    segments = writer.plan_segments(total, SR)
    assert segments[0].input_start == 0 and segments[-1].input_stop == total
    for earlier, later in zip(segments, segments[1:]):
        assert later.first_frame == later.join_from - framing.warmup_frames
        assert later.input_start == later.first_frame * spf  # on the format's frame grid
        # the earlier encoder runs through the later one's search window and the frames its own end spoils
        assert earlier.input_stop >= min(total, (later.join_from + framing.search_frames + framing.tail_frames) * spf)
    shares = segment_shares(segments, framing, total)
    assert shares[0][0] == 0 and shares[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
    # Progress as the writers report it: every block of every segment, each sample counted once.
    block = 4096
    counted = sum(
        new_in_share(share, start, min(start + block, seg.input_stop))
        for seg, share in zip(segments, shares)
        for start in range(seg.input_start, seg.input_stop, block)
    )
    assert counted == total


def test_a_20_minute_session_is_shared_evenly_and_a_short_one_is_not_cut():
    for writer in (mp3_segments, m4a_segments):
        segments = writer.plan_segments(20 * 60 * SR, SR)
        lengths = [b.join_from - a.join_from for a, b in zip(segments, segments[1:])]
        assert len(segments) == 13 and max(lengths) - min(lengths) <= 1
        assert writer.plan_segments(30 * SR, SR) == [Segment(0, 0, 0, 30 * SR)]
