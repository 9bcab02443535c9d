"""Captions and transcript from the plan: WebVTT, SRT and plain text, timed exactly as the audio is."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..plan import Event, Plan
from .files import atomic_output

LINE_CHARS = 65  # columns: a wide (CJK) character counts two
CUE_LINES = 2
CAPTION_FORMATS = (".srt", ".txt", ".vtt")


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def display_width(text: str) -> int:
    """Columns on screen: East Asian wide and full-width characters (Hangul, kana, CJK) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _split_word(word: str) -> list[str]:
    """A word wider than a line (or unspaced CJK text), cut into line-wide pieces."""
    pieces, piece = [], ""
    for ch in word:
        if piece and display_width(piece + ch) > LINE_CHARS:
            pieces.append(piece)
            piece = ""
        piece += ch
    return pieces + [piece]


def _wrap(words: list[str]) -> list[str]:
    """Greedy word wrap to LINE_CHARS columns; a word wider than a line gets lines of its own."""
    lines: list[str] = []
    for word in words:
        if display_width(word) > LINE_CHARS:
            lines += _split_word(word)
        elif lines and display_width(f"{lines[-1]} {word}") <= LINE_CHARS:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _balanced(words: list[str]) -> tuple[str, ...]:
    """Words that fit in two lines, split where the wider line is narrowest (one line if it fits)."""
    text = " ".join(words)
    if display_width(text) <= LINE_CHARS:
        return (text,)
    best: tuple[str, str] | None = None
    for i in range(1, len(words)):
        first, second = " ".join(words[:i]), " ".join(words[i:])
        if display_width(first) <= LINE_CHARS and display_width(second) <= LINE_CHARS:
            if best is None or max(map(display_width, (first, second))) < max(map(display_width, best)):
                best = (first, second)
    return best if best is not None else tuple(_wrap(words))


def _chunks(text: str) -> list[tuple[str, ...]]:
    """Split text into cue-sized pieces: at most CUE_LINES lines, each at most LINE_CHARS columns wide."""
    words = text.split()
    lines = _wrap(words) or [""]
    groups = [lines[i : i + CUE_LINES] for i in range(0, len(lines), CUE_LINES)]
    # A word wider than a line was cut inside itself; rejoining its pieces with spaces would change the text.
    balance = all(display_width(word) <= LINE_CHARS for word in words)
    return [_balanced(" ".join(group).split()) if balance and len(group) > 1 else tuple(group) for group in groups]


def _event_cues(event: Event) -> list[Cue]:
    """One cue per chunk; the event's time is shared among its chunks in proportion to their characters."""
    chunks = _chunks(event.text or "")
    start, end = _ms(event.start_s), _ms(event.end_s)
    sizes = [sum(len(line) for line in chunk) for chunk in chunks]
    total = sum(sizes) or 1
    bounds = [start]
    done = 0
    for size in sizes[:-1]:
        done += size
        bounds.append(start + round((end - start) * done / total))
    bounds.append(end)
    return [Cue(bounds[i], bounds[i + 1], chunk) for i, chunk in enumerate(chunks)]


def cues(plan: Plan) -> list[Cue]:
    """Every speech event (intro, section titles, instructions, switch cues, counts, outro) as timed cues."""
    return [cue for event in plan.speech() for cue in _event_cues(event)]


def _timestamp(ms: int, sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(plan: Plan) -> str:
    blocks = ["WEBVTT"]
    for cue in cues(plan):
        timing = f"{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}"
        blocks.append("\n".join([timing, *map(_vtt_escape, cue.lines)]))
    return "\n\n".join(blocks) + "\n"


def to_srt(plan: Plan) -> str:
    blocks = []
    for number, cue in enumerate(cues(plan), start=1):
        timing = f"{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}"
        blocks.append("\n".join([str(number), timing, *cue.lines]))
    return "\n\n".join(blocks) + "\n"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def to_transcript(plan: Plan) -> str:
    """Plain text: the title, then each chapter as a heading over its "[m:ss] text" lines.

    The counts of one action are said one by one but written on one line ("[0:11] 1, 2, 3").
    """
    out = [plan.title, "=" * display_width(plan.title)]
    speech = plan.speech()
    chapters = plan.chapters or ()
    heading_done: set[int] = set()
    i = 0
    while i < len(speech):
        event = speech[i]
        index = next((n for n, c in enumerate(chapters) if c.start_s <= event.start_s < c.end_s), None)
        if index is not None and index not in heading_done:
            heading_done.add(index)
            out += ["", chapters[index].title]
        text = " ".join((event.text or "").split())
        if event.kind == "count":
            counts = [text]
            while (
                i + 1 < len(speech)
                and speech[i + 1].kind == "count"
                and (speech[i + 1].section, speech[i + 1].step, speech[i + 1].side) == (event.section, event.step, event.side)
            ):
                i += 1
                counts.append(" ".join((speech[i].text or "").split()))
            text = ", ".join(counts)
        out.append(f"[{_clock(event.start_s)}] {text}")
        i += 1
    return "\n".join(out) + "\n"


_WRITERS = {".vtt": to_webvtt, ".srt": to_srt, ".txt": to_transcript}


def caption_format(path: str | Path) -> str:
    """The caption format for a path (".vtt", ".srt" or ".txt"); UsageError for any other extension.

    Cheap, so the CLI can call it before rendering and fail early.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITERS:
        raise UsageError(
            f"{path}: unsupported caption format '{suffix or '(none)'}'; use one of: {', '.join(CAPTION_FORMATS)}"
        )
    return suffix


def write_captions(path: str | Path, plan: Plan, replace: bool = True) -> None:
    """Write WebVTT, SRT or a plain transcript, chosen by the extension; the file appears complete or not at all."""
    path = Path(path)
    text = _WRITERS[caption_format(path)](plan)
    with atomic_output(path, replace) as tmp:
        tmp.write_text(text, encoding="utf-8")
