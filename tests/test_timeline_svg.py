"""The timeline picture: one shape per plan event, placed by its time; `plan --svg` writes it like the other outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from voiceguide.plan import build_plan, estimated_speech
from voiceguide.routine import load_routine, parse_routine
from voiceguide.timeline_svg import LEFT_PX, RIGHT_PX, WIDTH_PX, plan_svg

from .conftest import SMALL_ROUTINE, assert_clean_failure, invoke

NS = {"s": "http://www.w3.org/2000/svg"}


def _plan(text: str = SMALL_ROUTINE):
    routine = parse_routine(text, "small.yaml")
    return build_plan(routine, estimated_speech(routine))


def _shapes(svg: str, cls: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [el for el in root.iter() if cls in (el.get("class") or "").split()]


def _x_of(seconds: float, duration_s: float) -> float:
    return LEFT_PX + (WIDTH_PX - LEFT_PX - RIGHT_PX) * seconds / duration_s


def test_every_event_has_its_shape_at_its_time():
    plan = _plan()
    svg = plan_svg(plan)
    root = ET.fromstring(svg)
    assert float(root.get("data-duration-s")) == pytest.approx(plan.duration_s, abs=0.001)
    speech = [e for e in plan.events if e.type == "speech"]
    shapes = _shapes(svg, "vg-speech")
    assert len(shapes) == len(speech)
    for event, shape in zip(speech, shapes):
        assert float(shape.get("x")) == pytest.approx(_x_of(event.start_s, plan.duration_s), abs=0.06)
        assert float(shape.get("width")) == pytest.approx(max(_x_of(event.duration_s, plan.duration_s) - LEFT_PX, 1.0), abs=0.11)
    assert len(_shapes(svg, "vg-chime")) == sum(e.type == "chime" for e in plan.events)
    assert len(_shapes(svg, "vg-speech-count")) == 3  # repeat: 3 with count: true
    actions = _shapes(svg, "vg-action")
    assert [a.get("side") for a in actions] == ["", "left", "right", ""]
    assert len(_shapes(svg, "vg-pause")) == 1
    assert [s.find("s:title", NS).text.split(" (")[0] for s in _shapes(svg, "vg-section")] == [c.title for c in plan.chapters]
    assert _shapes(svg, "vg-music") == []  # music: none
    assert "no music" in svg


def test_music_bed_spans_the_session_and_fades():
    routine = load_routine("morning")
    plan = build_plan(routine, estimated_speech(routine))
    (bed,) = _shapes(plan_svg(plan), "vg-music")
    xs = [float(p.split(",")[0]) for p in bed.get("points").split()]
    assert min(xs) == pytest.approx(LEFT_PX)
    assert max(xs) == pytest.approx(WIDTH_PX - RIGHT_PX)
    assert "soft-arpeggio" in bed.find("s:title", NS).text


def test_text_is_escaped():
    plan = _plan(SMALL_ROUTINE.replace("Glide along the jaw line.", 'Glide <b>along</b> & "out".').replace("title: Jaw", "title: Jaw & <chin>"))
    svg = plan_svg(plan)
    ET.fromstring(svg)  # well-formed
    assert "<b>" not in svg and "&lt;chin&gt;" in svg


def test_plan_svg_command_writes_and_refuses_to_overwrite(tmp_path, fake_engine, write_routine):
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "timeline.svg"
    result = invoke("plan", routine, "--engine", "fake", "--svg", out)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output
    first = out.read_text(encoding="utf-8")
    ET.fromstring(first)
    result = invoke("plan", routine, "--engine", "fake", "--svg", out, "--pace", "0.5")
    assert_clean_failure(result, 2)
    assert "--force" in result.output
    assert out.read_text(encoding="utf-8") == first  # nothing the user had is lost
    result = invoke("plan", routine, "--engine", "fake", "--svg", out, "--pace", "0.5", "--force")
    assert result.exit_code == 0, result.output
    slower = float(ET.fromstring(out.read_text(encoding="utf-8")).get("data-duration-s"))
    assert slower > float(ET.fromstring(first).get("data-duration-s"))


def test_plan_svg_with_json_keeps_stdout_json(tmp_path, fake_engine, write_routine):
    routine = write_routine(SMALL_ROUTINE)
    out = tmp_path / "t.svg"
    result = invoke("plan", routine, "--engine", "fake", "--json", "--svg", out, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["duration_s"] > 0
    assert out.exists()


def test_plan_svg_refuses_folder_and_same_file_as_json(tmp_path, write_routine):
    routine = write_routine(SMALL_ROUTINE)
    assert_clean_failure(invoke("plan", routine, "--svg", tmp_path), 2)
    same = tmp_path / "x.out"
    result = invoke("plan", routine, "-o", same, "--svg", same)
    assert_clean_failure(result, 2)
    assert "same file" in result.output
    assert not same.exists()
