"""The timing rules of the plan, checked as properties over generated routines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceguide.plan import CHIME_S, HALFWAY_MIN_S, TAIL_S, build_plan, count_text, spoken_texts, switch_text
from voiceguide.routine import PauseStep, Routine, SayStep, Section, parse_routine

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


texts = st.text(alphabet="abcdefgh ", min_size=1, max_size=30).map(lambda s: s.strip() or "word")


@st.composite
def steps(draw):
    if draw(st.integers(0, 5)) == 0:
        return PauseStep(pause_s=draw(st.floats(0.5, 20)))
    kind = draw(st.sampled_from(["hold", "repeat", "none"]))
    sides = draw(st.sampled_from([None, ("left", "right"), ("top", "bottom")])) if kind != "none" else None
    if kind == "hold":
        return SayStep(say=draw(texts), hold_s=draw(st.floats(0.5, 60)), sides=sides)
    if kind == "repeat":
        return SayStep(say=draw(texts), repeat=draw(st.integers(1, 12)), every_s=draw(st.floats(0.3, 5)), count=draw(st.booleans()), sides=sides)
    return SayStep(say=draw(texts))


@st.composite
def routines(draw):
    sections = tuple(
        Section(title=draw(texts), steps=tuple(draw(st.lists(steps(), min_size=1, max_size=5))))
        for _ in range(draw(st.integers(1, 4)))
    )
    return Routine(
        title="generated",
        sections=sections,
        pace=draw(st.floats(0.25, 4.0)),
        lead_in_s=draw(st.floats(0, 10)),
        intro=draw(st.none() | texts),
        outro=draw(st.none() | texts),
        chimes=draw(st.sampled_from(["bowl", "wood", "none"])),
    )


@settings(max_examples=200, deadline=None)
@given(routines(), st.floats(0.02, 0.2))
def test_timing_rules_hold_for_any_routine(routine, per_char_s):
    speech = lengths(routine, per_char_s)
    plan = build_plan(routine, speech)

    # Speech never overlaps speech or a chime.
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
        for number, step in enumerate(section.steps, start=1):
            events = [e for e in step_events(plan, section.title, number)]
            # Section titles may repeat in generated routines; select this section's occurrence.
            events = [e for e in events if plan.chapters[_chapter_index(routine, s_index)].start_s <= e.start_s < plan.chapters[_chapter_index(routine, s_index)].end_s]
            actions = [e for e in events if e.type == "action"]
            if isinstance(step, PauseStep):
                (pause,) = [e for e in events if e.type == "pause"]
                assert pause.duration_s == pytest.approx(step.pause_s / routine.pace)
                continue
            instruction = next(e for e in events if e.kind == "instruction")
            if routine.chimes != "none":
                chime = next(e for e in events if e.type == "chime" and e.kind == "step")
                assert chime.end_s <= instruction.start_s
            halfway = [e for e in events if e.kind == "halfway"]
            long_hold = step.hold_s is not None and step.hold_s / routine.pace > HALFWAY_MIN_S
            assert len(halfway) == (len(actions) if long_hold and routine.chimes != "none" else 0)
            for cue, action in zip(halfway, actions):
                assert cue.start_s == pytest.approx((action.start_s + action.end_s) / 2)
            for action in actions:
                assert instruction.end_s <= action.start_s
            expected = step.action_s / routine.pace
            if step.action_s == 0:
                assert not actions
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

    # Chapters tile the whole session.
    assert plan.chapters[0].start_s == 0
    assert plan.chapters[-1].end_s == pytest.approx(plan.duration_s)
    for a, b in zip(plan.chapters, plan.chapters[1:]):
        assert a.end_s == b.start_s

    if routine.chimes == "none":
        assert not any(e.type == "chime" for e in plan.events)
    else:
        assert plan.events[-1].kind == "end"


def _chapter_index(routine: Routine, section_index: int) -> int:
    return section_index + (1 if routine.intro else 0)
