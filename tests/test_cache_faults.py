"""The clip cache under faults (issue 13): a full disk, entries altered in place, temporaries of killed
processes, two renders storing one clip. The cache may cost time, never the session."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
import wave

import numpy as np
import pytest
import soundfile

import voiceguide
from voiceguide import stale
from voiceguide.voice import cache as cache_module
from voiceguide.voice.cache import ClipCache, seal_wav, wav_is_sealed
from voiceguide.voice.clips import small_arrays, small_bytes

from .conftest import SMALL_ROUTINE, invoke, write_fake_speech


def _render(routine, out, fake_engine, cache_dir):
    result = voiceguide.render(routine, out, engine="fake", cache=ClipCache(cache_dir), force=True)
    samples, _ = soundfile.read(str(out), dtype="float32")
    return result, samples


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def first_render(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    cache_dir = tmp_path / "cache"
    result, samples = _render(routine, tmp_path / "first.wav", fake_engine, cache_dir)
    assert result.clips_synthesized > 3
    return routine, cache_dir, samples


def test_a_wav_with_random_bytes_inside_is_synthesised_again(first_render, fake_engine, tmp_path):
    routine, cache_dir, first = first_render
    wavs = sorted(cache_dir.rglob("*.wav"))
    victim = wavs[len(wavs) // 2]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = np.random.default_rng(3).integers(0, 256, 64, dtype=np.uint8).tobytes()
    victim.write_bytes(bytes(data))  # still a well-formed WAV of the same length: only the digest can tell
    assert not wav_is_sealed(victim)
    result, again = _render(routine, tmp_path / "again.wav", fake_engine, cache_dir)
    assert result.clips_synthesized == 1
    assert np.array_equal(again, first)


@pytest.mark.parametrize("damage", ["garbage-blocks", "huge-frames", "garbage-hops", "huge-frames-digested", "nan-hops-digested"])
def test_a_processed_clip_with_altered_arrays_is_processed_again(damage, first_render, fake_engine, tmp_path):
    routine, cache_dir, first = first_render
    measured = list(cache_dir.rglob("*.meas"))
    assert measured
    for path in measured:
        data = path.read_bytes()
        arrays = {name: array.copy() for name, array in small_arrays(data).items()}
        rng = np.random.default_rng(5)
        if damage == "garbage-blocks":
            arrays["block_peak"] = rng.uniform(0, 1, arrays["block_peak"].shape).astype(arrays["block_peak"].dtype)
        elif damage.startswith("huge-frames"):
            arrays["frames"] = np.asarray(10**11)
        elif damage.startswith("nan-hops"):
            arrays["hops"][len(arrays["hops"]) // 2] = np.nan
        else:
            arrays["hops"] = rng.uniform(0, 1, arrays["hops"].shape).astype(arrays["hops"].dtype)
        altered = small_bytes(arrays)
        if damage.endswith("digested"):
            # A digest that matches (anyone can compute one): the lengths must still agree with each other.
            path.write_bytes(altered)
        else:
            path.write_bytes(altered[:-16] + data[-16:])  # the stored digest is kept: it no longer matches
    result, again = _render(routine, tmp_path / "again.wav", fake_engine, cache_dir)
    assert result.clips_synthesized == 0  # the WAVs are intact: only the processing is redone
    assert np.array_equal(again, first)


def test_the_first_complete_entry_stays(tmp_path):
    """Two renders storing one clip: the second keeps the first's, so a clip never changes under a reader."""
    cache = ClipCache(tmp_path / "cache")
    key = "ab" + "0" * 62
    first, second = tmp_path / "1.wav", tmp_path / "2.wav"
    write_fake_speech(first, "one two", 150, 1.0)
    write_fake_speech(second, "one two three", 150, 1.0)
    stored = cache.put(key, first)
    before = stored.read_bytes()
    assert cache.put(key, second) == stored
    assert stored.read_bytes() == before and wav_is_sealed(stored)
    assert not first.exists() and not second.exists()
    assert cache.get(key) == stored


def test_a_sealed_wav_is_still_a_wav(tmp_path):
    path = tmp_path / "c.wav"
    write_fake_speech(path, "a few words here", 150, 1.0)
    plain, rate = soundfile.read(str(path))
    seal_wav(path)
    assert wav_is_sealed(path)
    with wave.open(str(path)) as w:
        assert w.getnframes() == len(plain)
    sealed, _ = soundfile.read(str(path))
    assert np.array_equal(sealed, plain)
    with open(path, "r+b") as f:  # cut short
        f.truncate(path.stat().st_size - 10)
    assert not wav_is_sealed(path)


def test_a_full_disk_is_found_by_the_probe_and_the_render_goes_on(write_routine, fake_engine, tmp_path, monkeypatch):
    """An empty probe file needs no blocks, so a full disk passed it; the probe now writes real bytes."""
    import tempfile

    real = tempfile.NamedTemporaryFile
    full_dir = tmp_path / "full-cache"

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            if data:
                raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def probe(*args, **kwargs):
        handle = real(*args, **kwargs)
        return FullDisk(handle) if str(kwargs.get("dir", "")).startswith(str(full_dir)) else handle

    monkeypatch.setattr(cache_module.tempfile, "NamedTemporaryFile", probe)
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(full_dir))
    result = invoke("render", write_routine(SMALL_ROUTINE), "-o", tmp_path / "s.wav", "--engine", "fake")
    assert result.exit_code == 0, result.output
    assert "warning: clip cache" in result.output and "No space left on device" in result.output
    assert soundfile.info(str(tmp_path / "s.wav")).duration > 10
    assert not list(full_dir.rglob("*.wav"))  # nothing went to the full disk


def test_temporaries_of_killed_processes_are_removed_and_live_ones_kept(first_render, fake_engine, tmp_path):
    routine, cache_dir, _ = first_render
    dead = _dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        subdir = next(p for p in cache_dir.iterdir() if p.is_dir() and len(p.name) == 2)
        (cache_dir / "music").mkdir(exist_ok=True)
        left = {
            "scratch": cache_dir / f".tmp-{dead}-k2j3h4",
            "processed": subdir / f".x.plain.44100.v3.npz.{dead}-0a1b2c3d.tmp",
            "loop": cache_dir / "music" / f".abc.loop2.s16.{dead}.140001.tmp",
            "hops": cache_dir / "music" / f"abc.{dead}.tmp.npy",
            "part": tmp_path / f".again.wav.{dead}-00ff00ff.part",
        }
        kept = {
            "live-scratch": cache_dir / f".tmp-{alive.pid}-aaaa",
            "live-part": tmp_path / f".again.wav.{alive.pid}-0badcafe.part",
            "other-output": tmp_path / f".other.wav.{dead}-00ff00ff.part",  # not this output's: left alone
            "not-ours": cache_dir / "notes.txt",
        }
        for path in [*left.values(), *kept.values()]:
            if "scratch" in path.name or path.name.startswith(".tmp-"):
                path.mkdir()
                (path / "clip.wav").write_bytes(b"x" * 100)
            else:
                path.write_bytes(b"x" * 100)
        _render(routine, tmp_path / "again.wav", fake_engine, cache_dir)
        for name, path in left.items():
            assert not path.exists(), name
        for name, path in kept.items():
            assert path.exists(), name
    finally:
        alive.kill()
        alive.wait()


def test_a_reused_pid_does_not_keep_a_temporary_for_ever(tmp_path):
    """The pid now belongs to a process that started after the file was written: its maker is gone."""
    path = tmp_path / f".s.mp3.{os.getppid()}-abcdef01.part"
    path.write_bytes(b"x")
    long_ago = time.time() - 10 * 365 * 86400
    os.utime(path, (long_ago, long_ago))
    if stale._process_start_s(os.getppid()) is None:
        pytest.skip("process start times are not known on this system")
    assert stale.sweep(tmp_path, stale.temp_pattern(".s.mp3.", ".part")) == 1
    assert not path.exists()


def test_measurements_round_trip_and_refuse_anything_but_a_whole_file():
    arrays = dict(
        frames=np.asarray(9000), peak=np.asarray(np.float32(0.7)), hops=np.arange(3.0),
        block_energy=np.ones(315, np.float32), block_peak=np.full(315, 0.5, np.float32),
    )
    data = small_bytes(arrays)
    back = small_arrays(data)
    assert {n: (a.dtype, a.shape) for n, a in back.items()} == {n: (a.dtype, a.shape) for n, a in arrays.items()}
    assert all(np.array_equal(back[n], arrays[n]) for n in arrays)
    assert small_arrays(data[:-1]) is None and small_arrays(data[1:]) is None and small_arrays(b"") is None
    assert small_arrays(np.random.default_rng(1).integers(0, 256, len(data), dtype=np.uint8).tobytes()) is None


@pytest.mark.parametrize("dtype,shape", [("<U4", [1]), ("|O", [1]), ("<f8", [-1]), ("<f8", [10**12])])
def test_measurements_with_a_matching_digest_but_no_numbers_of_their_size_are_refused(dtype, shape):
    """Anyone can compute the digest: strings, objects, a -1 (the rest of the file) or a size the file does not
    hold are still refused."""
    import hashlib
    import json

    from voiceguide.voice.clips import _SMALL, _SMALL_MAGIC

    header = json.dumps([[name, dtype, shape] for name in _SMALL]).encode()
    body = _SMALL_MAGIC + len(header).to_bytes(4, "little") + header + b"\0" * 80
    assert small_arrays(body + hashlib.blake2b(body, digest_size=16).digest()) is None
