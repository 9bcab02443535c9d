"""Routine + speech durations -> a timeline of timed events. Pure: no audio, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .routine import MusicSettings, PauseStep, Routine, SayStep

# Chime spans: the mix renders each chime so it fits inside its span (tail included), so speech placed
# after the span can never overlap a ringing chime.
CHIME_S = {"section": 1.6, "step": 1.2, "switch": 0.9, "halfway": 1.0, "end": 4.0}
# Holds longer than this get a soft chime at their midpoint (inside the action time, never moving it).
HALFWAY_MIN_S = 30.0
CHIME_TO_SPEECH_S = 0.25
SPEECH_TO_ACTION_S = 0.6
STEP_GAP_S = 0.8
INTRO_GAP_S = 1.2
# Music keeps playing this long after the closing chime starts, fading to silence.
TAIL_S = 6.0
# A spoken count must leave a little air before the next one.
COUNT_GAP_S = 0.15


def switch_text(label: str) -> str:
    return f"Now the other side, {label}."


def estimate_speech_s(text: str, rate_wpm: int = 150) -> float:
    """A synthesis-free guess at how long text takes to say (for listings and `check`)."""
    words = max(1, len(text.split()))
    return 0.2 + words * 60.0 / rate_wpm


def count_text(n: int) -> str:
    # Digits let the engine say the number in the routine's own language.
    return str(n)


@dataclass(frozen=True)
class Event:
    type: str  # "speech" | "chime" | "action" | "pause"
    start_s: float
    end_s: float
    kind: str = ""  # speech: intro/section/instruction/switch/count/outro; chime: section/step/switch/end
    text: str | None = None
    side: str | None = None
    section: str | None = None
    step: int | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_json(self) -> dict:
        out: dict = {"type": self.type, "kind": self.kind, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}
        for key in ("text", "side", "section", "step"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Chapter:
    title: str
    start_s: float
    end_s: float

    def to_json(self) -> dict:
        return {"title": self.title, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}


@dataclass(frozen=True)
class Plan:
    title: str
    duration_s: float
    events: tuple[Event, ...]
    chapters: tuple[Chapter, ...]
    music: MusicSettings | None
    lead_in_s: float
    fade_out_s: float
    warnings: tuple[str, ...] = field(default=())
    chimes: str = "bowl"

    def speech(self) -> list[Event]:
        return [e for e in self.events if e.type == "speech"]

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "duration_s": round(self.duration_s, 3),
            "events": [e.to_json() for e in self.events],
            "chapters": [c.to_json() for c in self.chapters],
            "warnings": list(self.warnings),
        }


def spoken_texts(routine: Routine) -> list[str]:
    """Every distinct utterance the plan will place, in first-use order (what the voice must synthesise)."""
    texts: list[str] = []
    if routine.intro:
        texts.append(routine.intro)
    for section in routine.sections:
        texts.append(section.title)
        for step in section.steps:
            if isinstance(step, SayStep):
                texts.append(step.say)
                if step.sides:
                    texts.append(switch_text(step.sides[1]))
                if step.count and step.repeat:
                    texts.extend(count_text(n) for n in range(1, step.repeat + 1))
    if routine.outro:
        texts.append(routine.outro)
    return list(dict.fromkeys(texts))


class _Timeline:
    def __init__(self, speech_s: Mapping[str, float], chimes_on: bool):
        self.speech_s = speech_s
        self.chimes_on = chimes_on
        self.t = 0.0
        self.events: list[Event] = []
        self.warnings: list[str] = []

    def chime(self, kind: str, **where) -> None:
        if not self.chimes_on:
            return
        end = self.t + CHIME_S[kind]
        self.events.append(Event("chime", self.t, end, kind=kind, **where))
        self.t = end + CHIME_TO_SPEECH_S

    def say(self, text: str, kind: str, **where) -> None:
        end = self.t + self.speech_s[text]
        self.events.append(Event("speech", self.t, end, kind=kind, text=text, **where))
        self.t = end

    def action(self, spec: SayStep, action_s: float, stroke_s: float | None, side: str | None, **where) -> None:
        start = self.t
        self.events.append(Event("action", start, start + action_s, side=side, **where))
        if self.chimes_on and spec.hold_s is not None and action_s > HALFWAY_MIN_S:
            mid = start + action_s / 2
            self.events.append(Event("chime", mid, mid + CHIME_S["halfway"], kind="halfway", side=side, **where))
        if stroke_s is not None and spec.repeat:
            for n in range(1, spec.repeat + 1):
                at = start + (n - 1) * stroke_s
                text = count_text(n)
                self.events.append(Event("speech", at, at + self.speech_s[text], kind="count", text=text, side=side, **where))
        self.t = start + action_s


def build_plan(routine: Routine, speech_s: Mapping[str, float]) -> Plan:
    """Lay out the session. `speech_s` maps every text of spoken_texts(routine) to its clip length in seconds.

    Timing rules: a step is its chime, then the spoken instruction, then the action time (hold, or
    repeat x every, divided by pace); sides repeat the action with a switch chime and cue between; speech
    never overlaps speech or a chime; the session ends with the outro, a closing chime and a fade.
    """
    missing = [t for t in spoken_texts(routine) if t not in speech_s]
    if missing:
        raise KeyError(f"no speech duration for {missing[0]!r}")
    tl = _Timeline(speech_s, chimes_on=routine.chimes != "none")
    chapters: list[tuple[str, float]] = []
    tl.t = routine.lead_in_s
    if routine.intro:
        chapters.append(("Introduction", 0.0))
        tl.say(routine.intro, "intro")
        tl.t += INTRO_GAP_S

    for section in routine.sections:
        chapters.append((section.title, 0.0 if not chapters else tl.t))
        tl.chime("section", section=section.title)
        tl.say(section.title, "section", section=section.title)
        tl.t += SPEECH_TO_ACTION_S
        for number, step in enumerate(section.steps, start=1):
            where = {"section": section.title, "step": number}
            if isinstance(step, PauseStep):
                pause_s = step.pause_s / routine.pace
                tl.events.append(Event("pause", tl.t, tl.t + pause_s, **where))
                tl.t += pause_s + STEP_GAP_S
                continue
            tl.chime("step", **where)
            tl.say(step.say, "instruction", **where)
            action_s = step.action_s / routine.pace
            stroke_s = None
            if step.count and step.repeat:
                stroke_s = step.every_s / routine.pace
                longest = max(speech_s[count_text(n)] for n in range(1, step.repeat + 1)) + COUNT_GAP_S
                if longest > stroke_s:
                    tl.warnings.append(
                        f"section '{section.title}', step {number}: the spoken count needs {longest:.2f} s "
                        f"but a stroke lasts {stroke_s:.2f} s; strokes were lengthened to fit"
                    )
                    stroke_s = longest
                    action_s = stroke_s * step.repeat
            if action_s > 0:
                tl.t += SPEECH_TO_ACTION_S
            sides = step.sides or (None,)
            for i, side in enumerate(sides):
                if i > 0:
                    tl.t += CHIME_TO_SPEECH_S if tl.chimes_on else 0.0
                    tl.chime("switch", **where)
                    tl.say(switch_text(side), "switch", side=side, **where)
                    tl.t += SPEECH_TO_ACTION_S
                if action_s > 0:
                    tl.action(step, action_s, stroke_s, side, **where)
            tl.t += STEP_GAP_S

    if routine.outro:
        chapters.append(("Closing", tl.t))
        tl.say(routine.outro, "outro")
        tl.t += CHIME_TO_SPEECH_S
    fade_start = tl.t
    tl.chime("end")
    duration = fade_start + TAIL_S
    tl.events.sort(key=lambda e: (e.start_s, e.type))
    bounds = [start for _, start in chapters] + [duration]
    return Plan(
        title=routine.title,
        duration_s=duration,
        events=tuple(tl.events),
        chapters=tuple(Chapter(title, bounds[i], bounds[i + 1]) for i, (title, _) in enumerate(chapters)),
        music=routine.music,
        lead_in_s=routine.lead_in_s,
        fade_out_s=TAIL_S,
        warnings=tuple(tl.warnings),
        chimes=routine.chimes,
    )
