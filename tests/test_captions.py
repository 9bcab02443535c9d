"""Captions: WebVTT and SRT parsed back and matched to the plan's speech to the millisecond; transcript."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest

from voiceguide import UsageError, render, synthesize_plan
from voiceguide.export.captions import caption_format, to_srt, to_transcript, to_webvtt, write_captions

from .conftest import SMALL_ROUTINE

LONG_SAY = (
    "Place two fingers on each side of the nose and slide them slowly outward along the cheekbones, "
    "pressing gently, then lift at the temples & rest there for a breath <softly>, and repeat the "
    "whole movement twice more with a little more pressure each time."
)
LONG_ROUTINE = f"""\
title: Long lines
music: none
intro: Welcome.
sections:
  - title: Cheeks
    steps:
      - say: "{LONG_SAY}"
        hold: 2s
        sides: [left, right]
      - say: Count with me.
        repeat: 12
        every: 1s
        count: true
"""

VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"
SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"


def to_ms(match: tuple[str, ...]) -> int:
    h, m, s, ms = map(int, match)
    assert m < 60 and s < 60
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def parse_vtt(text: str) -> list[tuple[int, int, list[str]]]:
    assert text.startswith("WEBVTT\n\n")
    cues = []
    for block in text[len("WEBVTT\n\n") :].rstrip("\n").split("\n\n"):
        timing, *lines = block.split("\n")
        match = re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", timing)
        assert match, timing
        for line in lines:
            assert "<" not in line and ">" not in line, "markup characters must be escaped"
        cues.append((to_ms(match.groups()[:4]), to_ms(match.groups()[4:]), [html.unescape(line) for line in lines]))
    return cues


def parse_srt(text: str) -> list[tuple[int, int, list[str]]]:
    cues = []
    for number, block in enumerate(text.rstrip("\n").split("\n\n"), start=1):
        index, timing, *lines = block.split("\n")
        assert index == str(number)
        match = re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", timing)
        assert match, timing
        cues.append((to_ms(match.groups()[:4]), to_ms(match.groups()[4:]), lines))
    return cues


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def assert_cues_follow_plan(cues, plan) -> set[str]:
    """Each speech event is one cue, or consecutive cues that tile its time and together say its text."""
    speech = plan.speech()
    assert speech, "the plan has speech"
    kinds = {e.kind for e in speech}
    pos = 0
    for event in speech:
        start = pos
        said: list[str] = []
        while " ".join(said) != event.text:
            assert pos < len(cues), f"ran out of cues looking for {event.text!r}"
            said.append(" ".join(cues[pos][2]))
            pos += 1
        mine = cues[start:pos]
        assert mine[0][0] == ms(event.start_s) and mine[-1][1] == ms(event.end_s)
        assert all(a[1] == b[0] for a, b in zip(mine, mine[1:])), "split cues tile the utterance"
        if len(mine) > 1:  # time shared in proportion to characters
            chars = [sum(map(len, c[2])) for c in mine]
            total_ms = ms(event.end_s) - ms(event.start_s)
            for cue, n in zip(mine, chars):
                assert cue[1] - cue[0] == pytest.approx(total_ms * n / sum(chars), abs=1.5)
    assert pos == len(cues), "no cue without speech"
    for start, end, lines in cues:
        assert start < end
        assert 1 <= len(lines) <= 2
        assert all(0 < len(line) <= columns(line) <= 65 for line in lines)
    assert [c[0] for c in cues] == sorted(c[0] for c in cues)
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:])), "cues never overlap"
    return kinds


@pytest.fixture
def small_plan(write_routine, fake_engine, tmp_path):
    return render(write_routine(SMALL_ROUTINE), tmp_path / "s.mp3", engine="fake").plan


@pytest.fixture
def long_plan(write_routine, fake_engine):
    return synthesize_plan(write_routine(LONG_ROUTINE), engine="fake")[0]


def test_webvtt_matches_rendered_plan(small_plan):
    cues = parse_vtt(to_webvtt(small_plan))
    kinds = assert_cues_follow_plan(cues, small_plan)
    assert {"intro", "section", "instruction", "count", "switch", "outro"} <= kinds
    assert [" ".join(c[2]) for c in cues][:6] == ["Sit comfortably and warm the oil.", "Neck", "Circle above the collarbones.", "1", "2", "3"]


def test_srt_matches_rendered_plan(small_plan):
    cues = parse_srt(to_srt(small_plan))
    assert_cues_follow_plan(cues, small_plan)
    assert cues == parse_vtt(to_webvtt(small_plan))


def test_long_utterances_split_into_two_line_cues(long_plan):
    vtt = to_webvtt(long_plan)
    assert "&amp;" in vtt and "&lt;softly&gt;" in vtt
    cues = parse_vtt(vtt)
    assert_cues_follow_plan(cues, long_plan)
    long_cues = [c for c in cues if c[2][0].startswith("Place two")]
    assert len(long_cues) == 1
    first = cues.index(long_cues[0])
    mine = cues[first : first + 3]
    assert " ".join(" ".join(c[2]) for c in mine) == LONG_SAY
    # One sentence of 228 characters: its cues end where the sentence pauses (its commas), never mid-phrase.
    assert [" ".join(c[2])[-1] for c in mine] == [",", ",", "."]
    assert [len(c[2]) for c in mine] == [2, 1, 2]
    assert mine[2][2] == ["and repeat the whole movement twice more", "with a little more pressure each time."]
    srt_cues = parse_srt(to_srt(long_plan))
    assert_cues_follow_plan(srt_cues, long_plan)
    assert any("<softly>" in line for c in srt_cues for line in c[2])  # SRT is plain text


KOREAN_ROUTINE = """\
title: 편안하게
language: ko
music: none
intro: 관자놀이와 눈썹, 턱, 두피의 긴장을 풀어 주는 십 분 마사지예요. 피부에 상처나 염증, 자극이 있거나 여드름이 올라와 있을 때는 마사지를 피하세요.
sections:
  - title: 관자놀이
    steps:
      - say: 눈썹 끝 바로 뒤, 관자놀이의 부드럽게 들어간 곳에 손끝을 대 주세요.
        hold: 2s
"""


def test_wide_characters_count_two_columns(write_routine, fake_engine):
    plan = synthesize_plan(write_routine(KOREAN_ROUTINE), engine="fake")[0]
    cues = parse_vtt(to_webvtt(plan))
    assert_cues_follow_plan(cues, plan)
    intro = [c for c in cues if c[1] <= ms(plan.speech()[0].end_s)]
    assert len(intro) == 2  # 80 Hangul-heavy characters: too wide for one two-line cue
    assert max(columns(line) for c in cues for line in c[2]) <= 65
    assert to_transcript(plan).splitlines()[1] == "=" * columns("편안하게")


def test_words_wider_than_a_line_are_cut_not_lost():
    from voiceguide.plan import Chapter, Event, Plan

    unspaced = "目の下を指の腹でやさしく押さえて、こめかみに向かってゆっくりと流します。" * 3
    word = "x" * 150
    plan = Plan(
        "t",
        20.0,
        (Event("speech", 1.0, 5.0, kind="instruction", text=unspaced), Event("speech", 6.0, 9.0, kind="outro", text=f"ab {word} cd")),
        (Chapter("t", 0.0, 20.0),),
        None,
        0.0,
        6.0,
    )
    cues = parse_srt(to_srt(plan))
    first = [c for c in cues if c[1] <= 5000]
    assert "".join(line for c in first for line in c[2]) == unspaced
    assert first[0][0] == 1000 and first[-1][1] == 5000
    second = [c for c in cues if c[0] >= 6000]
    assert "".join(line for c in second for line in c[2]).replace(" ", "") == f"ab{word}cd"
    assert second[0][0] == 6000 and second[-1][1] == 9000
    for _, _, lines in cues:
        assert 1 <= len(lines) <= 2 and all(columns(line) <= 65 for line in lines)


def test_hours_in_timestamps():
    from voiceguide.plan import Chapter, Event, Plan

    plan = Plan(
        "Long",
        3725.0,
        (Event("speech", 3723.4567, 3724.0001, kind="outro", text="Bye."),),
        (Chapter("Closing", 0.0, 3725.0),),
        None,
        0.0,
        6.0,
    )
    assert "01:02:03.457 --> 01:02:04.000\nBye." in to_webvtt(plan)
    assert "01:02:03,457 --> 01:02:04,000\nBye." in to_srt(plan)
    assert "[1:02:03] Bye." in to_transcript(plan)


def test_transcript(small_plan):
    text = to_transcript(small_plan)
    lines = text.splitlines()
    assert lines[:2] == ["Small test routine", "=" * len("Small test routine")]
    headings = [line for line in lines[2:] if line and not line.startswith("[")]
    assert headings == [c.title for c in small_plan.chapters]
    timed = [line for line in lines if line.startswith("[")]
    assert all(re.fullmatch(r"\[\d+:\d{2}\] \S.*", line) for line in timed)
    assert "[0:01] Sit comfortably and warm the oil." in timed
    assert "[0:11] 1, 2, 3" in timed  # the counts of one action on one line
    assert "[0:19] Left side first." in timed
    assert "[0:25] Now the right side." in timed
    assert timed[-1] == "[0:44] Rest your hands."
    # Each heading comes before the lines spoken in its chapter.
    assert lines.index("Jaw") < lines.index("[0:38] Glide along the jaw line.")


def test_write_captions_by_extension(small_plan, tmp_path):
    for suffix, render_text in ((".vtt", to_webvtt), (".srt", to_srt), (".txt", to_transcript), ("-upper.VTT", to_webvtt)):
        path = tmp_path / f"captions{suffix}"
        write_captions(path, small_plan)
        assert path.read_text(encoding="utf-8") == render_text(small_plan)
    assert caption_format("a/b.Srt") == ".srt"
    for bad in ("captions.doc", "captions"):
        with pytest.raises(UsageError, match="caption format"):
            write_captions(tmp_path / bad, small_plan)
        assert not (tmp_path / bad).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("captions")) == [
        "captions-upper.VTT",
        "captions.srt",
        "captions.txt",
        "captions.vtt",
    ]


def plan_of(*texts: str):
    """A plan that says each text in turn, 10 s apiece."""
    from voiceguide.plan import Chapter, Event, Plan

    events = tuple(Event("speech", 10.0 * i, 10.0 * i + 8.0, kind="instruction", text=t) for i, t in enumerate(texts))
    return Plan("t", 10.0 * len(texts), events, (Chapter("t", 0.0, 10.0 * len(texts)),), None, 0.0, 2.0)


def routine_lines(name: str) -> list[str]:
    from voiceguide.routine import load_routine

    routine = load_routine(name)
    lines = [routine.intro, routine.outro]
    for section in routine.sections:
        lines += [section.title] + [getattr(step, "say", None) for step in section.steps]
    return [" ".join(line.split()) for line in lines if line]


SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"')\u201d\u2019]*$")
CLAUSE_END = re.compile(r"[,;:\uff0c\u3001]$")


def test_cues_break_at_sentence_ends_then_commas():
    drain_intro = routine_lines("drain")[0]
    assert drain_intro.startswith("Welcome to a seven minute lymphatic drainage massage. Skip it if")
    cues = parse_vtt(to_webvtt(plan_of(drain_intro)))
    assert_cues_follow_plan(cues, plan_of(drain_intro))
    said = [" ".join(c[2]) for c in cues]
    assert said[0] == "Welcome to a seven minute lymphatic drainage massage."
    assert said[-2:] == [
        "If you have heart or kidney failure, a blood clot or active cancer, ask your doctor first.",
        "The pressure is feather light. Keep oil away from your eyes, and patch test any oil first.",
    ]
    assert all(SENTENCE_END.search(s) or CLAUSE_END.search(s) for s in said)
    # Two sentences that share a cue share it a line each.
    assert cues[-1][2] == ["The pressure is feather light.", "Keep oil away from your eyes, and patch test any oil first."]


def test_a_line_that_fits_one_cue_breaks_its_lines_between_sentences():
    text = "Place your fingertips just behind your ears. Glide softly down the sides of the neck to the collarbones."
    assert text in routine_lines("drain")
    (cue,) = parse_srt(to_srt(plan_of(text)))
    assert cue[2] == ["Place your fingertips just behind your ears.", "Glide softly down the sides of the neck to the collarbones."]
    # A sentence too long for a line of the cue gets a cue of its own, split at its comma, rather than
    # starting mid-line after the first sentence.
    text = "Rest your fingers flat under your chin. Glide out along the underside of the jaw to below the ears, then down the neck to the collarbones."
    assert text in routine_lines("drain")
    cues = parse_srt(to_srt(plan_of(text)))
    assert [c[2] for c in cues] == [
        ["Rest your fingers flat under your chin."],
        ["Glide out along the underside of the jaw to below the ears,", "then down the neck to the collarbones."],
    ]
    assert_cues_follow_plan(cues, plan_of(text))


def test_a_pause_inside_a_sentence_is_not_its_end():
    text = "Cup your palms lightly over your cheeks, without pressing. Breathe in slowly through your nose... and out through your mouth, slowly and softly, until your shoulders drop."
    said = [" ".join(c[2]) for c in parse_vtt(to_webvtt(plan_of(text)))]
    assert said == [
        "Cup your palms lightly over your cheeks, without pressing.",
        "Breathe in slowly through your nose... and out through your mouth, slowly and softly, until your shoulders drop.",
    ]


def test_korean_cues_break_at_sentence_ends_and_commas():
    lines = routine_lines("soothe-ko")
    intro = lines[0]
    cues = parse_vtt(to_webvtt(plan_of(intro)))
    assert_cues_follow_plan(cues, plan_of(intro))
    said = [" ".join(c[2]) for c in cues]
    assert said[0] == "관자놀이와 눈썹, 턱, 두피의 긴장을 풀어 주는 십 분 마사지예요."
    assert all(s.endswith(("요.", "다.", ",")) for s in said), said
    assert sum(s.endswith(("요.", "다.")) for s in said) == intro.count("요.") + intro.count("다.")
    # Lines too: after a comma, not between two words of a phrase.
    step = "눈썹 끝 바로 뒤, 관자놀이의 부드럽게 들어간 곳에 손끝을 대 주세요. 피부 위를 미끄러지지 말고, 피부를 함께 움직이듯 천천히 원을 그리세요."
    assert step in lines
    assert [c[2] for c in parse_srt(to_srt(plan_of(step)))] == [
        ["눈썹 끝 바로 뒤,", "관자놀이의 부드럽게 들어간 곳에 손끝을 대 주세요."],
        ["피부 위를 미끄러지지 말고,", "피부를 함께 움직이듯 천천히 원을 그리세요."],
    ]


@pytest.mark.parametrize("name", ["drain", "morning", "ritual", "sculpt", "soothe", "soothe-ko"])
def test_built_in_lines_break_cues_only_where_the_sense_pauses(name):
    lines = routine_lines(name)
    plan = plan_of(*lines)
    cues = parse_vtt(to_webvtt(plan))
    assert_cues_follow_plan(cues, plan)
    for start, end, cue_lines in cues:
        said = " ".join(cue_lines)
        text = lines[start // 10_000]  # plan_of says line i from 10 i s
        if not text.endswith(said):  # a cue that is not the end of its line ends a sentence or a clause
            assert SENTENCE_END.search(said) or CLAUSE_END.search(said), said
