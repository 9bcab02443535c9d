"""check --listen: scoring and normalisation (fast), the report and exit codes with a stand-in recogniser
(fast), and the real recogniser hearing real espeak and Piper clips (slow)."""

from __future__ import annotations

import json

import pytest

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke
from voiceguide import listen as listen_mod
from voiceguide.listen import (
    align, english_number, korean_number, normalise, pinyin_respelling, score, suggest, syllable_respelling, understood,
)
from voiceguide.plan import spoken_texts
from voiceguide.routine import load_routine

# ----- normalising and scoring


def test_normalise_case_punctuation_digits_and_spelling():
    assert normalise("Breathe in... 4, then OUT!") == ["breathe", "in", "four", "then", "out"]
    assert normalise("Count 4-7-8, 21 times") == ["count", "four", "seven", "eight", "twenty", "one", "times"]
    assert normalise("a moisturiser, the centre, colour") == normalise("a moisturizer, the center, color")
    assert normalise("ten millilitres") == normalise("10 milliliters")
    assert normalise("Don't tug") == ["dont", "tug"]


def test_numbers_in_words():
    assert english_number(0) == "zero"
    assert english_number(15) == "fifteen"
    assert english_number(40) == "forty"
    assert english_number(1234) == "one thousand two hundred thirty four"
    assert korean_number(5) == "오"
    assert korean_number(10) == "십"
    assert korean_number(15) == "십오"
    assert korean_number(250) == "이백오십"
    assert korean_number(3, native=True) == "셋"
    assert korean_number(12, native=True) == "열둘"
    assert korean_number(1, native=True, attributive=True) == "한"
    assert korean_number(20, native=True, attributive=True) == "스무"


def test_align_counts_edits_and_marks_them():
    distance, path = align(list("kitten"), list("sitting"))
    assert distance == 3
    assert [op for op, _, _ in path].count("=") == 4
    assert align([], ["a"])[0] == 1 and align(["a"], [])[0] == 1


def test_score_words_and_compounds():
    clean = score("Glide under the cheek bone.", "glide under the cheekbone")
    assert clean.errors == 0 and clean.units == 4
    assert score("Glide under the cheekbone.", "Glide under the cheek bone.").errors == 0
    # Also when one half is a word of the line elsewhere ("hair").
    assert score("Comb through your hair, from the hairline.", "comb through your hair from the hair line").errors == 0
    wrong = score("Now the other side, right.", "Out and on the side, right.")
    assert wrong.errors == 4 and wrong.units == 5
    assert "now" in wrong.missed and "other" in wrong.missed
    assert score("Hold for 5 seconds.", "hold for five seconds").errors == 0


def test_understood_forgives_small_words_only():
    text = "Press the point under the cheekbone."
    assert understood(text, score(text, "Press a point under cheekbone."))
    assert not understood(text, score(text, "Press the pint under the cheekbone."))
    assert not understood("three", score("three", "free"))


def test_korean_is_scored_by_characters_with_digits_read_either_way():
    text = "오 초 동안 부드럽게 누르세요."
    assert score(text, "5초 동안 부드럽게 누르세요", "ko").errors == 0
    assert score("하나", "1", "ko").errors == 0  # a count the recogniser wrote as a digit
    assert score("한 번 더요", "1번 더요", "ko").errors == 0
    half = score("천천히 쓸어 주세요", "전전히 쓰러 주세요", "ko")
    assert half.units == 8 and half.errors == 4
    assert understood("x", score("천천히 쓸어 주세요", "천천히 쓸어 주세요", "ko"), "ko")
    assert not understood("x", half, "ko")


# ----- suggestions


def test_mandarin_point_names_get_sound_alike_syllables():
    assert pinyin_respelling("Xiaguan") == "shyah gwahn"
    assert pinyin_respelling("Yingxiang") == "ying shyahng"
    assert pinyin_respelling("Fengchi") == "fung chir"
    assert pinyin_respelling("Sibai") == "suh bye"
    assert pinyin_respelling("Zanzhu") == "dzahn joo"
    assert pinyin_respelling("Taiyang") == "tie yahng"
    assert pinyin_respelling("knuckles") is None
    assert pinyin_respelling("Notice") is None  # no-ti-ce: Mandarin has no "no"
    assert pinyin_respelling("Quanliao") == "chyuen lyow"


def test_other_words_are_split_into_syllables():
    assert syllable_respelling("jojoba") == "jo-JO-ba"
    assert syllable_respelling("acupressure") == "a-cu-PRES-sure"
    assert syllable_respelling("chamomile") == "cha-MO-mile"
    assert syllable_respelling("between") is None  # everyday words: a respelling would make them worse
    assert syllable_respelling("neck") is None


def test_suggest_uses_the_word_as_written_and_skips_small_words():
    assert suggest("xiaguan", "Press Xiaguan gently.") == "shyah gwahn"
    assert suggest("jojoba", "A few drops of jojoba oil.") == "jo-JO-ba"
    assert suggest("the", "Press the point.") is None
    if listen_mod.recogniser_missing() is None:  # everyday words known by Whisper's vocabulary get none
        assert suggest("notice", "Notice how light your face feels.") is None
        assert suggest("change", "Change hands.") is None  # "chahn guh" as pinyin, but everyday English
        assert suggest("lymphatic", "A lymphatic drainage massage.") == "lym-PHA-tic"
    assert suggest("천천히", "천천히 쓸어 주세요", "ko") is None


# ----- the command, with a stand-in recogniser


class HeardAs:
    """A recogniser that 'hears' each line of a routine as given (in spoken order), its text otherwise."""

    def __init__(self, routine, garbled: dict[str, str]):
        self.queue = [garbled.get(t, t) for t in spoken_texts(load_routine(routine))]
        self.seconds_heard = self.seconds_spent = 0.0

    def transcribe(self, samples, sample_rate, language):
        self.seconds_heard += len(samples) / sample_rate
        return self.queue.pop(0)


@pytest.fixture
def stand_in(monkeypatch, fake_engine):
    monkeypatch.setattr(listen_mod, "recogniser_missing", lambda: None)

    def use(routine, garbled=None):
        monkeypatch.setattr(listen_mod, "Recogniser", lambda: HeardAs(routine, garbled or {}))

    return use


def test_every_line_understood_exits_0(write_routine, stand_in):
    path = write_routine(SMALL_ROUTINE)
    stand_in(path)
    result = invoke("check", path, "--listen", "--engine", "fake")
    assert result.exit_code == 0, result.output
    assert "not understood" not in result.output
    assert "lines understood" in result.output and "counts 3 of 3" in result.output


def test_misheard_lines_are_listed_with_a_suggestion_and_exit_1(write_routine, stand_in):
    path = write_routine(SMALL_ROUTINE.replace("Glide along the jaw line.", "Press Qiuxu along the jaw line."))
    stand_in(path, {"Press Qiuxu along the jaw line.": "Press cheeks along the jaw line.", "1": "Fun."})
    result = invoke("check", path, "--listen", "--engine", "fake")
    assert result.exit_code == 1, result.output
    assert "not understood: Press Qiuxu along the jaw line." in result.output
    assert "heard: Press cheeks along the jaw line." in result.output
    assert "pronounce: {Qiuxu: chyoh shyoo}" in result.output
    assert "counts 2 of 3" in result.output


def test_a_respelt_word_counts_as_said_right(write_routine, stand_in):
    # The recogniser cannot spell a name it does not know: heard as something else, a word the voice is
    # given respelt (built-in lexicon, or the routine's pronounce:) is taken as said as its author wants.
    text = SMALL_ROUTINE.replace("Glide along the jaw line.", "Press Xiaguan, then Qiuxu, along the jaw line.")
    path = write_routine("pronounce: {Qiuxu: chyoh shyoo}\n" + text)
    stand_in(path, {"Press Xiaguan, then Qiuxu, along the jaw line.": "Press Shia Guan, then Chi Shu, along the jaw line."})
    result = invoke("check", path, "--listen", "--engine", "fake", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["word_error_rate"] > 0  # the words still count as errors in the rate


def test_json_report(write_routine, stand_in):
    path = write_routine(SMALL_ROUTINE)
    stand_in(path, {"Sit comfortably and warm the oil.": "Sit comfortably and swarm the oil."})
    result = invoke("check", path, "--listen", "--engine", "fake", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["engine"] == "fake" and report["language"] == "en"
    assert report["understood"] == report["lines"] - 1
    assert 0 < report["word_error_rate"] <= 1 / 6  # one word wrong among the lines of five words or more
    assert report["misheard"][0]["missed"] == ["warm"]
    assert len(report["every_line"]) == report["lines"]
    assert report["every_line"][0]["heard"] == "Sit comfortably and swarm the oil."


def test_without_the_extra_says_what_to_install(write_routine, monkeypatch, fake_engine):
    monkeypatch.setattr(listen_mod, "recogniser_missing", lambda: "listening needs the optional recogniser: pip install x")
    result = invoke("check", write_routine(SMALL_ROUTINE), "--listen", "--engine", "fake")
    assert_clean_failure(result, 2)
    assert "pip install" in result.output


def test_voice_options_need_listen(write_routine):
    result = invoke("check", write_routine(SMALL_ROUTINE), "--engine", "pyttsx3")
    assert_clean_failure(result, 2)
    assert "--listen" in result.output


def test_bad_routine_is_reported_before_listening(write_routine, stand_in):
    result = invoke("check", write_routine("title: x\nsections: 3\n"), "--listen", "--engine", "fake")
    assert_clean_failure(result, 2)


# ----- the real recogniser on real voices

needs_recogniser = pytest.mark.skipif(listen_mod.recogniser_missing() is not None, reason="needs the listen extra")


@pytest.fixture(scope="module")
def recogniser():
    return listen_mod.Recogniser()


CLEAR = """\
title: Listening test
music: none
intro: Breathe in slowly through your nose.
sections:
  - title: Jaw
    steps:
      - say: Make small circles on the jaw muscle.
        hold: 2s
      - say: Press Qiuxu gently.
        hold: 2s
"""


@pytest.mark.slow
@needs_recogniser
def test_the_recogniser_hears_espeak_and_flags_an_unknown_point_name(write_routine, recogniser, shared_real_cache):
    from voiceguide.requests import resolve_session, session_of
    from voiceguide.voice import ClipCache

    session = resolve_session(session_of(write_routine(CLEAR), engine="pyttsx3"))
    report = listen_mod.listen(session, recogniser=recogniser, cache=ClipCache(shared_real_cache))
    by_text = {line.text: line for line in report.lines}
    assert by_text["Breathe in slowly through your nose."].understood, by_text["Breathe in slowly through your nose."].heard
    assert by_text["Make small circles on the jaw muscle."].understood
    point = by_text["Press Qiuxu gently."]  # a point name no lexicon has
    assert not point.understood, point.heard
    assert point.suggestions == {"Qiuxu": "chyoh shyoo"}
    assert report.real_time_factor and report.seconds_heard > 3


@pytest.mark.slow
@needs_recogniser
def test_the_recogniser_hears_piper(write_routine, recogniser, shared_real_cache):
    pytest.importorskip("piper")
    from voiceguide.requests import resolve_session, session_of
    from voiceguide.voice import ClipCache

    session = resolve_session(session_of(write_routine(CLEAR), engine="piper"))
    report = listen_mod.listen(session, recogniser=recogniser, cache=ClipCache(shared_real_cache))
    line = next(line for line in report.lines if line.text == "Make small circles on the jaw muscle.")
    assert line.understood and line.score.errors == 0, line.heard


@pytest.mark.slow
@needs_recogniser
def test_a_garbled_clip_is_reported(recogniser):
    from .conftest import fake_speech

    heard = recogniser.transcribe(fake_speech("one two three four five"), 22050, "en")
    result = score("Glide your knuckles along the jaw.", heard)
    assert not understood("Glide your knuckles along the jaw.", result)


def test_an_ending_more_or_less_is_an_error_but_understood():
    text = "Make small circles on the jaw muscle."
    result = score(text, "Make small circles on the jaw muscles.")
    assert result.errors == 1 and result.missed == ()
    assert understood(text, result)
