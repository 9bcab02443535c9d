"""The clip cache kept compact and bounded (issue 18): 16-bit entries at the engine's rate, verified on read,
least recently used entries evicted under a cap, never an entry a live render uses."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import soundfile

import voiceguide
from voiceguide.voice import ClipCache, VoiceOptions, prepare_clips
from voiceguide.voice.cache import wav_is_sealed
from voiceguide.voice.clips import trim_bounds
from voiceguide.voice.eviction import MB, enforce_cap, evict, leased, usage

from .conftest import FAKE_RATE, SMALL_ROUTINE, fake_speech, invoke


def _entries(cache_dir):
    return sorted(cache_dir.glob("??/*.wav"))


def _speech_s(clips) -> float:
    return sum(c.frames for c in clips.values()) / 44100


def test_an_entry_is_the_engines_audio_at_16_bit_sample_for_sample(fake_engine, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    clips, _ = prepare_clips(["Sweep the jaw line slowly."], fake_engine, VoiceOptions(), cache)
    (entry,) = _entries(cache.root)
    stored, rate = soundfile.read(str(entry), dtype="int16")
    info = soundfile.info(str(entry))
    assert (rate, info.subtype, info.channels) == (FAKE_RATE, "PCM_16", 1)
    # What the engine wrote, less the silence the clip loses anyway when it is processed (trim_bounds).
    expected = np.round(fake_speech("Sweep the jaw line slowly.", 150) * 32767).astype(np.int16)
    start, end = trim_bounds(expected.astype(np.float32) / 32768, FAKE_RATE)
    assert 0 < start and end < len(expected)
    assert np.array_equal(stored, expected[start:end])
    assert wav_is_sealed(entry)


def test_a_float_wav_is_stored_as_16_bit_at_its_own_rate(tmp_path):
    """An engine that writes 32-bit float at 24 kHz (as Kokoro does) is stored at half the size, same rate."""
    from voiceguide.voice.cache import compact_wav

    rng = np.random.default_rng(1)
    samples = (0.3 * np.sin(2 * np.pi * 220 * np.arange(24000) / 24000) + 0.01 * rng.standard_normal(24000)).astype(np.float32)
    source = tmp_path / "clip.wav"
    soundfile.write(str(source), samples, 24000, subtype="FLOAT")
    cache = ClipCache(tmp_path / "cache")
    stored = cache.put("cd" + "1" * 62, source)
    info = soundfile.info(str(stored))
    assert (info.samplerate, info.subtype) == (24000, "PCM_16")
    back, _ = soundfile.read(str(stored), dtype="float32")
    assert np.max(np.abs(back - samples)) <= 1 / 32767  # within one step of 16 bits
    assert wav_is_sealed(stored) and cache.get("cd" + "1" * 62) == stored
    compact_wav(stored)  # already 16-bit and trimmed: left as it is, seal and all
    assert wav_is_sealed(stored)


def test_a_render_keeps_under_66_kB_per_second_of_speech(write_routine, fake_engine, tmp_path, isolated_cache):
    result = voiceguide.render(write_routine(SMALL_ROUTINE), tmp_path / "s.wav", engine="fake")
    clips, _ = prepare_clips(
        sorted({e.text for e in result.plan.events if e.type == "speech"}), fake_engine, VoiceOptions(), ClipCache()
    )
    found = usage(isolated_cache, tmp_path / "no-models")
    count, size = found.of("clips")
    assert count == len(clips) > 3
    per_s = size / _speech_s(clips)
    assert per_s <= 66_000, f"{per_s / 1000:.1f} kB per second of speech"


def test_a_warm_render_is_the_cold_render_sample_for_sample(write_routine, fake_engine, tmp_path):
    routine = write_routine(SMALL_ROUTINE)
    cold = voiceguide.render(routine, tmp_path / "cold.wav", engine="fake")
    warm = voiceguide.render(routine, tmp_path / "warm.wav", engine="fake")
    assert cold.clips_synthesized > 3 and warm.clips_synthesized == 0
    a, _ = soundfile.read(str(tmp_path / "cold.wav"), dtype="int16")
    b, _ = soundfile.read(str(tmp_path / "warm.wav"), dtype="int16")
    assert np.array_equal(a, b)


def test_an_altered_entry_is_never_served(fake_engine, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    prepare_clips(["Press gently."], fake_engine, VoiceOptions(), cache)
    (entry,) = _entries(cache.root)
    data = bytearray(entry.read_bytes())
    data[200] ^= 0x01  # one bit of one sample
    entry.write_bytes(bytes(data))
    clips, stats = prepare_clips(["Press gently."], fake_engine, VoiceOptions(), cache)
    assert stats.synthesized == 1 and wav_is_sealed(entry)


# --- eviction ------------------------------------------------------------------------------------------


def _fill(cache_dir, names_and_ages, size=10_000):
    """Entries (a WAV and its measurements) of `size` bytes each, last used `age` seconds ago."""
    now = time.time()
    for name, age in names_and_ages:
        folder = cache_dir / name[:2]
        folder.mkdir(parents=True, exist_ok=True)
        for suffix, part in ((".wav", size - 1000), (".plain.44100.v5.meas", 1000)):
            path = folder / f"{name}{suffix}"
            path.write_bytes(b"x" * part)
            os.utime(path, (now - age, now - age))


def _key(i: int) -> str:
    return f"{i:02x}" + "a" * 62


def test_least_recently_used_entries_go_first(tmp_path):
    cache = ClipCache(tmp_path / "cache")
    _fill(cache.root, [(_key(1), 50), (_key(2), 10), (_key(3), 40), (_key(4), 20)])
    result = evict(cache, 25_000, models_dir=tmp_path / "models")
    assert result.entries == 2 and result.total_bytes == 20_000
    left = {p.name.split(".")[0] for p in cache.root.glob("??/*")}
    assert left == {_key(2), _key(4)}  # the two used most recently
    assert not list(cache.root.glob("??/*.meas")) or all(p.name.split(".")[0] in left for p in cache.root.glob("??/*.meas"))


def test_touching_an_entry_on_use_keeps_it(fake_engine, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    prepare_clips(["old one", "old two"], fake_engine, VoiceOptions(), cache)
    long_ago = time.time() - 3600
    for path in cache.root.glob("??/*"):
        os.utime(path, (long_ago, long_ago))
    prepare_clips(["old two"], fake_engine, VoiceOptions(), cache)  # a cache hit: now the most recent
    one = usage(cache.root, tmp_path / "models").of("clips")[1] // 2
    evict(cache, one + 100, models_dir=tmp_path / "models")
    _, stats = prepare_clips(["old two"], fake_engine, VoiceOptions(), cache)
    assert stats.cached == 1
    _, stats = prepare_clips(["old one"], fake_engine, VoiceOptions(), cache)
    assert stats.synthesized == 1


def test_music_loops_count_and_models_go_only_last_and_only_when_asked(tmp_path):
    cache = ClipCache(tmp_path / "cache")
    models = tmp_path / "models"
    models.mkdir()
    (models / "voice.onnx").write_bytes(b"m" * 50_000)
    os.utime(models / "voice.onnx", (1, 1))  # the oldest thing of all
    (cache.root / "music").mkdir()
    (cache.root / "music" / ("b" * 64 + ".loop2.s16")).write_bytes(b"l" * 30_000)
    _fill(cache.root, [(_key(1), 10)])
    found = usage(cache.root, models)
    assert [found.of(k) for k in ("clips", "music", "models")] == [(1, 10_000), (1, 30_000), (1, 50_000)]
    after = evict(cache, 0, models_dir=models)  # as after a render: models are kept
    assert after.total_bytes == 50_000 and (models / "voice.onnx").exists()
    evict(cache, 0, models=True, models_dir=models)  # prune / clear
    assert not (models / "voice.onnx").exists()


def test_a_live_renders_lease_protects_its_entries_and_a_dead_ones_does_not(tmp_path):
    cache = ClipCache(tmp_path / "cache")
    _fill(cache.root, [(_key(1), 30), (_key(2), 20), (_key(3), 10)])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (cache.root / f".tmp-{alive.pid}-0a0b0c0d.lease").write_text(_key(1) + "\n")
        (cache.root / f".tmp-{dead.pid}-0a0b0c0e.lease").write_text(_key(2) + "\n")
        assert leased(cache.root) == {_key(1)}
        result = evict(cache, 0, models_dir=tmp_path / "models")
        assert result.kept_in_use == 1
        assert [p.name.split(".")[0] for p in cache.root.glob("??/*.wav")] == [_key(1)]
    finally:
        alive.kill()
        alive.wait()


def test_this_processs_lease_holds_until_the_outermost_ends(tmp_path):
    cache = ClipCache(tmp_path / "cache")
    _fill(cache.root, [(_key(1), 30), (_key(2), 20)])
    with cache.lease():
        with cache.lease():
            cache.use([_key(1)])
        evict(cache, 0, models_dir=tmp_path / "models")
        assert [p.name.split(".")[0] for p in cache.root.glob("??/*.wav")] == [_key(1)]
        assert len(list(cache.root.glob(".tmp-*.lease"))) == 1
    assert not list(cache.root.glob(".tmp-*.lease"))
    evict(cache, 0, models_dir=tmp_path / "models")
    assert not list(cache.root.glob("??/*.wav"))


def test_the_cap_is_enforced_after_a_render_and_spares_what_it_used(write_routine, fake_engine, tmp_path, isolated_cache):
    """cache_max_mb: 0 in the config: the previous routine's clips go, this render's stay."""
    other = write_routine(SMALL_ROUTINE.replace("Rest your hands.", "Rest your hands now.").replace("Neck", "Throat"), "other.yaml")
    assert invoke("render", other, "-o", tmp_path / "a.wav", "--engine", "fake", "-q").exit_code == 0
    first = {p.name for p in isolated_cache.glob("??/*.wav")}
    config = tmp_path / "config.yaml"
    config.write_text("cache_max_mb: 0\n")
    routine = write_routine(SMALL_ROUTINE)
    result = invoke("render", routine, "-o", tmp_path / "b.wav", "--engine", "fake", "-q", env={"VOICEGUIDE_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    second = {p.name for p in isolated_cache.glob("??/*.wav")}
    assert second and not second & (first - second)  # only this render's clips are left
    again = voiceguide.render(routine, tmp_path / "c.wav", engine="fake", force=True)
    assert again.clips_synthesized == 0
    assert not list(isolated_cache.glob(".tmp-*"))  # the lease is gone with the render


def test_enforce_cap_never_fails(tmp_path, monkeypatch):
    cache = ClipCache(tmp_path / "cache")

    def broken(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("voiceguide.voice.eviction.usage", broken)
    assert enforce_cap(cache, 1) is None
    assert MB == 1_000_000
