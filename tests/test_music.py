"""Music files: read by libsndfile, else by PyAV (ffmpeg's libraries in its wheels), never by a system ffmpeg.

Whether or not the machine has ffmpeg/ffprobe, `check` refuses the same files with the same FILE:LINE:COLUMN
message and exit code 2 as `render` would, render refuses a file that went bad after the check by name, other
formats (.m4a) are music without a system ffmpeg, and a track is decoded in bounded pieces.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from voiceguide import music

from .conftest import SYSTEM_DECODERS, assert_clean_failure, invoke, path_without

av = pytest.importorskip("av")

NOT_AUDIO = r"is not audio that voiceguide can read \(.+\); use a WAV, FLAC, OGG, MP3 or M4A file"
DAMAGED = r"is damaged or cut short \(.+\); export it again or use a WAV, FLAC, OGG, MP3 or M4A file"


@pytest.fixture(params=["ffmpeg-visible", "ffmpeg-hidden"])
def ffmpeg(request):
    """Each test twice: with this machine's PATH (which may have a system ffmpeg) and without ffmpeg/ffprobe."""
    if request.param == "ffmpeg-hidden":
        request.getfixturevalue("without_ffmpeg")
    return request.param


def tone(seconds: float, rate: int, channels: int = 2, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return np.repeat((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[:, None], channels, axis=1)


def write_m4a(path: Path, seconds: float, rate: int = 48000, channels: int = 2, freq: float = 440.0) -> Path:
    """An AAC .m4a written with PyAV (libsndfile cannot read it)."""
    layout = "stereo" if channels == 2 else "mono"
    planar = np.ascontiguousarray(tone(seconds, rate, channels, freq).T)
    scratch = path.with_name("scratch-for-writing.m4a")  # a plain name: PyAV parses a string path as a URL
    with av.open(str(scratch), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        for start in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start : start + 1024]), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    os.replace(scratch, path)
    return path


def _wav_with_rate(path: Path, rate: int) -> Path:
    """A 3 s 16-bit stereo WAV whose header then claims `rate` (and a matching byte rate)."""
    soundfile.write(str(path), tone(3, 44100), 44100, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28], data[28:32] = struct.pack("<I", rate), struct.pack("<I", rate * 4)
    path.write_bytes(bytes(data))
    return path


def _flac(path: Path, seconds: float = 3.0) -> bytes:
    noise = (np.random.default_rng(3).standard_normal((int(seconds * 44100), 2)) * 0.1).astype(np.float32)
    soundfile.write(str(path), noise, 44100, format="FLAC")
    return path.read_bytes()


def _case(kind: str, folder: Path) -> tuple[Path, str]:
    """A bad music file of the given kind, and (as a regular expression) what is wrong with it."""
    if kind == "random-bytes":
        path = folder / "noise.mp3"
        path.write_bytes(np.random.default_rng(7).integers(0, 256, 8192, dtype=np.uint8).tobytes())
        return path, NOT_AUDIO
    if kind.startswith("text-named-"):
        path = folder / f"notes.{kind.rsplit('-', 1)[1]}"
        path.write_text("these are my notes, not audio\n", encoding="utf-8")
        return path, NOT_AUDIO
    if kind == "truncated-wav-header":
        path = folder / "cut.wav"
        soundfile.write(str(path), tone(2, 44100), 44100, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:30])
        return path, NOT_AUDIO
    if kind == "sample-rate-0":
        return _wav_with_rate(folder / "zero.wav", 0), NOT_AUDIO
    if kind == "sample-rate-1000":
        return _wav_with_rate(folder / "low.wav", 1000), re.escape("has a sample rate of 1000 Hz; use a file of 8000 to 384000 Hz")
    if kind == "sample-rate-2M":
        return _wav_with_rate(folder / "high.wav", 2_000_000), re.escape("has a sample rate of 2000000 Hz; use a file of 8000 to 384000 Hz")
    if kind == "too-short-wav":
        path = folder / "short.wav"
        soundfile.write(str(path), np.zeros(4410, np.float32), 44100)
        return path, re.escape("is too short (0.10 s); use at least 1 s of audio")
    if kind == "too-short-flac":
        path = folder / "short.flac"
        soundfile.write(str(path), tone(0.5, 44100), 44100)
        return path, re.escape("is too short (0.50 s); use at least 1 s of audio")
    if kind == "too-short-m4a":
        path = write_m4a(folder / "short.m4a", 0.4, rate=44100)
        return path, r"is too short \(0\.\d\d s\); use at least 1 s of audio"
    if kind == "truncated-flac":
        path = folder / "cut.flac"
        path.write_bytes(_flac(path)[: 60_000])
        return path, DAMAGED
    if kind == "corrupt-flac":
        path = folder / "garbled.flac"
        data = bytearray(_flac(path))
        for i in range(len(data) // 3, len(data) // 3 + 2000):
            data[i] ^= 0x5A
        path.write_bytes(bytes(data))
        return path, DAMAGED
    if kind == "truncated-m4a":
        path = write_m4a(folder / "cut.m4a", 3)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path, NOT_AUDIO
    if kind == "nan-samples":
        path = folder / "nan.wav"
        samples = tone(2, 44100)
        samples[1000, 0] = np.nan
        soundfile.write(str(path), samples, 44100, subtype="FLOAT")
        return path, re.escape("holds invalid samples (NaN or infinity); export it again as WAV or FLAC")
    if kind == "concat-playlist":  # ffmpeg's concat demuxer would play the WAV beside it
        soundfile.write(str(folder / "real.wav"), tone(3, 44100), 44100)
        path = folder / "list.m4a"
        path.write_text("ffconcat version 1.0\nfile real.wav\n", encoding="utf-8")
        return path, NOT_AUDIO
    if kind == "hls-playlist":
        soundfile.write(str(folder / "real.wav"), tone(3, 44100), 44100)
        path = folder / "list.m3u8"
        path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3,\n{folder / 'real.wav'}\n#EXT-X-ENDLIST\n", encoding="utf-8")
        return path, NOT_AUDIO
    raise AssertionError(kind)


BAD_KINDS = [
    "random-bytes", "text-named-wav", "text-named-ogg", "text-named-flac", "text-named-mp3", "truncated-wav-header",
    "sample-rate-0", "sample-rate-1000", "sample-rate-2M", "too-short-wav", "too-short-flac", "too-short-m4a",
    "truncated-flac", "corrupt-flac", "truncated-m4a", "nan-samples", "concat-playlist", "hls-playlist",
]


def _routine(folder: Path, track: str) -> Path:
    routine = folder / "routine.yaml"
    routine.write_text(f"title: t\nmusic: {{track: {track}}}\nsections:\n  - title: s\n    steps:\n      - say: go\n        hold: 2s\n", encoding="utf-8")
    return routine


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_check_and_render_refuse_bad_music_at_its_line_with_or_without_ffmpeg(kind, ffmpeg, tmp_path, fake_engine, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a playlist's relative entries would resolve here
    path, problem = _case(kind, tmp_path)
    routine = _routine(tmp_path, path.name)
    expected = re.escape(f"{routine}:2:16: music file '{path.name}' ") + problem
    checked = invoke("check", routine)
    assert_clean_failure(checked, 2)
    assert re.fullmatch(expected, checked.output.strip()), checked.output
    out = tmp_path / "out.mp3"
    rendered = invoke("render", routine, "-o", out, "--engine", "fake", "-q")
    assert_clean_failure(rendered, 2)
    assert rendered.output == checked.output  # the same check, before any work
    assert fake_engine.calls == [] and not out.exists() and not list(tmp_path.glob(".out.mp3*"))


def test_messages_do_not_depend_on_a_system_ffmpeg(tmp_path, monkeypatch):
    """Every bad file, checked on this machine's PATH and on one without ffmpeg/ffprobe: the same output."""
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for path_kind, path in (("as-is", os.environ["PATH"]), ("hidden", path_without(SYSTEM_DECODERS))):
        monkeypatch.setenv("PATH", path)
        for kind in BAD_KINDS:
            folder = tmp_path / path_kind / kind
            folder.mkdir(parents=True)
            monkeypatch.chdir(folder)
            bad, _ = _case(kind, folder)
            result = invoke("check", _routine(folder, bad.name))
            outputs.setdefault(kind, []).append((result.exit_code, result.output.replace(str(folder), "DIR")))
    for kind, (first, second) in outputs.items():
        assert first == second and first[0] == 2, kind


@pytest.mark.parametrize("kind", ["truncated-flac", "text-named-wav", "too-short-m4a", "sample-rate-1000"])
def test_render_refuses_a_file_that_went_bad_after_the_check(kind, ffmpeg, tmp_path, fake_engine, monkeypatch):
    """The routine passed validation, then the file changed: render stops with exit 2 naming the file."""
    path, problem = _case(kind, tmp_path)
    routine = _routine(tmp_path, path.name)
    monkeypatch.setattr(music, "probe", lambda path: None)  # as if the file was good when it was checked
    out = tmp_path / "out.mp3"
    result = invoke("render", routine, "-o", out, "--engine", "fake", "-q")
    assert_clean_failure(result, 2)
    assert re.fullmatch(re.escape(f"error: music file {path} ") + problem, result.output.strip()), result.output
    assert not out.exists() and not list(tmp_path.glob(".out.mp3*"))


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "m4a", "m4a-mono-22k"])
def test_good_music_files_pass_check_and_render(ext, ffmpeg, tmp_path, fake_engine):
    if ext.startswith("m4a"):
        path = write_m4a(tmp_path / "bed.m4a", 3, rate=22050 if "22k" in ext else 48000, channels=1 if "mono" in ext else 2)
    else:
        path = tmp_path / f"bed.{ext}"
        soundfile.write(str(path), tone(3, 44100), 44100)
    routine = _routine(tmp_path, path.name)
    checked = invoke("check", routine)
    assert checked.exit_code == 0, checked.output
    out = tmp_path / "out.mp3"
    result = invoke("render", routine, "-o", out, "--engine", "fake", "-q")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000


def test_m4a_is_music_without_a_system_ffmpeg(without_ffmpeg, tmp_path, monkeypatch):
    """No ffmpeg program is ever run: one on PATH that would leave a mark is never called, and the decoded
    track is the tone that was written, at the session rate."""
    marker = tmp_path / "ffmpeg-was-run"
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    path = write_m4a(tmp_path / "bed.m4a", 3, rate=48000, freq=440.0)
    assert music.probe(path) is None
    samples = music.decode(path, 44100)
    assert abs(len(samples) - 3 * 44100) < 3000  # AAC adds up to a few frames of priming and padding
    middle = samples[22050:-22050, 0]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    assert abs(np.argmax(spectrum) * 44100 / len(middle) - 440) < 2
    assert np.allclose(samples[:, 0], samples[:, 1], atol=0.01)  # AAC codes stereo as mid and side
    assert not marker.exists()


def test_music_path_names_are_never_protocols(tmp_path, monkeypatch):
    """A file called 'concat:a.m4a|b.m4a' is that one file, not the two it names."""
    monkeypatch.chdir(tmp_path)
    write_m4a(tmp_path / "a.m4a", 3)
    write_m4a(tmp_path / "b.m4a", 3)
    weird = write_m4a(tmp_path / "concat:a.m4a|b.m4a", 1.5)
    samples = music.decode(weird, 44100)
    assert abs(len(samples) - 1.5 * 44100) < 3000


@pytest.mark.parametrize("rate", [8000, 11025, 96000, 384000])
def test_sample_rates_from_8_to_384_khz_are_accepted(rate, tmp_path):
    path = tmp_path / f"bed-{rate}.wav"
    soundfile.write(str(path), tone(1.5, rate), rate, subtype="PCM_16")
    assert music.probe(path) is None
    assert abs(len(music.decode(path, 44100)) - 1.5 * 44100) <= 2


@pytest.mark.parametrize("rate", [7999, 384001])
def test_sample_rates_outside_8_to_384_khz_are_refused(rate, tmp_path):
    path = _wav_with_rate(tmp_path / "bed.wav", rate)
    assert music.probe(path) == f"has a sample rate of {rate} Hz; use a file of 8000 to 384000 Hz"
    with pytest.raises(music.MusicFileError, match="has a sample rate"):
        music.decode(path, 44100)


def test_exactly_one_second_passes_the_check_and_the_render(tmp_path):
    """The length test is made on the file at its own rate, so resampling cannot turn a pass into a refusal."""
    path = tmp_path / "one.flac"
    soundfile.write(str(path), tone(1.0, 48000), 48000)
    assert music.probe(path) is None
    assert music.open_loop(path, 44100, tmp_path / "cache").frames > 0


def _peak_traced_bytes(blocks) -> tuple[int, int]:
    tracemalloc.start()
    try:
        frames = sum(len(block) for block in blocks)
        return frames, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("source", ["m4a-48k", "wav-8k", "flac-384k"])
def test_decoding_is_done_in_bounded_pieces(source, tmp_path):
    """Decoding and resampling a 40 s track never holds it whole: peak memory stays far under its size."""
    if source == "m4a-48k":
        path = write_m4a(tmp_path / "long.m4a", 40, rate=48000)
    else:
        rate = 8000 if source == "wav-8k" else 384000
        path = tmp_path / f"long.{source[:4].rstrip('-')}"
        soundfile.write(str(path), tone(40, rate), rate)
    frames, peak = _peak_traced_bytes(music.decode_blocks(path, 44100))
    whole = frames * 2 * 4
    assert abs(frames - 40 * 44100) < 3000
    assert whole > 14_000_000 and peak < 6_000_000, (whole, peak)


def test_m4a_loop_is_cached(tmp_path, monkeypatch):
    path = write_m4a(tmp_path / "bed.m4a", 3)
    first = music.open_loop(path, 44100, tmp_path / "cache")
    frames = first.frames
    first.close()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(music, "decode_blocks", no_decoding)
    again = music.open_loop(path, 44100, tmp_path / "cache")
    assert again.frames == frames > 2 * 44100 - 3000
    again.close()


@pytest.mark.parametrize("cache", ["writable", "none"])
def test_a_loop_made_now_brings_its_hop_energies(cache, tmp_path, monkeypatch):
    """The levelling measures the loop's hops while making it: loop_hops takes those, also with no cache to
    keep them in, rather than filtering the whole loop again; they agree with a fresh measurement."""
    from voiceguide.loudness import loudness_from_hops

    path = tmp_path / "bed.wav"
    soundfile.write(str(path), tone(12, 44100), 44100)
    cache_dir = tmp_path / "cache" if cache == "writable" else None
    loop = music.open_loop(path, 44100, cache_dir)
    measured = music.loop_energies(loop, 44100)

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(music, "loop_energies", no_measuring)
    hops = music.loop_hops(path, loop, 44100, cache_dir)
    assert hops.shape == measured.shape
    assert abs(loudness_from_hops(hops, 44100) - loudness_from_hops(measured, 44100)) < 0.1
    loop.close()


def test_pyav_is_loaded_only_for_files_libsndfile_cannot_read(tmp_path):
    for ext in ("wav", "flac", "ogg", "mp3"):
        soundfile.write(str(tmp_path / f"bed.{ext}"), tone(2, 44100), 44100)
    write_m4a(tmp_path / "bed.m4a", 2)
    code = (
        "import sys; from pathlib import Path; from voiceguide import music\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "for ext in ('wav', 'flac', 'ogg', 'mp3'):\n"
        "    assert music.probe(folder / f'bed.{ext}') is None, ext\n"
        "    music.decode(folder / f'bed.{ext}', 44100)\n"
        "print('av' in sys.modules)\n"
        "assert music.probe(folder / 'bed.m4a') is None\n"
        "print('av' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
