"""The piper engine with the real bundled joe voice: speech, rate, cache identity, voices, errors, a render."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from voiceguide.errors import UnknownVoiceError
from voiceguide.voice import ENGINES, ClipCache, VoiceOptions, get_engine, prepare_clips
from voiceguide.voice.cache import clip_key
from voiceguide.voice.piper_engine import bundled_voice, length_scale, sentence_silence_s

from .conftest import FakeEngine, assert_clean_failure, engine_fixture, invoke, run_cli_after

SR = 44100
pytest.importorskip("piper", reason='the neural extra: pip install -e ".[test,neural]"')


piper_engine = engine_fixture("piper")


@pytest.fixture(scope="module")
def piper_cache(tmp_path_factory):
    return ClipCache(tmp_path_factory.mktemp("piper-cache"))


@pytest.fixture
def joe_copy(tmp_path):
    """A second voice on disk: the joe model linked under another name, with its own (en_GB) config."""
    joe = bundled_voice()
    folder = tmp_path / "voices"
    folder.mkdir()
    model = folder / "en_GB-copy-medium.onnx"
    model.symlink_to(joe.model)
    config = json.loads(joe.config.read_text(encoding="utf-8"))
    config["language"]["code"] = "en_GB"
    model.with_name(model.name + ".json").write_text(json.dumps(config), encoding="utf-8")
    return model


def test_clip_has_speech_energy_in_the_voice_band(piper_engine, piper_cache):
    text = "Stroke gently from the chin toward the ears, slowly and lightly."
    clips, stats = prepare_clips([text], piper_engine, VoiceOptions(), piper_cache)
    clip = clips[text].load()[0].astype(np.float64)
    assert stats.synthesized == 1
    assert 20 * np.log10(np.sqrt(np.mean(clip**2))) > -30
    spectrum = np.abs(np.fft.rfft(clip))
    freqs = np.fft.rfftfreq(len(clip), 1 / SR)
    assert spectrum[(freqs > 80) & (freqs < 4000)].sum() / spectrum.sum() > 0.6


def test_length_follows_the_rate(piper_engine, piper_cache):
    text = "Press lightly on the temples and breathe out slowly through the mouth."
    words = len(text.split())
    seconds = {}
    for rate_wpm in (100, 200):
        clips, _ = prepare_clips([text], piper_engine, VoiceOptions(rate_wpm=rate_wpm), piper_cache)
        seconds[rate_wpm] = clips[text].frames / SR
        # The calibration holds on a sentence it was not fitted on (within 20%).
        assert 60 * words / seconds[rate_wpm] == pytest.approx(rate_wpm, rel=0.2)
    assert 1.7 < seconds[100] / seconds[200] < 2.3


def test_rate_maps_to_length_scale_and_sentence_pauses():
    assert length_scale(100) > length_scale(150) > length_scale(200) > length_scale(450) > 0
    assert length_scale(150) == pytest.approx(1.59, abs=0.01)
    assert sentence_silence_s(100) == pytest.approx(2 * sentence_silence_s(200))


def test_cache_key_separates_engines_and_voice_models(piper_engine, joe_copy, monkeypatch):
    text, options = "Rest your hands.", VoiceOptions()
    assert clip_key("pyttsx3", "v", None, 150, 1.0, text) != clip_key("piper", "v", None, 150, 1.0, text)
    joe = piper_engine.voice_identity(options)
    other = piper_engine.voice_identity(VoiceOptions(voice=str(joe_copy)))
    assert joe != other
    # The same path holding a different model (here: a changed config) is a different voice to the cache.
    config = joe_copy.with_name(joe_copy.name + ".json")
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert get_engine("piper").voice_identity(VoiceOptions(voice=str(joe_copy))) != other


def test_voices_lists_bundled_and_folder_voices_by_engine(joe_copy):
    result = invoke("voices", env={"VOICEGUIDE_PIPER_VOICES": str(joe_copy.parent)})
    assert result.exit_code == 0, result.output
    piper_lines = [line for line in result.output.splitlines() if line.startswith("piper ")]
    assert any("en_US-joe-medium" in line and "bundled" in line for line in piper_lines)
    assert any("en_GB-copy-medium" in line and "en-gb" in line for line in piper_lines)
    assert any(line.startswith("pyttsx3 ") for line in result.output.splitlines())


def test_user_voice_by_path_and_by_language(piper_engine, piper_cache, joe_copy, monkeypatch):
    monkeypatch.setenv("VOICEGUIDE_PIPER_VOICES", str(joe_copy.parent))
    text = "Rest."
    clips, _ = prepare_clips([text], piper_engine, VoiceOptions(voice=str(joe_copy)), piper_cache)
    assert clips[text].frames > 0.1 * SR
    assert get_engine("piper")._voice(VoiceOptions(language="en-gb")).name == "en_GB-copy-medium"
    assert get_engine("piper")._voice(VoiceOptions(language="en")).name == "en_US-joe-medium"


def test_region_tags_and_case_pick_piper_voices(joe_copy, monkeypatch):
    monkeypatch.setenv("VOICEGUIDE_PIPER_VOICES", str(joe_copy.parent))
    engine = get_engine("piper")
    for typed, expected in (
        ("EN_gb", "en_GB-copy-medium"), ("en-GB", "en_GB-copy-medium"), ("EN_US", "en_US-joe-medium"),
        ("JOE", "en_US-joe-medium"), ("en_us-JOE-medium", "en_US-joe-medium"), ("Copy", "en_GB-copy-medium"),
        ("joe (medium, bundled)", "en_US-joe-medium"),  # the name 'voiceguide voices' prints
    ):
        assert engine._voice(VoiceOptions(voice=typed)).name == expected, typed
    # An unknown region falls back to the base language; the language picks the voice when none is given.
    assert engine._voice(VoiceOptions(voice="en-AU")).name == "en_US-joe-medium"
    assert engine._voice(VoiceOptions(language="en_GB")).name == "en_GB-copy-medium"
    # Two spellings of one voice share clips; a typo is still refused with a suggestion.
    assert engine.voice_identity(VoiceOptions(voice="en-gb")) == engine.voice_identity(VoiceOptions(voice="EN_GB"))
    with pytest.raises(UnknownVoiceError, match="did you mean 'joe'"):
        engine._voice(VoiceOptions(voice="jeo"))


@pytest.mark.parametrize(
    "problem, expected",
    [
        ("garbage", "could not be loaded"),
        ("no-config", "has no config beside it"),
        ("bad-config", "is not a valid Piper voice config"),
        ("missing", "does not exist"),
    ],
)
def test_broken_user_model_is_a_clear_error_naming_the_file(problem, expected, tmp_path):
    model = tmp_path / "broken.onnx"
    if problem != "missing":
        model.write_bytes(b"\x08\x07 this is not an onnx model" * 50)
    if problem in ("garbage", "bad-config"):
        config = bundled_voice().config.read_text(encoding="utf-8") if problem == "garbage" else "{not json"
        model.with_name("broken.onnx.json").write_text(config, encoding="utf-8")
    result = invoke("say", "Hello there.", "--engine", "piper", "--voice", model, "-o", tmp_path / "x.wav")
    assert_clean_failure(result, 2)
    assert expected in result.output and "broken.onnx" in result.output
    assert not (tmp_path / "x.wav").exists()


def test_missing_extra_says_what_to_install(tmp_path):
    result = run_cli_after("import sys; sys.modules['piper'] = None", "say", "Hello.", "--engine", "piper", "-o", tmp_path / "x.mp3")
    assert result.returncode == 2, result.stderr
    assert 'pip install "voiceguide[neural]"' in result.stderr
    assert "Traceback" not in result.stderr


def test_engine_precedence_config_routine_cli(write_routine, tmp_path, monkeypatch):
    used = []

    def stand_in(name):
        engine = FakeEngine()
        engine.name = name
        return lambda: used.append(name) or engine

    monkeypatch.setitem(ENGINES, "pyttsx3", stand_in("pyttsx3"))
    monkeypatch.setitem(ENGINES, "piper", stand_in("piper"))
    config = tmp_path / "config.yaml"
    config.write_text("engine: piper\n", encoding="utf-8")
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(config))
    plain = write_routine("title: T\nmusic: none\nsections:\n  - title: A\n    steps:\n      - say: Hello.\n", "plain.yaml")
    own = write_routine("title: T\nmusic: none\nvoice: {engine: pyttsx3}\nsections:\n  - title: A\n    steps:\n      - say: Hello.\n", "own.yaml")
    for args in ([plain], [own], [own, "--engine", "piper"]):
        assert invoke("plan", *args).exit_code == 0
    assert used == ["piper", "pyttsx3", "piper"]


def test_routine_engine_typo_points_at_the_line(write_routine):
    routine = write_routine("title: T\nvoice:\n  engine: pipr\nsections:\n  - title: A\n    steps:\n      - say: Hi.\n")
    result = invoke("check", routine)
    assert_clean_failure(result, 2)
    assert f"{routine}:3:11: voice engine 'pipr' is not one of: auto, pyttsx3, piper" in result.output
    assert "(did you mean 'piper'?)" in result.output


def test_render_with_piper_end_to_end(write_routine, tmp_path):
    routine = write_routine(
        "title: Tiny\nmusic: none\nlead_in: 1s\nsections:\n  - title: Jaw\n    steps:\n"
        "      - say: Glide your knuckles along the jaw line. Then rest.\n        hold: 2s\n"
    )
    out = tmp_path / "tiny.mp3"
    result = invoke("render", routine, "--engine", "piper", "--preset", "soft", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(str(out))
    mono = audio.mean(axis=1)
    # 50 ms windows: some carry speech well above the silence of the lead-in.
    hop = rate // 20
    levels = 20 * np.log10(np.sqrt(np.mean(mono[: len(mono) // hop * hop].reshape(-1, hop) ** 2, axis=1)) + 1e-9)
    assert (levels > -35).sum() * 0.05 > 1.5  # more than 1.5 s of speech-level audio
    assert levels[: int(0.8 * 20)].max() < -60  # the lead-in is quiet (no music)
    # The file says how it was made, engine included.
    from mutagen.id3 import ID3

    [comment] = ID3(out).getall("COMM")
    assert ": piper voice " in comment.text[0] and "preset soft" in comment.text[0]


def test_a_model_path_in_a_routine_is_relative_to_the_routine(tmp_path, monkeypatch):
    from voiceguide.routine import load_routine

    folder = tmp_path / "routines"
    folder.mkdir()
    routine = folder / "mine.yaml"
    routine.write_text(
        "title: Mine\nvoice: {engine: piper, name: voices/calm.onnx}\nsections:\n  - title: A\n    steps:\n      - say: Hello.\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # somewhere else than the routine's folder
    assert load_routine(routine).voice.name == str(folder / "voices" / "calm.onnx")
    # A bare voice name stays a name.
    routine.write_text(routine.read_text(encoding="utf-8").replace("voices/calm.onnx", "joe"), encoding="utf-8")
    assert load_routine(routine).voice.name == "joe"



@pytest.mark.parametrize("engine", ["piper", "kokoro"])
def test_a_neural_voice_leaves_nothing_in_the_users_temporary_folder(engine, tmp_path):
    """onnxruntime writes a '.ses' file into $TMPDIR when it is imported: the workers get a folder of their own."""
    import os
    import subprocess
    import sys

    if engine == "kokoro":
        pytest.importorskip("onnxruntime")
        from voiceguide.voice.kokoro.model import require_kokoro

        try:
            require_kokoro()
        except Exception:  # noqa: BLE001 - not installed: nothing to check
            pytest.skip("the kokoro extra is not installed")
    user_tmp = tmp_path / "tmp"
    user_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(user_tmp), VOICEGUIDE_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "voiceguide", "say", "Breathe out slowly.", "-o", str(tmp_path / "s.wav"),
                           "--engine", engine], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert soundfile.info(str(tmp_path / "s.wav")).duration > 0.5
    assert list(user_tmp.iterdir()) == []
