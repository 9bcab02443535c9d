"""Encoders: gapless MP3 (sample-exact decode), atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from voiceguide.export import atomic_output, open_encoder

SR = 44100


@pytest.mark.parametrize("frames", [5000, SR * 3, SR * 7 + 123])
@pytest.mark.parametrize("bitrate", [96, 128, 192, 320])
def test_mp3_decodes_to_exact_length_and_timing(tmp_path, frames, bitrate):
    audio = np.zeros((frames, 2), np.float32)
    click_at = frames // 2
    audio[click_at : click_at + 100] = 0.9
    path = tmp_path / "t.mp3"
    with open_encoder(path, SR, 2, bitrate_kbps=bitrate) as encoder:
        for i in range(0, frames, 4096):
            encoder.write(audio[i : i + 4096])
    decoded, rate = soundfile.read(str(path), always_2d=True)
    assert rate == SR and len(decoded) == frames
    assert int(np.argmax(np.abs(decoded[:, 0]) > 0.3)) == click_at
    assert soundfile.info(str(path)).duration == pytest.approx(frames / SR, abs=1e-6)


def test_atomic_output_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.mp3"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp3"]
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp3"]
    # Readable by others like any file the user creates (not mkstemp's private 0600).
    assert target.stat().st_mode & 0o044 == 0o044


def test_mp3_keeps_the_level_of_its_input(tmp_path):
    t = np.arange(SR * 3) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "tone.mp3"
    with open_encoder(path, SR, 2) as encoder:
        encoder.write(np.stack([tone, tone], axis=1))
    decoded, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    ratio_db = 20 * np.log10(np.std(decoded[SR : 2 * SR, 0]) / np.std(tone[SR : 2 * SR]))
    assert abs(ratio_db) < 0.05


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".opus", ".flac", ".wav"])
def test_every_format_round_trips_with_the_plans_timing(write_routine, fake_engine, tmp_path, suffix):
    from voiceguide import render

    from .conftest import SMALL_ROUTINE

    out = tmp_path / f"s{suffix}"
    plan = render(write_routine(SMALL_ROUTINE), out, engine="fake").plan
    audio, rate = soundfile.read(str(out), dtype="float32", always_2d=True)
    assert abs(len(audio) / rate - plan.duration_s) < 0.05
    # The first chime rings where the plan puts it (lossy codecs may smear its attack by a few ms).
    chime = next(e for e in plan.events if e.type == "chime")
    start = int((chime.start_s - 0.05) * rate)
    onset = (start + int(np.argmax(np.abs(audio[start:, 0]) > 0.02))) / rate
    assert onset == pytest.approx(chime.start_s, abs=0.012)
    if suffix in (".ogg", ".opus", ".flac"):
        import mutagen

        tags = mutagen.File(str(out))
        assert tags["TITLE"] == [plan.title]
        starts = [tags[f"CHAPTER{i:03d}"][0] for i in range(1, len(plan.chapters) + 1)]
        assert starts[0] == "00:00:00.000" and [tags[f"CHAPTER{i:03d}NAME"][0] for i in range(1, 5)] == [c.title for c in plan.chapters]


def test_frame_count_does_not_depend_on_the_read_chunk(tmp_path):
    """The Info header's frame count is read in chunks; frames straddling a chunk edge must still count."""
    from voiceguide.export import lametag

    frames = SR * 20
    rng = np.random.default_rng(2)
    audio = (rng.standard_normal((frames, 2)) * 0.1).astype(np.float32)
    path = tmp_path / "long.mp3"
    with open_encoder(path, SR, 2) as encoder:
        for i in range(0, frames, 65536):
            encoder.write(audio[i : i + 65536])
    start = lametag.frame_size(128, SR)
    with open(path, "rb") as f:
        whole = lametag.count_frames(f, start, chunk_bytes=1 << 30)
        for chunk in (4, 417, 1000, 4096):
            assert lametag.count_frames(f, start, chunk_bytes=chunk) == whole
    assert whole[1] == path.stat().st_size - start
    assert soundfile.info(str(path)).frames == frames
