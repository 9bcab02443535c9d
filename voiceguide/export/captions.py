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
    """Split text into cue-sized pieces: at most CUE_LINES lines, each at most LINE_CHARS columns wide.

    Cues and their lines break where the sense does (see _phrase_chunks); a word wider than a line (unspaced
    CJK text) is cut inside itself, and such text is wrapped as it comes.
    """
    words = text.split()
    if words and all(display_width(word) <= LINE_CHARS for word in words):
        return _phrase_chunks(words)
    lines = _wrap(words) or [""]
    groups = [lines[i : i + CUE_LINES] for i in range(0, len(lines), CUE_LINES)]
    # A word wider than a line was cut inside itself; rejoining its pieces with spaces would change the text.
    balance = all(display_width(word) <= LINE_CHARS for word in words)
    return [_balanced(" ".join(group).split()) if balance and len(group) > 1 else tuple(group) for group in groups]


# How strongly the text pauses after a word: the end of a sentence, of a clause (a comma, a semicolon, a
# trailing "..."), the start of a joined phrase ("and", "then"; Korean connective endings), or nothing.
SENTENCE, CLAUSE, PHRASE, WORD = 3, 2, 1, 0
_SENTENCE_ENDS = (".", "!", "?", "\u2026", "\u3002", "\uff01", "\uff1f")
_CLAUSE_ENDS = (",", ";", ":", "\uff0c", "\u3001", "\uff1b", "\uff1a", "\u2014", "\u2013")
_CLOSERS = "\"'\u201d\u2019)]\u300d\u300f"
_CONJUNCTIONS = frozenset("and but or so then while until before after when as because".split())
# Korean joins clauses with verb endings: "-고" (and), "-며"/"-면서" (while), "-지만" (but), "-는데".
_KO_CONNECTIVES = ("고", "며", "면서", "지만", "는데")
# Costs, in one scale: a new cue at each kind of pause; a line break inside a cue at each kind of pause.
_CUE_BREAK = {SENTENCE: 1.0, CLAUSE: 2.5, PHRASE: 3.0, WORD: 6.0}
_LINE_BREAK = {SENTENCE: 0.0, CLAUSE: 0.3, PHRASE: 0.4, WORD: 1.0}
# A sentence that ends inside a line of a two-line cue makes the next one start mid-line: harder to read.
_SENTENCE_INSIDE_LINE = 0.6
_UNEVEN_LINES = 0.5  # per line width of difference between the two lines
# A cue that breaks off inside a sentence it began after another one (or that finishes a sentence from the
# cue before and then begins another): better to give that sentence a cue of its own.
_SENTENCES_STRADDLED = 1.5


def _pause_after(word: str, following: str | None) -> int:
    if following is None:
        return SENTENCE
    bare = word.rstrip(_CLOSERS)
    if following in ("\u2014", "\u2013", "-"):
        return CLAUSE
    if bare.endswith(_SENTENCE_ENDS):
        # "breathe in through your nose... and out": a pause inside the sentence, not its end.
        return CLAUSE if following[:1].islower() else SENTENCE
    if bare.endswith(_CLAUSE_ENDS):
        return CLAUSE
    if following.lower() in _CONJUNCTIONS:
        return PHRASE
    if bare.endswith(_KO_CONNECTIVES) and any("\uac00" <= ch <= "\ud7a3" for ch in bare):
        return PHRASE
    return WORD


def _phrase_chunks(words: list[str]) -> list[tuple[str, ...]]:
    """Cues that break at sentence ends first, then at clauses and phrases, mid-phrase only when nothing else
    fits: the layout of least cost (_CUE_BREAK, _LINE_BREAK) over the whole utterance, found by dynamic
    programming over the word boundaries. A text that reads well in one cue stays one cue."""
    n = len(words)
    pause = [_pause_after(word, words[i + 1] if i + 1 < n else None) for i, word in enumerate(words)]
    ends = [0]
    for word in words:
        ends.append(ends[-1] + display_width(word))

    def width(i: int, j: int) -> int:  # words[i:j] joined by spaces
        return ends[j] - ends[i] + (j - i - 1)

    def inside(i: int, j: int) -> int:  # sentences that end inside words[i:j], not at its end
        return sum(1 for k in range(i, j - 1) if pause[k] == SENTENCE)

    def layout(i: int, j: int) -> tuple[float, int] | None:
        """The cheapest lines for words[i:j] in one cue: (cost, where the second line starts, or j)."""
        if width(i, j) <= LINE_CHARS:
            return 0.0, j
        best = None
        for k in range(i + 1, j):
            first, second = width(i, k), width(k, j)
            if first > LINE_CHARS or second > LINE_CHARS:
                continue
            cost = (_LINE_BREAK[pause[k - 1]] + _UNEVEN_LINES * abs(first - second) / LINE_CHARS
                    + _SENTENCE_INSIDE_LINE * (inside(i, k) + inside(k, j)))
            if best is None or cost < best[0]:
                best = (cost, k)
        return best

    best: list[tuple[float, int, int] | None] = [None] * (n + 1)  # (cost, cue start, line break)
    best[0] = (0.0, 0, 0)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            if width(i, j) > CUE_LINES * LINE_CHARS:
                break
            if best[i] is None or (lines := layout(i, j)) is None:
                continue
            cost = best[i][0] + lines[0] + (_CUE_BREAK[pause[i - 1]] if i else 0.0)
            if inside(i, j):
                cost += _SENTENCES_STRADDLED * ((pause[j - 1] != SENTENCE) + (i > 0 and pause[i - 1] != SENTENCE))
            if best[j] is None or cost < best[j][0]:
                best[j] = (cost, i, lines[1])
    chunks: list[tuple[str, ...]] = []
    j = n
    while j > 0:
        _, i, k = best[j]  # type: ignore[misc]
        chunks.append(tuple(" ".join(words[a:b]) for a, b in ((i, k), (k, j)) if a < b))
        j = i
    return chunks[::-1]


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
