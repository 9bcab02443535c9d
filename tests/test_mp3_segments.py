"""Segment-parallel MP3: joined frames decode like one encoder's output, with no clicks, gaps or drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from voiceguide.export import mp3_segments
from voiceguide.export.encoders import Mp3Encoder
from voiceguide.export.mp3_segments import (
    SAMPLES_PER_FRAME,
    JoinError,
    last_block_types,
    main_data_begin,
    plan_segments,
    split_frames,
    write_mp3,
)

SR = 44100
GRANULE = 576


def session_like(seconds: float, seed: int = 3) -> np.ndarray:
    """Music-like noise bed, a drifting chord, and sharp bursts (short blocks) every 1.3 s: the joins land
    on every kind of frame."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    bed = np.cumsum(rng.normal(0, 0.02, (n, 2)), axis=0)
    bed -= np.convolve(bed[:, 0], np.ones(400) / 400, "same")[:, None]  # keep it from wandering off
    chord = sum(np.sin(2 * np.pi * f * t * (1 + 0.001 * np.sin(t))) for f in (220, 277.2, 329.6)) / 3
    bursts = rng.normal(0, 0.5, n) * ((t % 1.3) < 0.02)
    x = 0.05 * bed + 0.3 * chord[:, None] + bursts[:, None]
    return np.clip(x, -0.95, 0.95).astype(np.float32)


def encode_single(x: np.ndarray, path: Path) -> None:
    with Mp3Encoder(path, SR, 2, 128) as encoder:
        for i in range(0, len(x), 4096):
            encoder.write(x[i : i + 4096])


def granule_error_db(decoded: np.ndarray, source: np.ndarray) -> np.ndarray:
    n = len(source) // GRANULE * GRANULE
    err = (decoded[:n] - source[:n]).reshape(-1, GRANULE, 2)
    return 10 * np.log10(np.mean(err**2, axis=(1, 2)) + 1e-12)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mp3seg")
    x = session_like(100.0)
    single, joined = folder / "single.mp3", folder / "joined.mp3"
    encode_single(x, single)
    joins = write_mp3(joined, lambda: (lambda a, b: x[a:b]), len(x), SR, segment_s=20.0, workers=2)
    return x, single, joined, joins


def test_a_long_session_is_cut_into_segments_that_cover_it():
    total = 20 * 60 * SR
    segments = plan_segments(total, SR)
    assert len(segments) > 5
    assert segments[0].input_start == 0 and segments[-1].input_stop == total
    for earlier, later in zip(segments, segments[1:]):
        # The later encoder starts early enough to warm up, the earlier one runs past the search window.
        assert later.input_start == later.first_frame * SAMPLES_PER_FRAME
        assert later.join_from - later.first_frame == mp3_segments.WARMUP_FRAMES
        assert earlier.input_stop >= (later.join_from + mp3_segments.SEARCH_FRAMES) * SAMPLES_PER_FRAME
    assert plan_segments(30 * SR, SR) == [mp3_segments.Segment(0, 0, 0, 30 * SR)]


def test_joined_file_has_the_single_encoders_frames_length_and_gapless_header(encoded):
    x, single, joined, joins = encoded
    assert len(joins) == 4
    a, b = single.read_bytes(), joined.read_bytes()
    frames_a, frames_b = split_frames(a)[1:], split_frames(b)[1:]  # audio frames, after the Info frame
    assert len(frames_a) == len(frames_b)
    # Up to the first join it is the very same encoder run: byte for byte.
    assert frames_a[: joins[0] - 2] == frames_b[: joins[0] - 2]
    assert frames_a[joins[0] + 1 :] != frames_b[joins[0] + 1 :]
    decoded = soundfile.read(str(joined), dtype="float32")[0]
    assert decoded.shape == x.shape  # the Info frame's delay and padding are right: sample-exact


def decode_segment_alone(x: np.ndarray, segment, path: Path) -> np.ndarray:
    """One segment's encoder output decoded by itself, placed on the session's sample grid (NaN elsewhere)."""
    from voiceguide.export.encoders import lame_pcm, new_lame

    lame = new_lame(SR, 2, 128)
    path.write_bytes(lame.encode(lame_pcm(x[segment.input_start : segment.input_stop])) + lame.flush())
    decoded = soundfile.read(str(path), dtype="float32")[0][1105:]  # no Info frame: LAME's + the decoder's delay
    placed = np.full_like(x, np.nan)
    n = min(len(decoded), segment.input_stop - segment.input_start)
    placed[segment.input_start : segment.input_start + n] = decoded[:n]
    return placed


def test_each_join_switches_from_one_encoder_to_the_next_with_nothing_else_changed(encoded, tmp_path):
    x, _, joined, joins = encoded
    decoded = soundfile.read(str(joined), dtype="float32")[0]
    segments = plan_segments(len(x), SR, 20.0)
    alone = [decode_segment_alone(x, seg, tmp_path / f"seg{i}.mp3") for i, seg in enumerate(segments)]
    for i, f in enumerate(joins):
        # Frame f's first granule decodes to session samples from f*1152 - 1105 on; its overlap with the
        # previous granule (and the synthesis filterbank's memory) touches one granule before and after.
        edge = f * SAMPLES_PER_FRAME - 1105
        before, after = slice(edge - 40 * GRANULE, edge - 2 * GRANULE), slice(edge + 2 * GRANULE, edge + 40 * GRANULE)
        # Before the join the file is the earlier encoder's output, after it the later one's, exactly:
        # the reservoir bytes moved into the earlier frames are ones its decoder never reads.
        np.testing.assert_allclose(decoded[before], alone[i][before], atol=1e-6)
        np.testing.assert_allclose(decoded[after], alone[i + 1][after], atol=1e-6)
        # Across the seam the error is no worse than either encoder's own there: no click, no gap.
        seam = slice(edge - 2 * GRANULE, edge + 2 * GRANULE)
        err = lambda d, seam=seam: np.sqrt(np.mean((d[seam] - x[seam]) ** 2))  # noqa: E731
        assert err(decoded) < 1.4 * max(err(alone[i]), err(alone[i + 1])), (f, err(decoded), err(alone[i]), err(alone[i + 1]))


def test_joined_file_is_as_good_as_one_encoders(encoded):
    x, single, joined, _ = encoded
    ref = granule_error_db(soundfile.read(str(single), dtype="float32")[0], x)
    got = granule_error_db(soundfile.read(str(joined), dtype="float32")[0], x)
    assert abs(np.mean(10 ** (got / 10)) / np.mean(10 ** (ref / 10)) - 1) < 0.05
    err_joined = np.abs(soundfile.read(str(joined), dtype="float32")[0] - x).max()
    err_single = np.abs(soundfile.read(str(single), dtype="float32")[0] - x).max()
    assert err_joined < 1.3 * err_single


def test_output_does_not_depend_on_threads_or_block_size(encoded, tmp_path):
    x, _, joined, _ = encoded
    other = tmp_path / "other.mp3"
    write_mp3(other, lambda: (lambda a, b: x[a:b]), len(x), SR, block_frames=1000, segment_s=20.0, workers=1)
    assert other.read_bytes() == joined.read_bytes()


def test_frame_fields_are_read_from_real_frames(encoded):
    _, single, _, _ = encoded
    frames = split_frames(single.read_bytes())[1:]  # after the Info frame
    begins = [main_data_begin(f) for f in frames]
    assert begins[0] == 0 and max(begins) <= 511 and len(set(begins)) > 20
    types = [last_block_types(f) for f in frames]
    assert all(len(t) == 2 and all(v in (0, 1, 2, 3) for v in t) for t in types)
    # The bursts make LAME switch to short blocks, always through start and stop windows.
    flat = [v for t in types for v in t]
    assert 2 in flat and 1 in flat and 3 in flat and flat.count(0) > len(flat) / 2


def test_when_no_clean_join_is_found_one_encoder_does_it_all(tmp_path, monkeypatch):
    x = session_like(50.0, seed=5)
    single = tmp_path / "single.mp3"
    encode_single(x, single)

    def no_join(*_args, **_kwargs):
        raise JoinError("forced")

    monkeypatch.setattr(mp3_segments, "find_join", no_join)
    out = tmp_path / "fallback.mp3"
    reported = []
    joins = write_mp3(out, lambda: (lambda a, b: x[a:b]), len(x), SR, segment_s=20.0, on_block=reported.append)
    assert joins == []
    assert out.read_bytes() == single.read_bytes()
    assert sum(reported) == len(x)


def test_progress_counts_every_sample_once(tmp_path):
    x = session_like(70.0, seed=7)
    reported = []
    write_mp3(tmp_path / "p.mp3", lambda: (lambda a, b: x[a:b]), len(x), SR, segment_s=20.0, on_block=reported.append)
    assert sum(reported) == len(x)


def test_a_failing_segment_stops_the_others_and_raises(tmp_path):
    x = session_like(70.0, seed=9)
    calls = []

    def make_renderer():
        def render(a, b):
            calls.append(a)
            if a >= 45 * SR:
                raise RuntimeError("clip vanished")
            return x[a:b]

        return render

    with pytest.raises(RuntimeError, match="clip vanished"):
        write_mp3(tmp_path / "f.mp3", make_renderer, len(x), SR, segment_s=20.0, workers=2)


def test_a_join_needs_room_for_the_reservoir_and_matching_windows(encoded):
    _, single, _, _ = encoded
    frames = split_frames(single.read_bytes())[1:]
    short = next(k for k in range(200, len(frames)) if 2 in last_block_types(frames[k - 1]))
    segment = mp3_segments.Segment(first_frame=0, join_from=short, input_start=0, input_stop=0)
    assert mp3_segments.find_join(frames, 0, list(frames), segment) == short
    # The later encoder chose a long window where the earlier chose a short one: the overlap would not
    # cancel, so the join moves on to the next frame.
    long_frame = next(f for f in frames if last_block_types(f) == (0, 0) and main_data_begin(f) == main_data_begin(frames[short - 1]))
    later = list(frames)
    later[short - 1] = long_frame
    assert mp3_segments.find_join(frames, 0, later, segment) == short + 1
    # The later frame reads more reservoir than the earlier segment frees: not there either.
    later = list(frames)
    hungry = next(f for f in frames if main_data_begin(f) > main_data_begin(frames[short]) and last_block_types(f) == last_block_types(frames[short]))
    later[short] = hungry
    assert mp3_segments.find_join(frames, 0, later, segment) > short
    with pytest.raises(JoinError):
        mp3_segments.find_join(frames, 0, later, segment, search_frames=1)


@pytest.mark.parametrize("bitrate_kbps", [32, 64, 320])
def test_joins_hold_at_every_bitrate(tmp_path, monkeypatch, bitrate_kbps):
    # At 32 kbit/s a frame carries ~70 bytes of main data, so a join's reservoir spans many frames.
    x = session_like(45.0, seed=bitrate_kbps)
    monkeypatch.setattr(mp3_segments, "MIN_SEGMENT_S", 15.0)
    joins = write_mp3(tmp_path / "j.mp3", lambda: (lambda a, b: x[a:b]), len(x), SR, bitrate_kbps=bitrate_kbps, segment_s=15.0)
    assert len(joins) == 2  # joined, not fallen back to one encoder
    with Mp3Encoder(tmp_path / "s.mp3", SR, 2, bitrate_kbps) as encoder:
        for i in range(0, len(x), 4096):
            encoder.write(x[i : i + 4096])
    joined = soundfile.read(str(tmp_path / "j.mp3"), dtype="float32")[0]
    single = soundfile.read(str(tmp_path / "s.mp3"), dtype="float32")[0]
    assert joined.shape == single.shape
    if len(joined) != len(x):
        # Frames under 200 bytes (32 kbit/s) cannot hold the gapless Info frame: LAME's and the decoder's
        # delay stay in, as they do for one encoder.
        joined, single = joined[1105 : 1105 + len(x)], single[1105 : 1105 + len(x)]
    ref, got = granule_error_db(single, x), granule_error_db(joined, x)
    assert abs(np.mean(10 ** (got / 10)) / np.mean(10 ** (ref / 10)) - 1) < 0.1
    for f in joins:
        edge = 2 * f - 2
        assert np.max(got[edge - 3 : edge + 4] - ref[edge - 3 : edge + 4]) < 10.0, (bitrate_kbps, f)
