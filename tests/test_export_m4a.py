"""AAC in .m4a: decoded length and timing against the plan, loudness against the MP3, iTunes tags and chapters
read back with mutagen and PyAV (ffmpeg's reader), clean failure."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

av = pytest.importorskip("av")
from mutagen.mp4 import MP4, MP4Cover  # noqa: E402

from voiceguide import render  # noqa: E402
from voiceguide.export import atomic_output, open_encoder  # noqa: E402
from voiceguide.export.tags import chapters_for  # noqa: E402

from .conftest import SMALL_ROUTINE  # noqa: E402

SR = 44100
AAC_FRAME = 1024
# Chapters are written in samples (the movie time scale); Nero's chpl atom, which mutagen reads, keeps 100 ns.
CHAPTER_TOLERANCE_S = 1 / SR + 1e-7


def decode(path) -> tuple[np.ndarray, int, float]:
    """(samples x channels float32, sample rate, the container's duration in seconds: its edit list)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        audio = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1).T
        return audio, stream.codec_context.sample_rate, float(stream.duration * stream.time_base)


@pytest.fixture
def rendered(write_routine, fake_engine, tmp_path):
    def go(name: str = "s.m4a", **options):
        out = tmp_path / name
        return out, render(write_routine(SMALL_ROUTINE), out, engine="fake", **options).plan

    return go


def test_m4a_decodes_with_the_plans_length_and_timing(rendered):
    out, plan = rendered()
    assert out.read_bytes()[4:8] == b"ftyp" and MP4(str(out)).info.codec == "mp4a.40.2"  # AAC-LC
    audio, rate, edited_s = decode(out)
    total = round(plan.duration_s * SR)
    assert rate == SR and audio.shape[1] == 2
    # The edit list trims the encoder's priming and padding to the sample (the movie time scale is 44100).
    assert round(edited_s * SR) == total
    # ffmpeg honours the edit list's start (priming) but decodes the last frame whole: at most one frame more.
    assert 0 <= len(audio) - total < AAC_FRAME
    chime = next(e for e in plan.events if e.type == "chime")
    start = int((chime.start_s - 0.05) * rate)
    onset = (start + int(np.argmax(np.abs(audio[start:, 0]) > 0.02))) / rate
    assert onset == pytest.approx(chime.start_s, abs=0.003)


def test_m4a_has_the_loudness_of_the_mp3(rendered):
    import pyloudnorm

    m4a, _ = rendered("s.m4a")
    mp3, _ = rendered("s.mp3")
    meter = pyloudnorm.Meter(SR)
    aac_lufs = meter.integrated_loudness(decode(m4a)[0].astype(np.float64))
    mp3_lufs = meter.integrated_loudness(soundfile.read(str(mp3), always_2d=True)[0])
    assert abs(aac_lufs - mp3_lufs) < 0.5


@pytest.mark.parametrize("mode", ["sections", "steps"])
def test_m4a_tags_and_chapters_read_back(rendered, mode):
    out, plan = rendered(chapters=mode, artist="Mina")
    marks = chapters_for(plan, mode)
    tags = MP4(str(out)).tags
    assert tags["\xa9nam"] == [plan.title] and tags["\xa9ART"] == ["Mina"]
    assert tags["\xa9alb"] == ["voiceguide sessions"] and tags["\xa9gen"] == ["Spoken Word"]
    assert tags["\xa9day"][0].isdigit() and "150 wpm" in tags["\xa9cmt"][0]
    cover = tags["covr"][0]
    assert cover.imageformat == MP4Cover.FORMAT_PNG and bytes(cover).startswith(b"\x89PNG")

    # Nero chpl, through mutagen (an independent reader).
    chapters = MP4(str(out)).chapters
    assert [c.title for c in chapters] == [m.title for m in marks]
    for read, mark in zip(chapters, marks):
        assert read.start == pytest.approx(mark.start_s, abs=CHAPTER_TOLERANCE_S)
    # The QuickTime chapter track (what Apple's players read), through ffmpeg's demuxer.
    with av.open(str(out)) as container:
        listed = container.chapters()
    assert [c["metadata"]["title"] for c in listed] == [m.title for m in marks]
    for read, mark in zip(listed, marks):
        assert float(read["start"] * read["time_base"]) == pytest.approx(mark.start_s, abs=CHAPTER_TOLERANCE_S)
        assert float(read["end"] * read["time_base"]) == pytest.approx(mark.end_s, abs=CHAPTER_TOLERANCE_S)


def test_m4a_without_chapters(rendered):
    out, _ = rendered(chapters="none")
    assert len(MP4(str(out)).chapters or []) == 0
    with av.open(str(out)) as container:
        assert container.chapters() == []


def test_m4a_bitrate_follows_the_option(tmp_path):
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((SR * 5, 2)) * 0.1).astype(np.float32)
    sizes = {}
    for kbps in (96, 256):
        path = tmp_path / f"{kbps}.m4a"
        with open_encoder(path, SR, 2, bitrate_kbps=kbps) as encoder:
            for i in range(0, len(audio), 4096):
                encoder.write(audio[i : i + 4096])
        sizes[kbps] = path.stat().st_size * 8 / 5 / 1000
    assert sizes[96] == pytest.approx(96, rel=0.15) and sizes[256] == pytest.approx(256, rel=0.15)


def test_m4a_spends_the_bitrate_on_a_quiet_mix_and_decodes_to_it(tmp_path):
    """Harmonic bursts (speech-like, nothing above 2.5 kHz) over a soft pad: fed as raw floats, ffmpeg's AAC
    encoder wrote 86 kbit/s of 128 here (and re-encoded the frames that came in short). The encoder gets the
    mix on the 16-bit grid, as LAME does, and writes the rate asked for; what it decodes to is the mix."""
    t = np.arange(20 * SR) / SR
    pad = sum(0.02 / k * np.sin(2 * np.pi * 110 * k * t + k) for k in range(1, 6))
    speech = sum(0.05 / k * np.sin(2 * np.pi * 180 * k * t) for k in range(1, 15)) * (np.sin(2 * np.pi * 2 * t) > 0.3)
    audio = np.stack([pad + speech, 0.9 * pad + speech], axis=1).astype(np.float32)
    path = tmp_path / "quiet.m4a"
    with open_encoder(path, SR, 2, bitrate_kbps=128) as encoder:
        for i in range(0, len(audio), 4096):
            encoder.write(audio[i : i + 4096])
    assert path.stat().st_size * 8 / 20 / 1000 == pytest.approx(128, rel=0.12)
    decoded, _, edited_s = decode(path)
    assert round(edited_s * SR) == len(audio)
    decoded = decoded[: len(audio)]
    snr_db = 10 * np.log10(np.sum(audio.astype(np.float64) ** 2) / np.sum((decoded - audio) ** 2))
    assert snr_db > 30


def test_aac_input_is_the_mix_on_the_16_bit_grid():
    from voiceguide.export.m4a import aac_planar

    block = np.random.default_rng(5).uniform(-1, 1, (1000, 2)).astype(np.float32)
    planar = aac_planar(block)
    assert planar.shape == (2, 1000) and planar.dtype == np.float32 and planar.flags.c_contiguous
    steps = planar.astype(np.float64) * 32767
    assert np.allclose(steps, np.round(steps), atol=1e-3)
    assert np.max(np.abs(planar - block.T)) <= 0.5 / 32767 + 1e-7


def test_m4a_encoder_closes_on_failure_and_leaves_nothing(tmp_path):
    """An exception mid-encode (Ctrl-C arrives as KeyboardInterrupt) closes the file; no partial output stays."""
    target = tmp_path / "s.m4a"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as tmp:
            with open_encoder(tmp, SR, 2, suffix=".m4a") as encoder:
                encoder.write(np.zeros((SR, 2), np.float32))
                raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_m4a_blocks_of_any_size_give_the_same_length(tmp_path):
    rng = np.random.default_rng(3)
    audio = (rng.standard_normal((SR * 2 + 77, 2)) * 0.1).astype(np.float32)
    for block in (997, 4096, 65536):
        path = tmp_path / f"{block}.m4a"
        with open_encoder(path, SR, 2) as encoder:
            for i in range(0, len(audio), block):
                encoder.write(audio[i : i + block])
        assert round(decode(path)[2] * SR) == len(audio)


def test_cli_renders_m4a_and_other_formats_do_not_load_pyav(write_routine, fake_engine, tmp_path):
    import subprocess
    import sys

    from click.testing import CliRunner

    from voiceguide.cli import cli

    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "s.m4a"
    result = CliRunner().invoke(cli, ["render", str(routine), "-o", str(out), "--engine", "fake", "--quiet"])
    assert result.exit_code == 0, result.output
    assert MP4(str(out)).tags["\xa9nam"] == ["Small test routine"]
    again = CliRunner().invoke(cli, ["render", str(routine), "-o", str(out), "--engine", "fake", "--quiet"])
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    code = "import sys, voiceguide.pipeline, voiceguide.cli; print('av' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# --- AAC on both cores: segments encoded apart, joined at frame boundaries (export.m4a_segments) ---------------


def _music_like(seconds: float, seed: int = 3) -> np.ndarray:
    """Stereo tones with clicks and noise bursts (transients make the encoder switch to short windows)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    left = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1320 * t + 1)
    right = 0.2 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(n)
    x = np.stack([left, right], axis=1)
    for at in rng.integers(0, n - 2000, int(seconds)):
        x[at : at + 400] += rng.uniform(-0.5, 0.5, (400, 2))
    return (x * 0.8).astype(np.float32)


def _decode_m4a(path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        audio = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1).T
        return audio, round(float(stream.duration * stream.time_base) * SR)


def test_window_sequences_read_from_the_frames_follow_the_standards_order(tmp_path):
    """window_of reads each frame's window sequence: long, start, eight short, stop. A decoder needs
    start before short and stop after it, so reading them right shows as only legal transitions."""
    from voiceguide.export.m4a_segments import Segment, encode_segment, window_of

    x = _music_like(8)
    packets = encode_segment(lambda a, b: x[a:b], Segment(0, 0, 0, len(x)), SR, 2, 128, 4096)
    windows = [window_of(packets[k][0]) for k in sorted(packets)][1:-2]
    # None: the two channels have windows of their own (no common window), never a join frame.
    assert sum(w is not None for w in windows) > 0.5 * len(windows)
    pairs = [(a[0], b[0]) for a, b in zip(windows, windows[1:]) if a is not None and b is not None]
    assert {a for a, _ in pairs} >= {0, 1, 2, 3}  # the clicks made short windows
    allowed = {0: {0, 1}, 1: {2}, 2: {2, 3}, 3: {0, 1}}
    assert all(b in allowed[a] for a, b in pairs)


def test_segments_cover_the_session_on_the_frame_grid():
    from voiceguide.export.m4a_segments import SAMPLES_PER_FRAME, WARMUP_FRAMES, plan_segments

    total = 600 * SR + 123
    segments = plan_segments(total, SR, 90)
    assert len(segments) == 7 and segments[0].input_start == 0 and segments[-1].input_stop == total
    for earlier, later in zip(segments, segments[1:]):
        assert later.input_start == (later.join_from - WARMUP_FRAMES) * SAMPLES_PER_FRAME
        assert earlier.input_stop > later.join_from * SAMPLES_PER_FRAME  # overlap: the join is searched in both
    assert plan_segments(30 * SR, SR)[0].input_stop == 30 * SR  # short: one encoder


@pytest.mark.slow
def test_joined_segments_decode_like_one_encoder_around_every_join(tmp_path):
    """Measure: RMS error against the source over the 8192 samples around each join. It must be within 1 dB
    of one encoder's error over the same samples, and of that encoder's typical (median) error elsewhere."""
    from voiceguide.export.m4a_segments import SAMPLES_PER_FRAME, can_fork, write_m4a

    if not can_fork():
        pytest.skip("segments need fork and no other threads")
    x = _music_like(70)
    n = len(x)
    joins = write_m4a(tmp_path / "parts.m4a", lambda: (lambda a, b: x[a:b]), n, SR, segment_s=20, workers=2)
    write_m4a(tmp_path / "one.m4a", lambda: (lambda a, b: x[a:b]), n, SR, workers=1)
    parts, parts_n = _decode_m4a(tmp_path / "parts.m4a")
    one, one_n = _decode_m4a(tmp_path / "one.m4a")
    assert len(joins) == 3
    assert parts_n == one_n == n  # the edit list gives the session's exact length
    assert 0 <= len(parts) - n < AAC_FRAME

    def error_db(decoded, span):
        return 10 * np.log10(np.mean((decoded[span] - x[span]) ** 2))

    elsewhere = np.median([error_db(one, slice(s, s + 8192)) for s in range(8192, n - 16384, 8192)])
    for f in joins:
        span = slice(f * SAMPLES_PER_FRAME - 4096, f * SAMPLES_PER_FRAME + 4096)
        assert error_db(parts, span) <= max(error_db(one, span), elsewhere) + 1.0, f
    # Over the whole session the two agree too.
    assert error_db(parts, slice(0, n)) == pytest.approx(error_db(one, slice(0, n)), abs=1.0)


@pytest.mark.slow
def test_a_long_m4a_render_keeps_its_length_and_chapters(write_routine, fake_engine, tmp_path):
    steps = "".join(f"      - say: Step {i} of the long part.\n        hold: 20s\n" for i in range(4))
    routine = write_routine(
        "title: Long\nmusic: none\nlead_in: 1s\nsections:\n  - title: One\n    steps:\n" + steps
        + "  - title: Two\n    steps:\n" + steps
    )
    out = tmp_path / "long.m4a"
    plan = render(routine, out, engine="fake").plan
    audio, edited = _decode_m4a(out)
    assert edited == round(plan.duration_s * SR) and plan.duration_s > 150
    marks = MP4(str(out)).chapters
    assert [c.title for c in marks] == ["One", "Two"]
    assert marks[1].start == pytest.approx(next(c for c in chapters_for(plan, "sections") if c.title == "Two").start_s, abs=CHAPTER_TOLERANCE_S)


def test_without_a_clean_join_one_encoder_writes_the_session_and_can_still_be_cancelled(tmp_path, monkeypatch):
    """The fallback (never seen in practice, forced here) writes the whole session with one encoder; progress
    still ends at the total, counted once, and on_block keeps being called so a render can be cancelled."""
    from voiceguide.export import m4a_segments

    if not m4a_segments.can_fork():
        pytest.skip("segments need fork and no other threads")

    def no_join(earlier, later, segment, search_frames=m4a_segments.SEARCH_FRAMES):
        raise m4a_segments.JoinError("forced")

    monkeypatch.setattr(m4a_segments, "find_join", no_join)
    x = _music_like(45)
    n = len(x)
    counts: list[int] = []
    joins = m4a_segments.write_m4a(tmp_path / "s.m4a", lambda: (lambda a, b: x[a:b]), n, SR, segment_s=20, workers=2, on_block=counts.append)
    assert joins == [] and sum(counts) == n
    decoded, edited = _decode_m4a(tmp_path / "s.m4a")
    m4a_segments.write_m4a(tmp_path / "one.m4a", lambda: (lambda a, b: x[a:b]), n, SR, workers=1)
    assert edited == n and np.array_equal(decoded, _decode_m4a(tmp_path / "one.m4a")[0])

    calls = len(counts)

    def cancel_in_fallback(frames: int) -> None:
        if frames == 0:  # the segments are done: this is the one encoder
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m4a_segments.write_m4a(tmp_path / "c.m4a", lambda: (lambda a, b: x[a:b]), n, SR, segment_s=20, workers=2, on_block=cancel_in_fallback)
    assert calls > 2


def test_a_segments_packets_come_back_from_a_file_as_they_went_in(tmp_path):
    """A forked encoder hands its packets back through an unlinked file (the parent keeps only their index):
    the same bytes, timestamps and lengths, looked up and iterated in frame order."""
    import tempfile

    from voiceguide.export.m4a_segments import StoredPackets

    rng = np.random.default_rng(3)
    packets = {k: (rng.integers(0, 256, int(rng.integers(1, 900)), dtype=np.uint8).tobytes(), (k - 1) * 1024, 1024)
               for k in rng.permutation(np.arange(40, 400)).tolist()}
    with tempfile.TemporaryFile() as f:
        stored = StoredPackets(f.fileno(), *StoredPackets.store(packets, f.fileno()))
        assert list(stored) == sorted(packets) and len(stored) == len(packets)
        assert all(stored[k] == packets[k] for k in packets)
        assert 39 not in stored and 40 in stored and "40" not in stored and stored.get(400) is None
        with pytest.raises(KeyError):
            stored[1000]


def test_joining_takes_each_segments_frames_between_its_joins(monkeypatch):
    from voiceguide.export import m4a_segments
    from voiceguide.export.m4a_segments import Segment, join

    first = {k: (b"a%d" % k, k, 1) for k in range(0, 60)}
    second = {k: (b"b%d" % k, k, 1) for k in range(30, 100)}
    third = {k: (b"c%d" % k, k, 1) for k in range(70, 120)}
    found = iter([41, 83])
    monkeypatch.setattr(m4a_segments, "find_join", lambda earlier, later, segment: next(found))
    segments = [Segment(0, 0, 0, 1), Segment(30, 40, 1, 2), Segment(70, 80, 2, 3)]
    ordered, joins = join(segments, [first, second, third])
    assert joins == [41, 83]
    assert [p[0] for p in ordered] == [first[k][0] for k in range(41)] + [second[k][0] for k in range(41, 83)] + [third[k][0] for k in range(83, 120)]
