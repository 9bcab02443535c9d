"""The timing rules of the plan, checked as properties over generated routines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceguide.plan import (
    CHIME_S,
    COUNT_GAP_S,
    HALFWAY_MIN_S,
    PACE_MAX,
    PACE_MIN,
    PREVIEW_CLEAR_S,
    PREVIEW_END_BEFORE_S,
    PREVIEW_MIN_LEAD_S,
    TAIL_S,
    LengthError,
    breath_cues,
    build_plan,
    count_text,
    estimate_speech_s,
    fit_to_length,
    length_range,
    phrase,
    preview_text,
    spoken_texts,
    stroke_cues,
    first_side_text,
    switch_text,
)
from voiceguide.routine import BreatheStep, PauseStep, Routine, SayStep, Section, parse_routine

from .conftest import SMALL_ROUTINE


def lengths(routine: Routine, per_char_s: float = 0.06) -> dict[str, float]:
    return {t: 0.3 + per_char_s * len(t) for t in spoken_texts(routine)}


def step_events(plan, section: str, step: int):
    return [e for e in plan.events if e.section == section and e.step == step]


def test_small_routine_layout():
    routine = parse_routine(SMALL_ROUTINE)
    speech = lengths(routine)
    plan = build_plan(routine, speech)
    intro = plan.events[0]
    assert intro.type == "speech" and intro.kind == "intro" and intro.start_s == pytest.approx(1.0)
    assert intro.duration_s == pytest.approx(speech[routine.intro])

    chime, instruction, action, *counts = [e for e in step_events(plan, "Neck", 1) if e.type != "speech" or e.kind != "count"] + [
        e for e in step_events(plan, "Neck", 1) if e.kind == "count"
    ]
    assert (chime.type, instruction.type, action.type) == ("chime", "speech", "action")
    assert chime.end_s <= instruction.start_s < instruction.end_s <= action.start_s
    assert action.duration_s == pytest.approx(4.5)
    assert [c.text for c in counts] == ["1", "2", "3"]
    assert [c.start_s - action.start_s for c in counts] == pytest.approx([0.0, 1.5, 3.0])

    sides = [e for e in step_events(plan, "Neck", 2) if e.type == "action"]
    assert [e.side for e in sides] == ["left", "right"]
    assert sides[0].duration_s == pytest.approx(sides[1].duration_s) == pytest.approx(3.0)
    switch_chime = [e for e in step_events(plan, "Neck", 2) if e.type == "chime" and e.kind == "switch"][0]
    switch_speech = [e for e in step_events(plan, "Neck", 2) if e.kind == "switch" and e.type == "speech"][0]
    assert sides[0].end_s <= switch_chime.start_s < switch_chime.end_s <= switch_speech.start_s
    assert switch_speech.end_s <= sides[1].start_s
    assert switch_speech.text == switch_text("right")

    pause = [e for e in plan.events if e.type == "pause"][0]
    assert pause.duration_s == pytest.approx(2.0)

    end = plan.events[-1]
    assert end.type == "chime" and end.kind == "end"
    outro = [e for e in plan.events if e.kind == "outro"][0]
    assert outro.end_s <= end.start_s
    assert plan.duration_s == pytest.approx(end.start_s + TAIL_S)
    assert [c.title for c in plan.chapters] == ["Introduction", "Neck", "Jaw", "Closing"]


def test_pace_scales_action_time_only():
    routine = parse_routine(SMALL_ROUTINE)
    speech = lengths(routine)
    normal = build_plan(routine, speech)
    slow = build_plan(routine.with_overrides(pace=0.8), speech)
    for a, b in zip(normal.events, slow.events):
        assert a.type == b.type
        if a.type in ("action", "pause"):
            assert b.duration_s == pytest.approx(a.duration_s * 1.25)
        else:
            assert b.duration_s == pytest.approx(a.duration_s)


def test_counts_longer_than_a_stroke_stretch_the_stroke_and_warn():
    routine = parse_routine("title: t\nmusic: none\nsections:\n  - title: s\n    steps:\n      - say: go\n        repeat: 3\n        every: 0.5s\n        count: true\n")
    speech = lengths(routine)
    speech[count_text(2)] = 0.9
    plan = build_plan(routine, speech)
    counts = [e for e in plan.events if e.kind == "count"]
    for a, b in zip(counts, counts[1:]):
        assert a.end_s <= b.start_s
    assert plan.warnings and "lengthened" in plan.warnings[0]


def test_missing_speech_duration_is_an_error():
    routine = parse_routine(SMALL_ROUTINE)
    with pytest.raises(KeyError):
        build_plan(routine, {})


def parse(body: str, head: str = "") -> Routine:
    return parse_routine("title: t\nmusic: none\nlead_in: 0\n" + head + "sections:\n  - title: s\n    steps:\n" + body)


def kinds(plan, kind: str) -> list:
    return [e for e in plan.events if e.kind == kind]


# --- breathing ---------------------------------------------------------------------------------


def test_breathing_cues_start_exactly_at_each_phase_and_ignore_pace():
    routine = parse("      - say: Breathe with me.\n        breathe: {in: 4, hold: 7, out: 8, cycles: 2}\n")
    speech = lengths(routine)
    for pace in (1.0, 0.5, 3.0):
        plan = build_plan(routine.with_overrides(pace=pace), speech)
        (action,) = [e for e in plan.events if e.type == "action"]
        assert action.kind == "breathe" and action.duration_s == pytest.approx(2 * 19)
        cues = kinds(plan, "breath")
        assert [c.text for c in cues] == ["in", "hold", "out"] * 2
        assert [c.start_s - action.start_s for c in cues] == pytest.approx([0, 4, 11, 19, 23, 30])
        instruction = kinds(plan, "instruction")[0]
        assert instruction.end_s <= action.start_s
        assert not plan.warnings


def test_breathing_without_hold_or_say():
    routine = parse("      - breathe: 4-6\n")
    plan = build_plan(routine, lengths(routine))
    assert [c.text for c in kinds(plan, "breath")] == ["in", "out"] * 3
    assert not kinds(plan, "instruction")
    step_chime = [e for e in plan.events if e.type == "chime" and e.kind == "step"][0]
    assert step_chime.end_s <= kinds(plan, "breath")[0].start_s


def test_a_breathing_cue_longer_than_its_phase_lengthens_it_and_warns():
    routine = parse("      - breathe: {in: 2, hold: 1, out: 3, cycles: 2}\n")
    speech = lengths(routine)
    speech["hold"] = 1.35
    plan = build_plan(routine, speech)
    cues = kinds(plan, "breath")
    assert [c.start_s - cues[0].start_s for c in cues] == pytest.approx([0, 2, 3.5, 6.5, 8.5, 10])
    for a, b in zip(cues, cues[1:]):
        assert a.end_s <= b.start_s
    (warning,) = plan.warnings
    assert "'hold' needs 1.50 s" in warning and "lengthened by 0.50 s" in warning and "line 7" in warning


# --- count variants and ticks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "repeat, expected",
    [
        (1, ["last one"]),
        (2, ["two", "last one"]),
        (3, ["three more", "two", "last one"]),
        (6, ["1", "2", "3", "three more", "two", "last one"]),
        (15, [str(n) for n in range(1, 11)] + [None, None, "three more", "two", "last one"]),
    ],
)
def test_countdown_cues(repeat, expected):
    assert list(stroke_cues(SayStep("go", repeat=repeat, count="countdown"))) == expected


def test_count_modes_and_korean_numbers():
    assert stroke_cues(SayStep("go", repeat=3, count=True)) == ("1", "2", "3")
    assert stroke_cues(SayStep("go", repeat=3, count="ticks")) == (None, None, None)
    assert stroke_cues(SayStep("go", repeat=3)) == ()
    assert [count_text(n, "ko") for n in (1, 2, 10, 11)] == ["하나", "둘", "열", "11"]
    assert count_text(3, "ko-KR") == "셋" and count_text(3, "fr") == "3"
    assert stroke_cues(SayStep("go", repeat=4, count="countdown"), "ko") == ("하나", "세 번 더", "둘", "마지막")


def test_count_ticks_are_quiet_chimes_at_each_stroke():
    routine = parse("      - say: go\n        repeat: 4\n        every: 2s\n        count: ticks\n")
    plan = build_plan(routine, lengths(routine))
    (action,) = [e for e in plan.events if e.type == "action"]
    ticks = [e for e in plan.events if e.type == "chime" and e.kind == "tick"]
    assert [t.start_s - action.start_s for t in ticks] == pytest.approx([0, 2, 4, 6])
    assert all(t.duration_s == pytest.approx(CHIME_S["tick"]) for t in ticks)
    assert not kinds(plan, "count")
    assert "tick" not in " ".join(spoken_texts(routine))
    silent = build_plan(routine.with_overrides(chimes="none"), lengths(routine))
    assert not [e for e in silent.events if e.type == "chime"]


def test_hold_metronome_skips_the_tick_under_the_halfway_cue():
    routine = parse("      - say: go\n        hold: 40s\n        tick: true\n        every: 4s\n")
    plan = build_plan(routine, lengths(routine))
    (action,) = [e for e in plan.events if e.type == "action"]
    ticks = [round(e.start_s - action.start_s, 6) for e in plan.events if e.kind == "tick"]
    assert ticks == [0, 4, 8, 12, 16, 24, 28, 32, 36]  # 20 s is the halfway cue
    (halfway,) = kinds(plan, "halfway")
    assert halfway.start_s - action.start_s == pytest.approx(20)
    # Pace scales the metronome with the hold.
    slow = build_plan(routine.with_overrides(pace=0.5), lengths(routine))
    slow_action = [e for e in slow.events if e.type == "action"][0]
    slow_ticks = [e.start_s - slow_action.start_s for e in slow.events if e.kind == "tick"]
    assert slow_ticks[:3] == pytest.approx([0, 8, 16])


# --- previews ----------------------------------------------------------------------------------


def test_preview_text_is_the_next_first_sentence_shortened():
    assert preview_text("Rest your hands. Then breathe.") == "Next: Rest your hands."
    assert preview_text("Breathe in slowly through your nose... and out.") == "Next: Breathe in slowly through your nose... and out."
    long = "Make a V with your index and middle fingers and hug your jaw between them. Glide."
    assert preview_text(long) == "Next: Make a V with your index and middle..."
    assert preview_text("손끝을 관자놀이에 대 주세요. 원을 그리세요.", "ko") == "다음: 손끝을 관자놀이에 대 주세요."
    assert preview_text("あ" * 40, "ja") == "Next: " + "あ" * 24 + "..."


PREVIEW_ROUTINE = """\
      - say: Hold your cheeks.
        hold: 12s
      - pause: 2s
      - say: Circle the temples. Slowly now.
        repeat: 4
        every: 2s
        count: true
      - say: Stroke the neck.
        hold: 10s
        sides: true
        preview: false
      - say: Last.
        hold: 8s
        tick: true
        every: 1s
"""


def test_preview_sits_before_the_action_ends_and_is_skipped_where_it_does_not_fit():
    routine = parse(PREVIEW_ROUTINE, head="preview: true\n")
    speech = lengths(routine)
    assert "Next: Circle the temples." in spoken_texts(routine)
    plan = build_plan(routine, speech)
    previews = kinds(plan, "preview")
    # Step 1 previews step 3 (across the pause); the counted step has no room between its numbers;
    # step 4 opted out; the last step has no next step.
    assert [(p.step, p.text) for p in previews] == [(1, "Next: Circle the temples.")]
    action = [e for e in step_events(plan, "s", 1) if e.type == "action"][0]
    assert previews[0].end_s == pytest.approx(action.end_s - PREVIEW_END_BEFORE_S)
    assert not plan.warnings
    # Without `preview: true` nothing is previewed at all.
    off = parse(PREVIEW_ROUTINE)
    assert not kinds(build_plan(off, lengths(off)), "preview")
    assert not any(t.startswith("Next:") for t in spoken_texts(off))


def test_preview_makes_ticks_give_way():
    body = "      - say: Tap.\n        hold: 10s\n        tick: true\n        every: 0.5s\n      - say: Then rest.\n"
    routine = parse(body, head="preview: true\n")
    plan = build_plan(routine, lengths(routine))
    (preview,) = kinds(plan, "preview")
    ticks = kinds(plan, "tick")
    assert ticks and all(t.end_s <= preview.start_s or t.start_s >= preview.end_s for t in ticks)
    assert len(ticks) < 20


def test_korean_phrases():
    body = "      - say: 쓸어내리세요.\n        hold: 3s\n        sides: true\n      - breathe: {in: 4, hold: 4, out: 6, cycles: 1}\n"
    routine = parse(body, head="language: ko\nintro: 안녕하세요.\noutro: 끝.\n")
    plan = build_plan(routine, lengths(routine))
    assert [c.title for c in plan.chapters] == ["시작", "s", "마무리"]
    assert kinds(plan, "switch")[-1].text == "이제 오른쪽."
    assert [e.text for e in kinds(plan, "side")] == ["먼저 왼쪽부터."]
    assert [e.side for e in plan.events if e.type == "action" and e.side] == ["왼쪽", "오른쪽"]
    assert [c.text for c in kinds(plan, "breath")] == ["들이쉬고", "멈추고", "내쉬고"]
    # Unknown languages use the English words.
    assert switch_text("right", "fr") == "Now the right side." and phrase("next", "fr") == "Next: {text}"


def test_breathing_warning_of_one_cycle_is_singular():
    routine = parse("      - breathe: {in: 1, out: 4, cycles: 1}\n")
    plan = build_plan(routine, {**lengths(routine), "in": 2.0})
    (warning,) = plan.warnings
    assert "lengthened by 1.15 s" in warning and "cycles" not in warning
    routine = parse("      - breathe: {in: 1, out: 4, cycles: 2}\n")
    (warning,) = build_plan(routine, {**lengths(routine), "in": 2.0}).warnings
    assert warning.endswith("in each of the 2 cycles")


def test_both_sides_are_announced():
    routine = parse_routine(SMALL_ROUTINE)
    plan = build_plan(routine, lengths(routine))
    events = step_events(plan, "Neck", 2)
    speech = [(e.kind, e.text, e.side) for e in events if e.type == "speech"]
    assert speech == [
        ("instruction", "Stroke down the neck.", None),
        ("side", "Left side first.", "left"),
        ("switch", "Now the right side.", "right"),
    ]
    first = kinds(plan, "side")[0]
    left, right = [e for e in events if e.type == "action"]
    assert first.end_s < left.start_s and left.side == "left" and right.side == "right"
    assert "Left side first." in spoken_texts(routine)
    # Labels of the routine's own choosing are announced as written.
    custom = parse("      - say: Press.\n        hold: 2s\n        sides: [upper lip, lower lip]\n")
    plan = build_plan(custom, lengths(custom))
    assert [e.text for e in plan.speech() if e.kind in ("side", "switch")] == ["Upper lip first.", "Now the lower lip."]


def test_estimate_counts_hangul_by_character():
    assert estimate_speech_s("Rest your hands now.") == pytest.approx(0.2 + 4 * 0.4)
    # ~0.23 s a syllable at 150 wpm, spaces or not.
    assert estimate_speech_s("하나") == pytest.approx(0.2 + 2 * 60 / (150 * 1.75))
    assert estimate_speech_s("관자놀이를부드럽게") == pytest.approx(estimate_speech_s("관자놀이를 부드럽게"))
    assert estimate_speech_s("원을 그리세요 10번") == pytest.approx(0.2 + (1 + 7 / 1.75) * 0.4)  # 7 syllables and "10"
    assert estimate_speech_s("一二三四", 300) < estimate_speech_s("一二三四", 150)


# --- fitting to a length -----------------------------------------------------------------------


def test_fit_to_length_hits_the_target_and_explains_impossible_ones():
    routine = parse_routine(SMALL_ROUTINE)
    speech = lengths(routine)
    shortest, longest = length_range(routine, speech)
    for target in (shortest + 0.5, (shortest + longest) / 2, longest - 0.2, 40.0):
        if shortest <= target <= longest:
            fitted = fit_to_length(routine, speech, target)
            assert abs(build_plan(fitted, speech).duration_s - target) <= 1.0
            assert PACE_MIN <= fitted.pace <= PACE_MAX
    # The pace --length chooses stays in the documented range, and a refusal names the lengths possible.
    assert shortest == build_plan(routine.with_overrides(pace=4), speech).duration_s
    assert longest == build_plan(routine.with_overrides(pace=0.25), speech).duration_s
    with pytest.raises(LengthError, match=r"too short .*shortest it can be is (\d+:\d\d) \(at the fastest pace, 4; "
                       r"the speech alone takes 0:\d\d\); ask for \1 or more") as refused:
        fit_to_length(routine, speech, shortest - 5)
    assert "pace 50" not in str(refused.value) and "0.02" not in str(refused.value)
    with pytest.raises(LengthError, match=r"too long .*longest it can be is (\d+:\d\d) \(at the slowest pace, 0.25\); ask for \1 or less"):
        fit_to_length(routine, speech, longest + 5)
    only_speech = parse("      - say: just words\n")
    with pytest.raises(LengthError, match="no action time to stretch"):
        fit_to_length(only_speech, lengths(only_speech), 600)


# --- the timing rules, as properties -----------------------------------------------------------

texts = st.text(alphabet="abcdefgh ", min_size=1, max_size=30).map(lambda s: s.strip() or "word")


@st.composite
def steps(draw):
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return PauseStep(pause_s=draw(st.floats(0.5, 20)))
    if choice == 1:
        return BreatheStep(
            in_s=draw(st.floats(1, 8)),
            hold_s=draw(st.sampled_from([0.0, 1.0, 2.5, 7.0])),
            out_s=draw(st.floats(1, 8)),
            cycles=draw(st.integers(1, 4)),
            say=draw(st.none() | texts),
        )
    kind = draw(st.sampled_from(["hold", "repeat", "none"]))
    sides = draw(st.sampled_from([None, ("left", "right"), ("top", "bottom")])) if kind != "none" else None
    preview = draw(st.sampled_from([None, None, True, False]))
    if kind == "hold":
        return SayStep(
            say=draw(texts), hold_s=draw(st.floats(0.5, 60)), sides=sides, tick=draw(st.booleans()),
            every_s=draw(st.floats(0.1, 5)), preview=preview,
        )
    if kind == "repeat":
        return SayStep(
            say=draw(texts), repeat=draw(st.integers(1, 16)), every_s=draw(st.floats(0.1, 5)),
            count=draw(st.sampled_from([None, "numbers", "countdown", "ticks"])), sides=sides, preview=preview,
        )
    return SayStep(say=draw(texts), preview=preview)


@st.composite
def routines(draw):
    sections = tuple(
        Section(title=draw(texts), steps=tuple(draw(st.lists(steps(), min_size=1, max_size=5))))
        for _ in range(draw(st.integers(1, 4)))
    )
    return Routine(
        title="generated",
        sections=sections,
        language=draw(st.sampled_from(["en", "ko", "fr"])),
        pace=draw(st.floats(0.25, 4.0)),
        lead_in_s=draw(st.floats(0, 10)),
        preview=draw(st.booleans()),
        intro=draw(st.none() | texts),
        outro=draw(st.none() | texts),
        chimes=draw(st.sampled_from(["bowl", "wood", "none"])),
    )


def _inside(event, actions) -> bool:
    return any(a.start_s - 1e-9 <= event.start_s and event.end_s <= a.end_s + 1e-9 for a in actions)


@settings(max_examples=150, deadline=None)
@given(routines(), st.floats(0.02, 0.2))
def test_timing_rules_hold_for_any_routine(routine, per_char_s):
    speech = lengths(routine, per_char_s)
    plan = build_plan(routine, speech)
    chimes_on = routine.chimes != "none"

    # Speech never overlaps speech or a chime, and chimes (ticks included) never overlap each other.
    sounding = sorted((e for e in plan.events if e.type in ("speech", "chime")), key=lambda e: e.start_s)
    for a, b in zip(sounding, sounding[1:]):
        assert a.end_s <= b.start_s + 1e-9, (a, b)

    # Every spoken event lasts exactly as long as its clip; everything ends inside the session.
    for e in plan.events:
        assert 0 <= e.start_s <= e.end_s <= plan.duration_s + 1e-9
        if e.type == "speech":
            assert e.duration_s == pytest.approx(speech[e.text])
        if e.type == "chime":
            assert e.duration_s == pytest.approx(CHIME_S[e.kind])

    for s_index, section in enumerate(routine.sections):
        chapter = plan.chapters[_chapter_index(routine, s_index)]
        for number, step in enumerate(section.steps, start=1):
            # Section titles may repeat in generated routines; select this section's occurrence.
            events = [e for e in step_events(plan, section.title, number) if chapter.start_s <= e.start_s < chapter.end_s]
            actions = [e for e in events if e.type == "action"]
            # Counts, breathing cues, previews, ticks and halfway cues all sound inside the action time.
            for e in events:
                if e.kind in ("count", "breath", "preview", "tick", "halfway"):
                    assert _inside(e, actions), e
            if isinstance(step, PauseStep):
                (pause,) = [e for e in events if e.type == "pause"]
                assert pause.duration_s == pytest.approx(step.pause_s / routine.pace)
                continue
            if routine.chimes != "none":
                chime = next(e for e in events if e.type == "chime" and e.kind == "step")
                first = next(e for e in events if e.type in ("speech", "action"))
                assert chime.end_s <= first.start_s
            if isinstance(step, BreatheStep):
                _check_breathing(routine, step, events, actions, speech)
                continue
            instruction = next(e for e in events if e.kind == "instruction")
            halfway = [e for e in events if e.kind == "halfway"]
            long_hold = step.hold_s is not None and step.hold_s / routine.pace > HALFWAY_MIN_S
            assert len(halfway) == (len(actions) if long_hold and chimes_on else 0)
            for cue, action in zip(halfway, actions):
                assert cue.start_s == pytest.approx((action.start_s + action.end_s) / 2)
            for action in actions:
                assert instruction.end_s <= action.start_s
            expected = step.action_s / routine.pace
            if step.action_s == 0:
                assert not actions
                assert not [e for e in events if e.kind == "preview"]
                continue
            assert len(actions) == (2 if step.sides else 1)
            durations = {round(a.duration_s, 9) for a in actions}
            assert len(durations) == 1, "both sides get the same action time"
            if not step.count:
                assert actions[0].duration_s == pytest.approx(expected)
            else:
                assert actions[0].duration_s >= expected - 1e-9
            if step.sides:
                switch = [e for e in events if e.kind == "switch" and e.type == "speech"]
                assert len(switch) == 1 and actions[0].end_s <= switch[0].start_s and switch[0].end_s <= actions[1].start_s
                # Each side is announced before its action: the first after the instruction, the second after the switch.
                (first,) = [e for e in events if e.kind == "side"]
                assert instruction.end_s < first.start_s and first.end_s < actions[0].start_s
                assert (first.side, switch[0].side) == (actions[0].side, actions[1].side) == tuple(step.sides)
                assert first.text == first_side_text(step.sides[0], routine.language)
            else:
                assert not [e for e in events if e.kind in ("side", "switch")]
            for side_index, action in enumerate(actions):
                inside = [e for e in events if e.side == action.side and e.type != "action"] if step.sides else [
                    e for e in events if e.type != "action" and e.start_s >= action.start_s - 1e-9
                ]
                _check_strokes(routine, step, action, inside, chimes_on)
                last = side_index == len(actions) - 1
                _check_preview(routine, s_index, number - 1, step, action, inside, speech, last)

    # Chapters tile the whole session.
    assert plan.chapters[0].start_s == 0
    assert plan.chapters[-1].end_s == pytest.approx(plan.duration_s)
    for a, b in zip(plan.chapters, plan.chapters[1:]):
        assert a.end_s == b.start_s

    if routine.chimes == "none":
        assert not any(e.type == "chime" for e in plan.events)
    else:
        assert plan.events[-1].kind == "end"


def _check_breathing(routine, step, events, actions, speech):
    (action,) = actions
    assert action.kind == "breathe"
    phases = [(word, max(seconds, speech[word] + COUNT_GAP_S)) for word, seconds in breath_cues(step, routine.language)]
    cycle_s = sum(seconds for _, seconds in phases)
    assert action.duration_s == pytest.approx(step.cycles * cycle_s), "breathing is not scaled by pace"
    expected, at = [], action.start_s
    for _ in range(step.cycles):
        for word, seconds in phases:
            expected.append((word, at))
            at += seconds
    cues = [(e.text, e.start_s) for e in events if e.kind == "breath"]
    assert [w for w, _ in cues] == [w for w, _ in expected]
    assert [t for _, t in cues] == pytest.approx([t for _, t in expected])


def _check_strokes(routine, step, action, inside, chimes_on):
    cues = stroke_cues(step, routine.language)
    ticks = [e for e in inside if e.kind == "tick"]
    counts = [e for e in inside if e.kind == "count"]
    if cues:
        stroke_s = action.duration_s / len(cues)
        assert [c.text for c in counts] == [c for c in cues if c is not None]
        spoken_at = [action.start_s + n * stroke_s for n, c in enumerate(cues) if c is not None]
        assert [c.start_s for c in counts] == pytest.approx(spoken_at)
        tick_at = [action.start_s + n * stroke_s for n, c in enumerate(cues) if c is None]
        # A stroke tick sounds at its stroke start unless speech (a preview) is there.
        for t in ticks:
            assert any(abs(t.start_s - at) < 1e-6 for at in tick_at)
        if not chimes_on:
            assert not ticks
        elif not [e for e in inside if e.kind == "preview"]:
            assert len(ticks) == len(tick_at)
    elif step.tick and chimes_on:
        interval = max(step.every_s / routine.pace, CHIME_S["tick"] + COUNT_GAP_S)
        for t in ticks:
            k = (t.start_s - action.start_s) / interval
            assert abs(k - round(k)) < 1e-6
        blocked = [e for e in inside if e.kind in ("preview", "halfway")]
        n_slots = int((action.duration_s - CHIME_S["tick"]) / interval + 1e-9) + 1
        assert len(ticks) >= n_slots - sum(1 + int((e.duration_s + CHIME_S["tick"]) / interval) + 1 for e in blocked)
        assert ticks or blocked or n_slots == 0
    else:
        assert not ticks


def _check_preview(routine, si, ti, step, action, inside, speech, last):
    previews = [e for e in inside if e.kind == "preview"]
    if not last or not previews:
        # A preview that was not placed is allowed only when it could not fit, or none is due.
        from voiceguide.plan import previews as due

        text = due(routine).get((si, ti))
        if last and text is not None:
            start = action.end_s - PREVIEW_END_BEFORE_S - speech[text]
            others = [e for e in inside if e.kind in ("count", "halfway")]
            roomy = start >= action.start_s + PREVIEW_MIN_LEAD_S + 1e-6 and not any(
                e.start_s < action.end_s - PREVIEW_END_BEFORE_S + PREVIEW_CLEAR_S + 1e-6 and start - PREVIEW_CLEAR_S - 1e-6 < e.end_s
                for e in others
            )
            assert not roomy, "a preview that fits is spoken"
        assert not previews or last
        return
    (preview,) = previews
    assert preview.end_s == pytest.approx(action.end_s - PREVIEW_END_BEFORE_S)
    assert preview.start_s >= action.start_s + PREVIEW_MIN_LEAD_S - 1e-9
    assert preview.text.startswith(phrase("next", routine.language).split("{")[0])


def _chapter_index(routine: Routine, section_index: int) -> int:
    return section_index + (1 if routine.intro else 0)


@settings(max_examples=150, deadline=None)
@given(routines(), st.floats(0.02, 0.2), st.floats(-0.2, 1.2))
def test_fit_to_length_within_a_second_or_length_error(routine, per_char_s, where):
    speech = lengths(routine, per_char_s)
    shortest, longest = length_range(routine, speech)
    if longest - shortest < 2.0:
        where = -0.2 if where < 0.5 else 1.2
    target = shortest + where * (longest - shortest)
    if shortest - 1.0 <= target <= longest + 1.0:
        fitted = fit_to_length(routine, speech, target)
        assert abs(build_plan(fitted, speech).duration_s - target) <= 1.0
        assert PACE_MIN <= fitted.pace <= PACE_MAX
        assert spoken_texts(fitted) == spoken_texts(routine)
    else:
        with pytest.raises(LengthError):
            fit_to_length(routine, speech, target)
