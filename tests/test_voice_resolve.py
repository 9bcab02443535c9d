"""What the user types for a voice (id, name, language, region tag, any case) -> the engine's own voice id,
and a clip cache that keys on that resolved voice and the language (issue "Ship what we test")."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from voiceguide.errors import UnknownVoiceError
from voiceguide.voice import ClipCache, VoiceInfo, VoiceOptions, get_engine, prepare_clips
from voiceguide.voice import pyttsx3_engine
from voiceguide.voice.resolve import close_matches, resolve_language, resolve_voice

from .conftest import assert_clean_failure, engine_fixture, invoke

SR = 44100
ESPEAK = sys.platform.startswith("linux")


def V(voice_id, name, *languages, priorities=()):
    return VoiceInfo(voice_id, name, tuple(languages), engine="test", priorities=tuple(priorities))


# How espeak-ng 1.52 (the espeakng-loader wheel) lists its English, German, Korean and Chinese voices: the
# id is a path, and en-gb is a *language* of gmw/en, not a voice name.
ESPEAK_152 = [
    V("gmw/de", "German", "de", priorities=[5]),
    V("gmw/en-029", "English (Caribbean)", "en-029", "en", priorities=[5, 10]),
    V("gmw/en", "English (Great Britain)", "en-gb", "en", priorities=[2, 2]),
    V("gmw/en-gb-x-rp", "English (Received Pronunciation)", "en-gb-x-rp", "en-gb", "en", priorities=[5, 4, 5]),
    V("gmw/en-us", "English (America)", "en-us", "en", priorities=[2, 3]),
    V("inc/kok", "Konkani", "kok", priorities=[5]),
    V("ko", "Korean", "ko", priorities=[5]),
    V("roa/fr-be", "French (Belgium)", "fr-be", "fr", priorities=[5, 8]),
    V("roa/fr", "French (France)", "fr-fr", "fr", priorities=[5, 5]),
    V("sit/cmn", "Chinese (Mandarin, latin as English)", "cmn", "zh-cmn", "zh", priorities=[5, 5, 5]),
    V("sit/yue", "Chinese (Cantonese)", "yue", "zh-yue", "zh", priorities=[5, 5, 8]),
]
# An older espeak-ng (1.49-style ids, one language each, as pyttsx3 reports them): en-gb *is* an id there.
ESPEAK_OLD = [
    V("de", "german", "de"),
    V("en-us", "english-us", "en-us"),
    V("en", "english", "en-gb"),
    V("ko", "korean", "ko"),
    V("fr-fr", "french", "fr-fr"),
]
# macOS-style: reverse-DNS ids, underscores in the languages.
MACOS = [
    V("com.apple.voice.compact.en-GB.Daniel", "Daniel", "en_GB"),
    V("com.apple.voice.compact.en-US.Samantha", "Samantha", "en_US"),
    V("com.apple.voice.compact.de-DE.Anna", "Anna", "de_DE"),
    V("com.apple.voice.compact.ko-KR.Yuna", "Yuna", "ko_KR"),
]


def resolved(wanted, voices):
    found = resolve_voice(wanted, voices)
    return found.id if found else None


@pytest.mark.parametrize(
    "voices, expected",
    [
        (ESPEAK_152, {"en-gb": "gmw/en", "ko": "ko", "de": "gmw/de", "en-us": "gmw/en-us", "fr": "roa/fr"}),
        (ESPEAK_OLD, {"en-gb": "en", "ko": "ko", "de": "de", "en-us": "en-us", "fr": "fr-fr"}),
        (
            MACOS,
            {
                "en-gb": "com.apple.voice.compact.en-GB.Daniel",
                "ko": "com.apple.voice.compact.ko-KR.Yuna",
                "de": "com.apple.voice.compact.de-DE.Anna",
                "en-us": "com.apple.voice.compact.en-US.Samantha",
                "fr": None,
            },
        ),
    ],
    ids=["espeak-ng-1.52", "espeak-ng-old", "macos"],
)
def test_language_tags_resolve_on_every_engine_naming(voices, expected):
    for tag, voice_id in expected.items():
        assert resolved(tag, voices) == voice_id, tag
        # Case, `_` versus `-` and a region the engine does not know change nothing.
        for spelling in (tag.upper(), tag.replace("-", "_"), tag.title()):
            assert resolved(spelling, voices) == voice_id, spelling
    for typed in ("ko-KR", "ko_kr", "KO-kr"):
        assert resolved(typed, voices) == expected["ko"]
    assert resolved("de-AT", voices) == expected["de"]
    assert resolved("EN_gb", voices) == expected["en-gb"]


def test_ids_and_names_come_first_then_the_best_ranked_language():
    assert resolved("GMW/EN-US", ESPEAK_152) == "gmw/en-us"
    assert resolved("english (america)", ESPEAK_152) == "gmw/en-us"
    # Several voices speak en / fr / zh: espeak's priorities choose (gmw/en 2 beats en-us 3 and en-029 10).
    assert resolved("en", ESPEAK_152) == "gmw/en"
    assert resolved("fr-CH", ESPEAK_152) == "roa/fr"  # unknown region: French, the best-ranked fr voice
    assert resolved("zh", ESPEAK_152) == "sit/cmn"
    assert resolved("zh-Hant-TW", ESPEAK_152) == "sit/cmn"
    assert resolved("en-gb-x-rp", ESPEAK_152) == "gmw/en-gb-x-rp"
    # The last part of an id works too (older scripts say --voice en-us for gmw/en-us).
    assert resolve_language("kok", ESPEAK_152).id == "inc/kok"


def test_unknown_voices_stay_unknown_and_get_suggestions():
    for typed in ("no-such-voice", "klingon", "xx", "en-uss", "qqzzxx", "", "english"):
        assert resolve_voice(typed, ESPEAK_152) is None, typed
    assert close_matches("en-uss", ESPEAK_152)[0] == "en-us"
    assert close_matches("EN_USS", ESPEAK_152)[0] == "en-us"
    # A routine's language falls back further (any subtags), but an unknown base language finds nothing.
    assert resolve_language("en-gb-oxendict", ESPEAK_152).id == "gmw/en"
    assert resolve_language("xx", ESPEAK_152) is None


# ----- the real pyttsx3 engine


real_engine = engine_fixture("pyttsx3")


def speech_rms(clip) -> float:
    samples = clip.load()[0].astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


def test_every_listed_id_name_and_language_resolves(real_engine):
    voices = real_engine.voices()
    ids = {v.id for v in voices}
    assert len(voices) > 20
    for voice in voices:
        assert real_engine.resolved_voice(VoiceOptions(voice=voice.id)) == voice.id
        by_name = real_engine.resolved_voice(VoiceOptions(voice=voice.name))
        # Two voices may share a name; then the name picks the first, which has that name.
        assert by_name in ids and next(v for v in voices if v.id == by_name).name.lower() == voice.name.lower()
        for language in voice.languages:
            by_language = real_engine.resolved_voice(VoiceOptions(voice=language))
            assert by_language in ids, (voice.id, language)
            assert language.lower() in [lang.lower() for lang in next(v for v in voices if v.id == by_language).languages]


@pytest.mark.skipif(not ESPEAK, reason="espeak-ng's own set-voice call; other platforms list other voices")
def test_the_engine_accepts_every_listed_id(real_engine):
    """Resolution hands the engine only listed ids; espeak must accept each one (the call pyttsx3 makes)."""
    ids = [v.id for v in real_engine.voices()]
    script = (
        "import sys\n"
        "from voiceguide.voice import espeak_setup\n"
        "espeak_setup.prepare()\n"
        "import pyttsx3\n"
        "pyttsx3.init()\n"
        "from pyttsx3.drivers import _espeak\n"
        "for line in sys.stdin.read().splitlines():\n"
        "    print(line, _espeak.SetVoiceByName(line.encode()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(ids), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    codes = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    assert set(codes) == set(ids)
    refused = [voice_id for voice_id, code in codes.items() if code != "0"]
    assert not refused


def test_region_tags_case_and_names_speak(real_engine, shared_real_cache):
    """The issue's spellings, and a name and an id of the same voice, each give a non-silent clip."""
    cache = ClipCache(shared_real_cache)
    text = "Breathe out slowly."
    british = next(v for v in real_engine.voices() if v.id == real_engine.resolved_voice(VoiceOptions(voice="en-gb")))
    spellings = ["en-gb", "en_GB", "EN-gb", british.id, british.name, "ko-KR", "de-AT", "fr-FR", "zh"]
    for typed in spellings:
        clips, _ = prepare_clips([text], real_engine, VoiceOptions(voice=typed), cache)
        assert clips[text].frames > 0.4 * SR, typed
        assert speech_rms(clips[text]) > 0.02, typed
    assert real_engine.resolved_voice(VoiceOptions(voice="ko-KR")) == real_engine.resolved_voice(VoiceOptions(voice="ko"))
    assert real_engine.resolved_voice(VoiceOptions(voice="de-AT")) == real_engine.resolved_voice(VoiceOptions(voice="de"))


def test_language_region_picks_the_voice(real_engine):
    for language, same_as in (("en-GB", "en-gb"), ("ko-KR", "ko"), ("de_AT", "de"), ("EN", "en-us")):
        assert real_engine.resolved_voice(VoiceOptions(language=language)) == real_engine.resolved_voice(VoiceOptions(voice=same_as))


def test_unknown_voice_exits_2_with_suggestions_from_the_installed_voices(tmp_path):
    result = invoke("say", "Hello.", "--voice", "en-uss", "-o", tmp_path / "x.wav")
    assert_clean_failure(result, 2)
    assert "unknown voice 'en-uss' (did you mean 'en-us'" in result.output
    result = invoke("say", "Hello.", "--voice", "ko-KRR", "-o", tmp_path / "x.wav")
    assert_clean_failure(result, 2)
    assert not (tmp_path / "x.wav").exists()


def test_readme_say_example_works(tmp_path):
    out = tmp_path / "preview.mp3"
    result = invoke("say", "Breathe out slowly.", "--voice", "en-gb", "--rate", "130", "--preset", "soft", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000


ROUTINE = "title: T\nmusic: none\nlead_in: 1s\n{head}sections:\n  - title: A\n    steps:\n      - say: Rest your hands.\n        hold: 1s\n"


@pytest.mark.parametrize("head", ["voice: en-gb\n", "language: en-GB\n", "language: ko-KR\n", "voice: {name: EN_gb}\nlanguage: de-AT\n"])
def test_routine_voice_and_language_with_region_tags_render(head, write_routine, tmp_path):
    out = tmp_path / "out.wav"
    result = invoke("render", write_routine(ROUTINE.format(head=head)), "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert out.exists()


def test_unknown_routine_language_warns_and_renders_with_the_default_voice(write_routine, tmp_path, monkeypatch, real_engine):
    monkeypatch.setattr(pyttsx3_engine, "_WARNED", set())
    out = tmp_path / "out.wav"
    result = invoke("render", write_routine(ROUTINE.format(head="language: xx\n")), "-o", out, "-q")
    assert result.exit_code == 0, result.output
    default = real_engine.resolved_voice(VoiceOptions())
    assert "warning: no pyttsx3 voice speaks the language 'xx'" in result.output
    assert f"speaking with the default voice {default}" in result.output
    assert out.exists()


def test_a_routine_language_that_is_no_language_code_is_refused_at_its_line(write_routine):
    routine = write_routine(ROUTINE.format(head="language: klingon\n"))
    result = invoke("check", routine)
    assert_clean_failure(result, 2)
    assert f"{routine}:4:11: language 'klingon' is not a language code" in result.output


def test_unknown_routine_voice_is_refused(write_routine, tmp_path):
    result = invoke("render", write_routine(ROUTINE.format(head="voice: en-gbb\n")), "-o", tmp_path / "o.wav", "-q")
    assert_clean_failure(result, 2)
    assert "unknown voice 'en-gbb' (did you mean 'en-gb'" in result.output


def test_voice_list_is_asked_for_once_per_engine(monkeypatch):
    engine = get_engine("pyttsx3")
    asked = []
    original = engine._voices_of
    monkeypatch.setattr(engine, "_voices_of", lambda worker: asked.append(1) or original(worker))
    try:
        for options in (VoiceOptions(), VoiceOptions(voice="en-gb"), VoiceOptions(language="ko-KR"), VoiceOptions()):
            engine.voice_identity(options)
        engine.voices()
    finally:
        engine.close()
    assert len(asked) == 1


# ----- the clip cache keys on the voice that really speaks


def test_german_routine_never_gets_the_english_clips(real_engine, tmp_path):
    texts = ["Eins.", "Zwei.", "Drei."]
    cache = ClipCache(tmp_path / "cache")  # empty, shared by the two languages
    english, stats = prepare_clips(texts, real_engine, VoiceOptions(language="en"), cache)
    assert stats.synthesized == 3
    german, stats = prepare_clips(texts, real_engine, VoiceOptions(language="de"), cache)
    assert stats.synthesized == 3 and stats.cached == 0
    french, stats = prepare_clips(texts, real_engine, VoiceOptions(language="fr"), cache)
    assert stats.synthesized == 3 and stats.cached == 0
    # German and English really sound different: the clips differ.
    assert any(english[t].frames != german[t].frames for t in texts)
    # The same settings again: everything from the cache.
    _, stats = prepare_clips(texts, real_engine, VoiceOptions(language="de"), cache)
    assert stats.synthesized == 0 and stats.cached == 3
    # A voice spelled another way that resolves to the same voice shares the clips.
    _, stats = prepare_clips(texts, real_engine, VoiceOptions(voice="de-AT", language="de"), cache)
    assert stats.cached == 3


def test_spellings_of_one_voice_share_clips(real_engine, tmp_path):
    cache = ClipCache(tmp_path / "cache")
    text = "Breathe out slowly."
    british = real_engine.resolved_voice(VoiceOptions(voice="en-gb"))
    _, stats = prepare_clips([text], real_engine, VoiceOptions(voice="en-gb"), cache)
    assert stats.synthesized == 1
    for typed in ("EN_gb", british, "en-GB"):
        _, stats = prepare_clips([text], real_engine, VoiceOptions(voice=typed), cache)
        assert stats.cached == 1, typed
    # No voice and language en is the US voice, named or not.
    _, stats = prepare_clips([text], real_engine, VoiceOptions(), cache)
    assert stats.synthesized == 1
    _, stats = prepare_clips([text], real_engine, VoiceOptions(voice="en-us"), cache)
    assert stats.cached == 1


def test_render_english_then_german_synthesises_the_german(write_routine, tmp_path, fake_engine):
    """Through the CLI, with the deterministic engine: the language alone must change the key."""
    body = "music: none\nlead_in: 1s\nintro: Eins zwei drei.\nsections:\n  - title: A\n    steps:\n      - say: Vier fünf.\n        hold: 1s\n"
    english = write_routine("title: E\n" + body, "en.yaml")
    german = write_routine("title: G\nlanguage: de\n" + body, "de.yaml")
    for routine, expected in ((english, 3), (german, 3), (german, 0)):  # intro, section title, step
        fake_engine.calls.clear()
        result = invoke("render", routine, "--engine", "fake", "-o", tmp_path / f"{routine.stem}.wav", "-q", "--force")
        assert result.exit_code == 0, result.output
        assert len(fake_engine.calls) == expected, (routine.name, fake_engine.calls)


def test_cache_key_holds_language_and_resolved_voice():
    from voiceguide.voice.cache import clip_key

    base = clip_key("pyttsx3", "v1", "gmw/en-us", 150, 1.0, "hello", language="en")
    assert clip_key("pyttsx3", "v1", "gmw/en-us", 150, 1.0, "hello", language="de") != base
    assert clip_key("pyttsx3", "v1", "gmw/de", 150, 1.0, "hello", language="en") != base
    # Spellings of one language are one key.
    assert clip_key("pyttsx3", "v1", "gmw/en", 150, 1.0, "hi", language="en_GB") == clip_key("pyttsx3", "v1", "gmw/en", 150, 1.0, "hi", language="EN-gb")


def test_other_platforms_keep_the_system_voice_for_english_and_pick_one_for_other_languages(monkeypatch):
    """SAPI5 / macOS: no voice and an English routine is the user's own default voice (None), as before."""
    engine = pyttsx3_engine.Pyttsx3Engine()
    engine._voice_list = MACOS
    monkeypatch.setattr(pyttsx3_engine, "_is_espeak", lambda: False)
    monkeypatch.setattr(pyttsx3_engine, "_WARNED", set())
    assert engine.resolved_voice(VoiceOptions(language="en")) is None
    assert engine.resolved_voice(VoiceOptions(language="en-GB")) is None
    assert engine.resolved_voice(VoiceOptions(language="de-AT")) == "com.apple.voice.compact.de-DE.Anna"
    assert engine.resolved_voice(VoiceOptions(voice="en_GB")) == "com.apple.voice.compact.en-GB.Daniel"
    with pytest.warns(UserWarning, match="no pyttsx3 voice speaks the language 'fr'.*the system default"):
        assert engine.resolved_voice(VoiceOptions(language="fr")) is None
    with pytest.raises(UnknownVoiceError, match="did you mean 'Daniel'"):
        engine.resolved_voice(VoiceOptions(voice="Danial"))
