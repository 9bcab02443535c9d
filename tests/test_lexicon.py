"""The pronunciation lexicon: matching, per-engine entries, the routine's `pronounce:` key, its cache effect."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from voiceguide import parse_routine, render
from voiceguide.pipeline import synthesize_plan
from voiceguide.routine import pronounce_word_problem
from voiceguide.schema import routine_schema
from voiceguide.voice import ClipCache, VoiceOptions, prepare_clips
from voiceguide.voice.lexicon import builtin_entries, respell

from .conftest import engine_fixture, problems

ROUTINE = """\
title: Points
music: none
lead_in: 0
chimes: none
pronounce:
  Yintang: yin-tahng
  rosehip: rose hip
sections:
  - title: Face
    steps:
      - say: Press Yintang gently, then release.
        hold: 1s
      - say: Warm a drop of rosehip oil.
        hold: 1s
      - say: Rest your hands.
"""


# ----- matching


@pytest.mark.parametrize(
    "text, said",
    [
        ("Press Yintang.", "Press Yin-tahng."),  # a capital kept, the full stop kept
        ("press yintang, then YINTANG!", "press yin-tahng, then Yin-tahng!"),  # any case
        ("Yintangs and preYintang stay.", "Yintangs and preYintang stay."),  # never inside another word
        ("(Yintang)", "(Yin-tahng)"),
        ("a carrier  oil blend", "a carry-er oil blend"),  # words of an entry across any spaces
        ("the carrier is here", "the carrier is here"),  # only the whole entry
        ("hold 4 breaths", "hold four breaths"),
        ("breathe 4-7-8, or 4.5 s, at 1:4 or 4/4", "breathe 4-7-8, or 4.5 s, at 1:4 or 4/4"),  # numbers stay whole
    ],
)
def test_whole_words_in_any_case_with_punctuation_kept(text, said):
    pronounce = {"Yintang": "yin-tahng", "carrier oil": "carry-er oil", "4": "four"}
    assert respell(text, "fake", "en", pronounce) == said


def test_one_pass_longest_entry_first():
    pronounce = {"oil": "oyl", "carrier oil": "carry-er oil", "jaw": "chin", "chin": "jaw"}
    # A respelling is never respelt again, and the longer entry wins over the word inside it.
    assert respell("Carrier oil on the chin and jaw.", "fake", "en", pronounce) == "Carry-er oil on the jaw and chin."
    assert respell("More oil.", "fake", "en", pronounce) == "More oyl."


def test_builtin_entries_apply_per_engine_and_only_to_english():
    entries = {e.word.casefold(): e for e in builtin_entries()}
    every = [e for e in entries.values() if e.for_engine("some-new-engine") is not None]
    espeak_only = [e for e in entries.values() if e.for_engine("pyttsx3") != e.for_engine("some-new-engine")]
    assert every and espeak_only, "the lexicon has entries for every engine and entries for one engine"
    word = every[0].word
    assert respell(f"Find {word} first.", "some-new-engine", "en") != f"Find {word} first."
    # A Korean (or any other) routine's words are its own: the built-in entries are English respellings.
    assert respell(f"Find {word} first.", "some-new-engine", "ko") == f"Find {word} first."
    assert respell(f"Find {word} first.", "some-new-engine", "ko", {word: "x"}) == "Find X first."
    one = espeak_only[0]
    said = respell(one.word.lower(), "pyttsx3", "en")
    assert said == (one.for_engine("pyttsx3") or one.word.lower())
    assert said != respell(one.word.lower(), "some-new-engine", "en")


def test_line_entries_take_only_a_line_of_that_word():
    lines = [e for e in builtin_entries() if e.whole_line and e.for_engine("pyttsx3")]
    assert lines, "spoken counts espeak garbles have line entries"
    word, says = lines[0].word, lines[0].for_engine("pyttsx3")
    assert respell(word, "pyttsx3", "en") == says and respell(f"{word}.", "pyttsx3", "en") == says
    assert respell(f"Hold {word} seconds.", "pyttsx3", "en") == f"Hold {word} seconds."


def test_a_routines_entry_replaces_the_builtin_one():
    word = builtin_entries()[0].word
    assert respell(word, "pyttsx3", "en", {word.upper(): "mine"}) == "Mine"


# ----- the routine key


def test_pronounce_parses_in_the_order_written():
    routine = parse_routine(ROUTINE, source="r.yaml")
    assert routine.pronounce == (("Yintang", "yin-tahng"), ("rosehip", "rose hip"))
    assert parse_routine(ROUTINE.replace("  Yintang: yin-tahng\n  rosehip: rose hip\n", "").replace("pronounce:", "pronounce: {}")).pronounce == ()
    assert parse_routine(ROUTINE.replace("  Yintang: yin-tahng\n  rosehip: rose hip\n", "")).pronounce == ()


@pytest.mark.parametrize(
    "entries, expected",
    [
        ("pronounce: yintang\n", "r.yaml:5:12: pronounce must be a mapping of words to how to say them"),
        ("pronounce:\n  Yintang: yin\n  yintang: tahng\n", "r.yaml:7:3: pronounce: 'yintang' is listed twice (also on line 6); keep one"),
        ("pronounce:\n  'Yintang.': yin\n", "r.yaml:6:3: pronounce: 'Yintang.' must begin and end with a letter or digit"),
        ("pronounce:\n  Yintang:\n", "r.yaml:6:11: pronounce: 'Yintang' has no respelling"),
        ("pronounce:\n  Yintang: [yin, tahng]\n", "r.yaml:6:12: the respelling of 'Yintang' must be text"),
        ("pronounce:\n  Yintang: '...'\n", "r.yaml:6:12: the respelling of 'Yintang' '...' has nothing to speak"),
        ("pronounce:\n  [a, b]: c\n", "r.yaml:6:3: pronounce: each key is a word as the routine writes it"),
        ("pronunce:\n  Yintang: yin\n", "r.yaml:5:1: unknown key 'pronunce' in the routine (did you mean 'pronounce'?)"),
    ],
)
def test_pronounce_validation_messages_have_line_and_column(entries, expected):
    text = ROUTINE.replace("pronounce:\n  Yintang: yin-tahng\n  rosehip: rose hip\n", entries)
    found = problems(text)
    assert any(line.startswith(expected) for line in found), found


def test_every_bad_entry_is_reported_at_once():
    text = ROUTINE.replace("  rosehip: rose hip\n", "  rosehip: '!!'\n  '-x': y\n")
    assert [line.split(": ", 1)[0] for line in problems(text)] == ["r.yaml:7:12", "r.yaml:8:3"]


def test_the_schema_knows_pronounce():
    import yaml

    validator = Draft202012Validator(routine_schema())
    assert not list(validator.iter_errors(yaml.safe_load(ROUTINE)))
    bad = yaml.safe_load(ROUTINE.replace("rosehip: rose hip", "'rosehip.': rose hip"))
    assert list(validator.iter_errors(bad))
    bad = yaml.safe_load(ROUTINE.replace("rosehip: rose hip", "rosehip: [a]"))
    assert list(validator.iter_errors(bad))


# ----- the effect: what the engine hears, what the cache keeps, what captions show


def test_the_engine_hears_the_respelling_and_only_touched_lines_are_synthesised_again(fake_engine, write_routine):
    path = write_routine(ROUTINE)
    _, clips, stats = synthesize_plan(path, engine="fake")
    assert "Press Yin-tahng gently, then release." in fake_engine.calls
    assert "Warm a drop of rose hip oil." in fake_engine.calls
    assert set(clips) >= {"Press Yintang gently, then release.", "Warm a drop of rosehip oil."}  # keyed as written
    assert stats.synthesized == len(clips)

    # A changed respelling: only the line with that word is synthesised again.
    write_routine(ROUTINE.replace("rosehip: rose hip", "rosehip: roze-hip"))
    _, _, stats = synthesize_plan(path, engine="fake")
    assert stats.texts_synthesized == ["Warm a drop of rosehip oil."]
    # An entry for a word no line has changes nothing at all.
    write_routine(ROUTINE.replace("  rosehip: rose hip\n", "  rosehip: roze-hip\n  squalane: skwah-lane\n"))
    _, _, stats = synthesize_plan(path, engine="fake")
    assert stats.synthesized == 0
    # Lines said the same share their clip: the respelt line and the line written that way.
    cache = ClipCache()
    clips, stats = prepare_clips(["Press Yintang.", "Press Yin-tahng."], fake_engine, VoiceOptions(), cache, pronounce={"Yintang": "yin-tahng"})
    assert stats.synthesized == 2 and fake_engine.calls[-1] == "Press Yin-tahng." and fake_engine.calls.count("Press Yin-tahng.") == 1
    assert clips["Press Yintang."].path == clips["Press Yin-tahng."].path


def test_every_caller_of_the_voice_gets_the_routines_pronounce(fake_engine):
    """The respellings travel with the voice options, so check --listen, the studio's preview and render agree."""
    from voiceguide.requests import voice_options

    options = voice_options(parse_routine(ROUTINE, source="r.yaml"))
    assert options.pronounce == (("Yintang", "yin-tahng"), ("rosehip", "rose hip"))
    prepare_clips(["Press Yintang."], fake_engine, options, ClipCache())
    assert fake_engine.calls == ["Press Yin-tahng."]


def test_captions_and_cue_sheets_keep_the_words_as_written(fake_engine, write_routine, tmp_path):
    result = render(write_routine(ROUTINE), tmp_path / "s.wav", engine="fake", captions=tmp_path / "s.vtt", cues=tmp_path / "s.json")
    assert "Press Yintang gently, then release." in [e.text for e in result.plan.speech()]
    captions = (tmp_path / "s.vtt").read_text(encoding="utf-8")
    cues = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    for shown in (captions, json.dumps(cues)):
        assert "Yintang" in shown and "rosehip" in shown
        assert "tahng" not in shown and "rose hip" not in shown
    # The respelt line really sounds in the file: a burst per respelt word (fake speech), at the cue's time.
    audio, rate = soundfile.read(str(tmp_path / "s.wav"))
    event = next(e for e in result.plan.speech() if e.text.startswith("Press"))
    span = audio[int(event.start_s * rate): int(event.end_s * rate)]
    assert np.sqrt(np.mean(span**2)) > 0.01


# ----- the real engines


espeak = engine_fixture("pyttsx3")


def test_espeak_is_given_the_respelling(espeak, tmp_path):
    cache = ClipCache(tmp_path)
    _, first = prepare_clips(["Press Yintang gently."], espeak, VoiceOptions(), cache)
    # Written as the lexicon respells it, the line is already in the cache: espeak was given the respelling.
    _, second = prepare_clips([respell("Press Yintang gently.", "pyttsx3", "en")], espeak, VoiceOptions(), cache)
    assert first.synthesized == 1 and second.cached == 1 and second.synthesized == 0


# Two sentences of sculpt (47 words): near the middle of the paragraphs the rate was calibrated on.
PARAGRAPH = (
    "With clean hands and a clean face, put a few drops of oil in one palm. Rub your palms together slowly to "
    "warm it. Rest your warm palms lightly on your cheeks and jaw, clear of your eyes. Breathe in slowly, and "
    "breathe out even more slowly."
)


def speech_s(path) -> float:
    """The speech's length: from the first to the last sample within 40 dB of the peak."""
    samples, rate = soundfile.read(str(path), dtype="float32")
    loud = np.flatnonzero(np.abs(samples) >= np.abs(samples).max() * 0.01)
    return (loud[-1] - loud[0] + 1) / rate


@pytest.mark.parametrize("rate_wpm", [130, 170])
def test_espeak_speaks_the_words_per_minute_asked(espeak, tmp_path, rate_wpm):
    clips, _ = prepare_clips([PARAGRAPH], espeak, VoiceOptions(rate_wpm=rate_wpm), ClipCache(tmp_path))
    heard_wpm = len(PARAGRAPH.split()) / speech_s(clips[PARAGRAPH].path) * 60
    assert heard_wpm == pytest.approx(rate_wpm, rel=0.07)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.dictionaries(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), max_size=4))
def test_any_text_and_entries_respell_without_error(text, pronounce):
    entries = {w: s for w, s in pronounce.items() if pronounce_word_problem(" ".join(w.split())) is None}
    said = respell(text, "pyttsx3", "en", entries)
    if not any(w.lower() in text.lower() for w in entries):
        assert said == respell(text, "pyttsx3", "en")
