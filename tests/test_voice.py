"""Voices: the real pyttsx3 path in worker processes, clip processing, and the content-addressed cache."""

from __future__ import annotations

import numpy as np
import pytest

from voiceguide.errors import EngineError
from voiceguide.voice import ClipCache, VoiceOptions, get_engine, prepare_clips
from voiceguide.voice.cache import clip_key
from voiceguide.voice.clips import trim_silence

from .conftest import engine_fixture

SR = 44100


def speech_energy_db(clip: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(clip.astype(np.float64) ** 2)) + 1e-12)


real_engine = engine_fixture("pyttsx3")


def test_real_engine_speaks_with_plausible_length(real_engine, tmp_path):
    text = "Stroke gently from the chin toward the ears, slowly and lightly."
    clips, stats = prepare_clips([text], real_engine, VoiceOptions(rate_wpm=150), ClipCache(tmp_path))
    clip = clips[text].load()[0]
    assert stats.synthesized == 1
    words = len(text.split())
    seconds = len(clip) / SR
    # 11 words at 150 wpm is 4.4 s of talking; espeak lands within a broad but meaningful band.
    assert 0.5 * words * 60 / 150 < seconds < 1.6 * words * 60 / 150
    assert speech_energy_db(clip) > -30
    # Speech has most energy in the voice band, not DC or hiss.
    spectrum = np.abs(np.fft.rfft(clip))
    freqs = np.fft.rfftfreq(len(clip), 1 / SR)
    band = spectrum[(freqs > 80) & (freqs < 4000)].sum() / spectrum.sum()
    assert band > 0.6


def test_rate_changes_take_effect_in_one_worker(real_engine, tmp_path):
    text = "Press lightly on the temples and breathe out slowly."
    cache = ClipCache(tmp_path)
    lengths = {}
    for rate in (100, 250, 100):
        clips, _ = prepare_clips([text], real_engine, VoiceOptions(rate_wpm=rate), cache)
        lengths.setdefault(rate, []).append(clips[text].frames / SR)
    assert lengths[100][0] > 1.8 * lengths[250][0]
    assert lengths[100][0] == pytest.approx(lengths[100][1])


def test_a_workers_first_clip_is_spoken_at_the_asked_rate(tmp_path):
    """pyttsx3 starts espeak at 200 wpm; a worker's first clip once came out a quarter short (spoken at 200, not
    150) when the rate change had not reached espeak yet. Fresh engines, so every worker's first job is tested."""
    from pathlib import Path

    import soundfile

    texts = ["Good morning. Here is a four minute refresh with cool hands and light strokes.", "Cool hands and an open neck."]
    runs = []
    for attempt in range(3):
        engine = get_engine("pyttsx3")
        try:
            out = tmp_path / f"run{attempt}"
            out.mkdir()
            got: dict[str, list[int]] = {}
            # Each text twice: the first job of each worker, then the same text on a warm worker.
            engine.synthesize(texts, VoiceOptions(rate_wpm=150), out, lambda t, p: got.setdefault(t, []).append(soundfile.info(str(p)).frames))
            later = tmp_path / f"later{attempt}"
            later.mkdir()
            engine.synthesize(texts, VoiceOptions(rate_wpm=150), later, lambda t, p: got[t].append(soundfile.info(str(Path(p))).frames))
        finally:
            engine.close()
        runs.append(got)
    for got in runs:
        for text, (first, warm) in got.items():
            assert first == pytest.approx(warm, rel=0.03), (text, first, warm)


def test_many_clips_in_parallel_each_has_its_own_text(real_engine, tmp_path):
    texts = [f"Step {n}. Sweep outward {n} times." for n in range(1, 13)] + ["Sweep gently", "A much longer sentence " * 4]
    clips, stats = prepare_clips(texts, real_engine, VoiceOptions(), ClipCache(tmp_path))
    assert stats.synthesized == len(texts)
    # Clips come back under their own text: 16 words take far longer than 2.
    assert clips["A much longer sentence " * 4].frames > 3 * clips["Sweep gently"].frames
    assert all(speech_energy_db(c.load()[0]) > -35 for c in clips.values())


def test_korean_voice(real_engine, tmp_path):
    text = "얼굴을 부드럽게 마사지하세요."
    clips, _ = prepare_clips([text], real_engine, VoiceOptions(voice="ko", language="ko"), ClipCache(tmp_path))
    assert clips[text].frames / SR > 0.8
    assert speech_energy_db(clips[text].load()[0]) > -30


def test_unknown_voice_is_a_clear_error(real_engine, tmp_path):
    with pytest.raises(EngineError, match="unknown voice 'no-such-voice'"):
        prepare_clips(["hello"], real_engine, VoiceOptions(voice="no-such-voice"), ClipCache(tmp_path))


def test_voices_lists_english_and_korean(real_engine):
    voices = real_engine.voices()
    languages = {lang for v in voices for lang in v.languages}
    assert "en-us" in languages and "ko" in languages


def test_cache_synthesises_only_what_changed(fake_engine, tmp_path):
    cache = ClipCache(tmp_path)
    options = VoiceOptions(rate_wpm=140)
    first = ["one line", "two lines here", "three"]
    _, stats = prepare_clips(first, fake_engine, options, cache)
    assert stats.synthesized == 3
    _, stats = prepare_clips(first, fake_engine, options, cache)
    assert stats.synthesized == 0 and stats.cached == 3
    edited = ["one line", "two lines, edited", "three"]
    _, stats = prepare_clips(edited, fake_engine, options, cache)
    assert stats.texts_synthesized == ["two lines, edited"]
    # Any voice setting is part of the key.
    _, stats = prepare_clips(first, fake_engine, VoiceOptions(rate_wpm=141), cache)
    assert stats.synthesized == 3


def test_cache_key_separates_every_setting():
    base = clip_key("pyttsx3", "v1", "en-us", 150, 1.0, "hello")
    variants = [
        clip_key("other", "v1", "en-us", 150, 1.0, "hello"),
        clip_key("pyttsx3", "v2", "en-us", 150, 1.0, "hello"),
        clip_key("pyttsx3", "v1", "en-gb", 150, 1.0, "hello"),
        clip_key("pyttsx3", "v1", "en-us", 151, 1.0, "hello"),
        clip_key("pyttsx3", "v1", "en-us", 150, 0.9, "hello"),
        clip_key("pyttsx3", "v1", "en-us", 150, 1.0, "hello!"),
    ]
    assert len({base, *variants}) == 7


def test_corrupt_cache_entry_is_resynthesised(fake_engine, tmp_path):
    cache = ClipCache(tmp_path)
    options = VoiceOptions()
    prepare_clips(["hello there"], fake_engine, options, cache)
    key = clip_key("fake", "fake-1", None, options.rate_wpm, options.volume, "hello there", language=options.language)
    cache.path(key).write_bytes(b"RIFF garbage")
    clips, stats = prepare_clips(["hello there"], fake_engine, options, cache)
    assert stats.synthesized == 1 and clips["hello there"].frames > 0


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "x"))
    assert ClipCache().root == tmp_path / "x"


def test_trim_keeps_speech_and_drops_silence():
    sr = 22050
    tone = np.sin(2 * np.pi * 200 * np.arange(sr) / sr).astype(np.float32)
    padded = np.concatenate([np.zeros(sr // 2, np.float32), tone, np.zeros(sr, np.float32)])
    trimmed = trim_silence(padded, sr)
    assert sr <= len(trimmed) <= sr + 0.1 * sr


def test_missing_espeak_data_is_a_clear_error_not_a_dead_process(monkeypatch, tmp_path):
    # Without voice data espeak calls exit(1); only the worker dies, and the user gets a message.
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(tmp_path / "no-data"))
    engine = get_engine("pyttsx3")
    try:
        with pytest.raises(EngineError, match="reinstall voiceguide with pip|install espeak-ng"):
            prepare_clips(["hello"], engine, VoiceOptions(), ClipCache(tmp_path / "c"))
    finally:
        engine.close()
