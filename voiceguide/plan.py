"""Routine + speech durations -> a timeline of timed events. Pure: no audio, no I/O."""

from __future__ import annotations

import math

import re
from dataclasses import dataclass, field
from typing import Mapping

from .errors import Problem, RoutineError, UsageError
from .settings import SETTINGS
from .routine import MAX_SESSION_S, BreatheStep, MusicSettings, PauseStep, Routine, SayStep, Step, format_duration

# Chime spans: the mix renders each chime so it fits inside its span (tail included), so speech placed
# after the span can never overlap a ringing chime.
CHIME_S = {"section": 1.6, "step": 1.2, "switch": 0.9, "halfway": 1.0, "tick": 0.12, "end": 4.0}
# Holds longer than this get a soft chime at their midpoint (inside the action time, never moving it).
HALFWAY_MIN_S = 30.0
CHIME_TO_SPEECH_S = 0.25
SPEECH_TO_ACTION_S = 0.6
# Between a sided step's instruction and the announcement of its first side ("Left side first.").
SIDE_CUE_GAP_S = 0.4
STEP_GAP_S = 0.8
INTRO_GAP_S = 1.2
# Music keeps playing this long after the closing chime starts, fading to silence.
TAIL_S = 6.0
# A spoken count (or breathing cue, or tick) must leave a little air before the next one.
COUNT_GAP_S = 0.15
# `count: countdown` speaks the numbers of at most this many first strokes; longer counts tick softly
# after them, until the final "three more", "two", "last one".
COUNTDOWN_NUMBERS = 10
# A "Next: ..." preview ends this long before its action ends, never starts in the first
# PREVIEW_MIN_LEAD_S of the action, and keeps PREVIEW_CLEAR_S of air from counts and chimes.
PREVIEW_END_BEFORE_S = 1.5
PREVIEW_MIN_LEAD_S = 2.0
PREVIEW_CLEAR_S = COUNT_GAP_S
# A preview quotes the next step's first sentence: whole up to PREVIEW_MAX_WORDS words, else its first
# PREVIEW_WORDS words and "..."; text written without spaces is cut after PREVIEW_MAX_CHARS characters.
PREVIEW_WORDS = 8
PREVIEW_MAX_WORDS = 10
PREVIEW_MAX_CHARS = 24
# fit_to_length keeps the pace inside the range a routine may set.
PACE_MIN = SETTINGS["pace"].low
PACE_MAX = SETTINGS["pace"].high
_EPS = 1e-9

# The fixed phrases, by the routine's language (its primary subtag: "ko-KR" -> "ko"). Other languages
# use the English words; their counts stay digits, which every engine reads in its own language.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "introduction": "Introduction",
        "closing": "Closing",
        # The side named where a clause stresses it: "Now the other side, right." was heard as "Out and on the
        # side, right." (espeak, 4 of 4 times, Whisper base); "Now the right side." as said.
        "first side": "{Side} first.",
        "switch": "Now the {side}.",
        "side": "{label} side",
        "in": "in",
        "hold": "hold",
        "out": "out",
        "three more": "three more",
        "two": "two",
        "last one": "last one",
        "next": "Next: {text}",
    },
    "ko": {
        "introduction": "시작",
        "closing": "마무리",
        "first side": "먼저 {side}부터.",
        "switch": "이제 {side}.",
        "side": "{label}",
        "in": "들이쉬고",
        "hold": "멈추고",
        "out": "내쉬고",
        "three more": "세 번 더",
        "two": "둘",
        "last one": "마지막",
        "next": "다음: {text}",
    },
}
# Native number words for spoken counts (1, 2, 3, ...); past the end of a list, counts are digits.
NUMBER_WORDS: dict[str, tuple[str, ...]] = {
    "ko": ("하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉", "열"),
}


class LengthError(UsageError):
    """A session cannot be fitted to the requested length (the speech alone is too long, or too little
    action time to stretch)."""


def _primary(language: str | None) -> str:
    return re.split(r"[-_]", language or "en")[0].lower()


def phrase(key: str, language: str = "en") -> str:
    """A fixed phrase ("in", "next", "introduction", ...) in `language`, English when not translated."""
    return PHRASES.get(_primary(language), PHRASES["en"])[key]


# Labels that name a side on their own; any other label ("upper lip", "left side") is said as written.
SIDE_WORDS = {"en": ("left", "right")}


def _side(label: str, language: str) -> str:
    """"left" -> "left side"; "upper lip" stays "upper lip" ("Now the upper lip.")."""
    spoken_in = _primary(language) if _primary(language) in PHRASES else "en"  # the fixed phrases' language
    if label.lower() in SIDE_WORDS.get(spoken_in, ()):
        return phrase("side", language).format(label=label)
    return label


def first_side_text(label: str, language: str = "en") -> str:
    """Spoken after a sided step's instruction, before the first side's action ("Left side first."; the
    second side gets switch_text)."""
    side = _side(label, language)
    return phrase("first side", language).format(side=side, Side=side[:1].upper() + side[1:])


def switch_text(label: str, language: str = "en") -> str:
    """Spoken after the switch chime, before the second side's action ("Now the right side.")."""
    return phrase("switch", language).format(side=_side(label, language))


def count_text(n: int, language: str = "en") -> str:
    words = NUMBER_WORDS.get(_primary(language), ())
    if 1 <= n <= len(words):
        return words[n - 1]
    # Digits let the engine say the number in the routine's own language.
    return str(n)


def stroke_cues(step: SayStep, language: str = "en") -> tuple[str | None, ...]:
    """What marks each stroke of a counted step: the words to say, or None for a soft tick."""
    n = step.repeat or 0
    if not step.count or not n:
        return ()
    if step.count == "ticks":
        return (None,) * n
    if step.count == "numbers":
        return tuple(count_text(i, language) for i in range(1, n + 1))
    finals = [phrase(k, language) for k in ("three more", "two", "last one")][-min(3, n):]
    first = tuple(count_text(i, language) if i <= COUNTDOWN_NUMBERS else None for i in range(1, n - len(finals) + 1))
    return first + tuple(finals)


def breath_cues(step: BreatheStep, language: str = "en") -> tuple[tuple[str, float], ...]:
    """(spoken cue, seconds) for each phase of one breathing cycle; a zero hold is left out."""
    phases = (("in", step.in_s), ("hold", step.hold_s), ("out", step.out_s))
    return tuple((phrase(name, language), seconds) for name, seconds in phases if seconds > 0)


# A sentence ends at . ! ? (not an ellipsis) before a space or the end, or at a CJK full stop.
_SENTENCE_END = re.compile(r"(?<!\.)[.!?](?!\.)(?=\s|$)|[。！？]")


def preview_text(say: str, language: str = "en") -> str:
    """ "Next: <the first sentence of `say`, shortened to about eight words>" in `language`."""
    end = _SENTENCE_END.search(say)
    sentence = say[: end.end()] if end else say
    words = sentence.split()
    if len(words) > PREVIEW_MAX_WORDS:
        sentence = " ".join(words[:PREVIEW_WORDS]).rstrip(",;:-") + "..."
    elif len(words) == 1 and len(sentence) > PREVIEW_MAX_CHARS:
        sentence = sentence[:PREVIEW_MAX_CHARS] + "..."
    return phrase("next", language).format(text=sentence)


# Han, kana, Hangul (syllables and jamo): scripts whose characters are read syllable by syllable.
_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# espeak says about 1.75 Hangul syllables in the time of one English word at the same rate (measured:
# ~0.23 s a syllable at 150 wpm).
CJK_CHARS_PER_WORD = 1.75


def estimate_speech_s(text: str, rate_wpm: int = 150) -> float:
    """A synthesis-free guess at how long text takes to say (for listings, `check` and golden plans).

    Words count at `rate_wpm`; CJK and Hangul characters are counted one by one (a text need not
    have spaces), CJK_CHARS_PER_WORD of them to a word.
    """
    cjk = len(_CJK.findall(text))
    if not cjk:
        words = max(1, len(text.split()))
        return 0.2 + words * 60.0 / rate_wpm
    words = sum(1 for w in _CJK.sub(" ", text).split() if any(ch.isalnum() for ch in w))
    return 0.2 + (words + cjk / CJK_CHARS_PER_WORD) * 60.0 / rate_wpm


def estimated_speech(routine: Routine, rate_wpm: int | None = None) -> dict[str, float]:
    """estimate_speech_s for every text of the routine, at its voice's rate (or 150 wpm)."""
    rate = rate_wpm or routine.voice.rate_wpm or 150
    return {t: estimate_speech_s(t, rate) for t in spoken_texts(routine)}


def check_session_length(plan: Plan, source: str, estimated: bool = False) -> None:
    """Refuse a session longer than MAX_SESSION_S, counting all of it: speech, lead-in, pauses, chimes and
    hands-on time (aliases can repeat a long text thousands of times in a small file)."""
    if plan.duration_s > MAX_SESSION_S:
        about = "about " if estimated else ""
        raise RoutineError(source, [Problem(None, None, (
            f"the session adds up to {about}{format_duration(plan.duration_s)} (speech, pauses, chimes and hands-on "
            f"time); a session may be at most {format_duration(MAX_SESSION_S)}: shorten it or split it into several routines"
        ))])


@dataclass(frozen=True)
class Event:
    type: str  # "speech" | "chime" | "action" | "pause"
    start_s: float
    end_s: float
    # speech: intro/section/instruction/side/switch/count/breath/preview/outro;
    # chime: section/step/switch/halfway/tick/end; action: "" or "breathe"
    kind: str = ""
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
    pace: float = 1.0  # the pace the plan was laid out with (chosen by fit_to_length for --length)
    pan: bool = True  # the voice and cues of a sided step lean toward its side (see pan.py)

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


def previews(routine: Routine) -> dict[tuple[int, int], str]:
    """(section index, step index) -> the preview that may be spoken during that step's action.

    A spoken step with action time carries one when previews are on for it (the step's `preview`, else
    the routine's) and the next step that is not a pause has a `say`. Whether it is placed depends on
    the timing (see build_plan); breathing steps never carry one.
    """
    flat: list[tuple[int, int, Step]] = [(si, ti, st) for si, sec in enumerate(routine.sections) for ti, st in enumerate(sec.steps)]
    out: dict[tuple[int, int], str] = {}
    for k, (si, ti, step) in enumerate(flat):
        if not isinstance(step, SayStep) or step.action_s == 0:
            continue
        if not (routine.preview if step.preview is None else step.preview):
            continue
        following = next((s for _, _, s in flat[k + 1 :] if not isinstance(s, PauseStep)), None)
        if following is not None and following.say:
            out[(si, ti)] = preview_text(following.say, routine.language)
    return out


def spoken_texts(routine: Routine) -> list[str]:
    """Every distinct utterance the plan may place, in first-use order (what the voice must synthesise)."""
    language = routine.language
    ahead = previews(routine)
    texts: list[str] = []
    if routine.intro:
        texts.append(routine.intro)
    for si, section in enumerate(routine.sections):
        texts.append(section.title)
        for ti, step in enumerate(section.steps):
            if isinstance(step, BreatheStep):
                if step.say:
                    texts.append(step.say)
                texts.extend(word for word, _ in breath_cues(step, language))
            elif isinstance(step, SayStep):
                texts.append(step.say)
                if step.sides:
                    texts.append(first_side_text(step.sides[0], language))
                    texts.append(switch_text(step.sides[1], language))
                texts.extend(c for c in stroke_cues(step, language) if c is not None)
                if (si, ti) in ahead:
                    texts.append(ahead[(si, ti)])
    if routine.outro:
        texts.append(routine.outro)
    return list(dict.fromkeys(texts))


def _overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 < b1 - _EPS and b0 < a1 - _EPS


class _Builder:
    """Lays the routine out on a clock `t`, appending events and warnings."""

    def __init__(self, routine: Routine, speech_s: Mapping[str, float]):
        self.routine = routine
        self.language = routine.language
        self.speech_s = speech_s
        self.chimes_on = routine.chimes != "none"
        self.previews = previews(routine)
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

    def speech_at(self, at: float, text: str, kind: str, **where) -> Event:
        event = Event("speech", at, at + self.speech_s[text], kind=kind, text=text, **where)
        self.events.append(event)
        return event

    # ----- steps

    def breathe(self, step: BreatheStep, label: str, where: dict) -> None:
        self.chime("step", **where)
        if step.say:
            self.say(step.say, "instruction", **where)
            self.t += SPEECH_TO_ACTION_S
        phases = []
        for word, seconds in breath_cues(step, self.language):
            need = self.speech_s[word] + COUNT_GAP_S
            if need > seconds + _EPS:
                self.warnings.append(
                    f"{label}: the breathing cue '{word}' needs {need:.2f} s but its phase lasts {seconds:.2f} s; "
                    f"the phase was lengthened by {need - seconds:.2f} s"
                    + (f" in each of the {step.cycles} cycles" if step.cycles > 1 else "")
                )
                seconds = need
            phases.append((word, seconds))
        start = self.t
        cycle_s = sum(seconds for _, seconds in phases)
        self.events.append(Event("action", start, start + step.cycles * cycle_s, kind="breathe", **where))
        for cycle in range(step.cycles):
            at = start + cycle * cycle_s
            for word, seconds in phases:
                self.speech_at(at, word, "breath", **where)
                at += seconds
        self.t = start + step.cycles * cycle_s

    def spoken(self, step: SayStep, label: str, preview: str | None, where: dict) -> None:
        pace = self.routine.pace
        self.chime("step", **where)
        self.say(step.say, "instruction", **where)
        action_s = step.action_s / pace
        cues = stroke_cues(step, self.language)
        stroke_s = None
        if cues:
            stroke_s = step.every_s / pace
            needs = [self.speech_s[c] for c in cues if c is not None]
            if self.chimes_on and None in cues:
                needs.append(CHIME_S["tick"])
            if needs:
                need = max(needs) + COUNT_GAP_S
                if need > stroke_s + _EPS:
                    what = "the spoken count" if any(c is not None for c in cues) else "the tick"
                    extra = (need - stroke_s) * len(cues) * (2 if step.sides else 1)
                    self.warnings.append(
                        f"{label}: {what} needs {need:.2f} s but a stroke lasts {stroke_s:.2f} s; strokes were "
                        f"lengthened by {need - stroke_s:.2f} s each ({extra:.1f} s in all)"
                    )
                    stroke_s = need
                    action_s = stroke_s * len(cues)
        tick_every_s = None
        if step.tick and step.hold_s is not None and self.chimes_on:
            tick_every_s = step.every_s / pace
            least = CHIME_S["tick"] + COUNT_GAP_S
            if tick_every_s < least - _EPS:
                self.warnings.append(
                    f"{label}: ticks every {tick_every_s:.2f} s would run into each other; they come every {least:.2f} s instead"
                )
                tick_every_s = least
        if step.sides:
            # Each side is announced before its action: the first here, the second after the switch chime.
            self.t += SIDE_CUE_GAP_S
            self.say(first_side_text(step.sides[0], self.language), "side", side=step.sides[0], **where)
        if action_s > 0:
            self.t += SPEECH_TO_ACTION_S
        sides = step.sides or (None,)
        for i, side in enumerate(sides):
            if i > 0:
                self.t += CHIME_TO_SPEECH_S if self.chimes_on else 0.0
                self.chime("switch", side=side, **where)
                self.say(switch_text(side, self.language), "switch", side=side, **where)
                self.t += SPEECH_TO_ACTION_S
            if action_s > 0:
                last = i == len(sides) - 1
                self.action(step, action_s, stroke_s, cues, tick_every_s, preview if last else None, side, where)

    def action(
        self,
        step: SayStep,
        action_s: float,
        stroke_s: float | None,
        cues: tuple[str | None, ...],
        tick_every_s: float | None,
        preview: str | None,
        side: str | None,
        where: dict,
    ) -> None:
        """One side's hands-on time, with what sounds inside it. Precedence: counts, then the halfway cue,
        then the preview (placed only where it fits), then ticks (skipped where they would overlap)."""
        start, end = self.t, self.t + action_s
        self.events.append(Event("action", start, end, side=side, **where))
        sounding: list[tuple[float, float]] = []
        if stroke_s is not None:
            for n, text in enumerate(cues):
                if text is not None:
                    e = self.speech_at(start + n * stroke_s, text, "count", side=side, **where)
                    sounding.append((e.start_s, e.end_s))
        if self.chimes_on and step.hold_s is not None and action_s > HALFWAY_MIN_S:
            mid = start + action_s / 2
            self.events.append(Event("chime", mid, mid + CHIME_S["halfway"], kind="halfway", side=side, **where))
            sounding.append((mid, mid + CHIME_S["halfway"]))
        if preview is not None:
            p_end = end - PREVIEW_END_BEFORE_S
            p_start = p_end - self.speech_s[preview]
            fits = p_start >= start + PREVIEW_MIN_LEAD_S - _EPS and not any(
                _overlaps(p_start - PREVIEW_CLEAR_S, p_end + PREVIEW_CLEAR_S, a, b) for a, b in sounding
            )
            if fits:
                e = self.speech_at(p_start, preview, "preview", side=side, **where)
                sounding.append((e.start_s, e.end_s))
        if self.chimes_on:
            ticks: list[float] = []
            if stroke_s is not None:
                ticks = [start + n * stroke_s for n, text in enumerate(cues) if text is None]
            elif tick_every_s is not None:
                k = 0
                while start + k * tick_every_s + CHIME_S["tick"] <= end + _EPS:
                    ticks.append(start + k * tick_every_s)
                    k += 1
            for at in ticks:
                if not any(_overlaps(at, at + CHIME_S["tick"], a, b) for a, b in sounding):
                    self.events.append(Event("chime", at, at + CHIME_S["tick"], kind="tick", side=side, **where))
        self.t = end


def build_plan(routine: Routine, speech_s: Mapping[str, float]) -> Plan:
    """Lay out the session. `speech_s` maps every text of spoken_texts(routine) to its clip length in seconds.

    Timing rules: a step is its chime, then the spoken instruction, then the action time (hold, or
    repeat x every, divided by pace; breathing is never scaled); sides repeat the action with a switch
    chime and cue between; counts, breathing cues, ticks, the halfway cue and "Next" previews sound
    inside the action time; speech never overlaps speech or a chime; the session ends with the outro,
    a closing chime and a fade. Docs: docs/routine-format.md, "Timing rules".
    """
    missing = [t for t in spoken_texts(routine) if t not in speech_s]
    if missing:
        raise KeyError(f"no speech duration for {missing[0]!r}")
    tl = _Builder(routine, speech_s)
    chapters: list[tuple[str, float]] = []
    tl.t = routine.lead_in_s
    if routine.intro:
        chapters.append((phrase("introduction", routine.language), 0.0))
        tl.say(routine.intro, "intro")
        tl.t += INTRO_GAP_S

    for si, section in enumerate(routine.sections):
        chapters.append((section.title, 0.0 if not chapters else tl.t))
        tl.chime("section", section=section.title)
        tl.say(section.title, "section", section=section.title)
        tl.t += SPEECH_TO_ACTION_S
        for ti, step in enumerate(section.steps):
            where = {"section": section.title, "step": ti + 1}
            label = f"section '{section.title}', step {ti + 1}" + (f" (line {step.line})" if step.line else "")
            if isinstance(step, PauseStep):
                pause_s = step.pause_s / routine.pace
                tl.events.append(Event("pause", tl.t, tl.t + pause_s, **where))
                tl.t += pause_s
            elif isinstance(step, BreatheStep):
                tl.breathe(step, label, where)
            else:
                tl.spoken(step, label, tl.previews.get((si, ti)), where)
            tl.t += STEP_GAP_S

    if routine.outro:
        chapters.append((phrase("closing", routine.language), tl.t))
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
        pace=routine.pace,
        pan=routine.pan,
    )


# --- fitting a session to a length ------------------------------------------------------------


def length_range(routine: Routine, speech_s: Mapping[str, float]) -> tuple[float, float]:
    """The shortest and longest session fit_to_length can make: at the fastest and slowest documented pace.

    --length chooses a pace, so it keeps to the range a user may set with --pace (strokes of a fraction of a
    second at pace 50 are no massage).
    """
    shortest = build_plan(routine.with_overrides(pace=PACE_MAX), speech_s).duration_s
    longest = build_plan(routine.with_overrides(pace=PACE_MIN), speech_s).duration_s
    return shortest, longest


def fit_to_length(routine: Routine, speech_s: Mapping[str, float], target_s: float, tolerance_s: float = 1.0) -> Routine:
    """The routine with the pace that makes build_plan's duration `target_s` (within `tolerance_s`).

    Only action time scales (with 1/pace); speech, gaps and breathing never change. The duration is
    continuous, piecewise linear and non-decreasing in 1/pace (counts can hold strokes at the length of
    their words), so bisection on 1/pace finds it. The pace stays within PACE_MIN..PACE_MAX; a target
    outside what that range reaches raises LengthError naming the shortest or longest length possible.
    """
    if not target_s > 0:
        raise LengthError(f"the target length must be more than zero seconds, not {target_s:g}")

    def duration(inverse_pace: float) -> float:
        return build_plan(routine.with_overrides(pace=1.0 / inverse_pace), speech_s).duration_s

    lo, hi = 1.0 / PACE_MAX, 1.0 / PACE_MIN
    shortest, longest = duration(lo), duration(hi)
    wanted = format_duration(target_s)
    if longest - shortest < 1e-6:
        if abs(longest - target_s) <= tolerance_s:
            return routine
        raise LengthError(
            f"'{routine.title}' has no action time to stretch (no hold, repeat or pause): it always lasts "
            f"{format_duration(longest)}, not {wanted}"
        )
    if target_s < shortest - tolerance_s:
        fastest = build_plan(routine.with_overrides(pace=PACE_MAX), speech_s)
        speech = sum(e.duration_s for e in fastest.speech() if e.kind != "preview")
        raise LengthError(
            f"a {wanted} session is too short for '{routine.title}': the shortest it can be is "
            f"{format_duration(math.ceil(shortest))} (at the fastest pace, {PACE_MAX:g}; the speech alone takes "
            f"{format_duration(speech)}); ask for {format_duration(math.ceil(shortest))} or more"
        )
    if target_s > longest + tolerance_s:
        raise LengthError(
            f"a {wanted} session is too long for '{routine.title}': the longest it can be is "
            f"{format_duration(math.floor(longest))} (at the slowest pace, {PACE_MIN:g}); "
            f"ask for {format_duration(math.floor(longest))} or less"
        )
    if target_s <= shortest:
        inverse = lo
    elif target_s >= longest:
        inverse = hi
    else:
        for _ in range(100):
            inverse = (lo + hi) / 2
            got = duration(inverse)
            if abs(got - target_s) < 1e-3:
                break
            if got < target_s:
                lo = inverse
            else:
                hi = inverse
    pace = 1.0 / inverse
    # A readable pace when rounding keeps the session well within the tolerance.
    rounded = min(PACE_MAX, max(PACE_MIN, round(pace, 4)))
    if abs(duration(1.0 / rounded) - target_s) <= tolerance_s / 2:
        pace = rounded
    got = duration(1.0 / pace)
    if abs(got - target_s) > tolerance_s:  # cannot happen for a continuous duration; never return a wrong fit
        raise LengthError(f"could not fit '{routine.title}' to {wanted} (closest: {format_duration(got)})")
    return routine.with_overrides(pace=pace)
