"""Plan -> SVG: the timeline picture (sections, steps, speech, counts, chimes, sides, music bed). Pure, no audio."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .plan import Event, Plan

WIDTH_PX = 1000
LEFT_PX = 86  # room for the row labels
RIGHT_PX = 12
ROW_PX = 26
TOP_PX = 8
# One colour per meaning, readable on white and told apart without colour by their row.
COLOURS = {
    "section": ("#e8eef7", "#dbe6f5"),
    "action": "#7fb77e",
    "left": "#5a9bd5",
    "right": "#e39b4f",
    "breathe": "#9c8ade",
    "pause": "#c9c9c9",
    "speech": "#3d5a80",
    "count": "#98c1d9",
    "preview": "#b8b8d8",
    "music": "#f2d7a6",
    "chime": "#c0392b",
    "axis": "#777777",
}
ROWS = ("sections", "steps", "speech", "chimes", "music")
ROW_LABELS = {"sections": "sections", "steps": "hands-on", "speech": "speech", "chimes": "chimes", "music": "music"}


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _tick_step_s(duration_s: float) -> float:
    """About six to twelve labelled marks, on round numbers of seconds or minutes."""
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration_s / step <= 12:
            return step
    return 7200


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _short(text: str | None, limit: int = 80) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plan_svg(plan: Plan, width_px: int = WIDTH_PX) -> str:
    """The SVG text of the plan's timeline: one row each for sections, hands-on time (by side), speech (counts and
    previews in lighter tints), chimes and the music bed, over a time axis. Every shape has a <title> (its text
    and times) and a class (`vg-speech`, `vg-chime`, ...), so a page can style or query it."""
    duration_s = max(plan.duration_s, 0.001)
    inner = width_px - LEFT_PX - RIGHT_PX
    row_y = {name: TOP_PX + i * ROW_PX for i, name in enumerate(ROWS)}
    axis_y = TOP_PX + len(ROWS) * ROW_PX
    height = axis_y + 22

    def x(seconds: float) -> float:
        return LEFT_PX + inner * min(max(seconds, 0.0), duration_s) / duration_s

    def rect(start_s: float, end_s: float, row: str, fill: str, cls: str, tip: str, pad: float = 4.0, **extra: str) -> str:
        x0, x1 = x(start_s), x(end_s)
        attrs = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in extra.items())
        return (
            f'<rect class="{cls}" x="{_num(x0)}" y="{_num(row_y[row] + pad)}" width="{_num(max(x1 - x0, 1.0))}" '
            f'height="{_num(ROW_PX - 2 * pad)}" fill="{fill}"{attrs}>{_title(tip)}</rect>'
        )

    def span(event: Event) -> str:
        return f"{_clock(event.start_s)}-{_clock(event.end_s)}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vg-timeline" viewBox="0 0 {width_px} {height}" '
        f'width="{width_px}" height="{height}" role="img" data-duration-s="{plan.duration_s:.3f}" '
        f'font-family="sans-serif" font-size="11">',
        _title(f"{plan.title} ({_clock(plan.duration_s)})"),
    ]
    for name in ROWS:
        parts.append(f'<text x="4" y="{_num(row_y[name] + ROW_PX / 2 + 4)}" fill="#333">{ROW_LABELS[name]}</text>')

    for i, chapter in enumerate(plan.chapters):
        fill = COLOURS["section"][i % 2]
        parts.append(rect(chapter.start_s, chapter.end_s, "sections", fill, "vg-section", f"{chapter.title} ({_clock(chapter.start_s)})", pad=1))
        x0, x1 = x(chapter.start_s), x(chapter.end_s)
        # A label only where it fits (about 6 px a character); the <title> carries it everywhere.
        room = int((x1 - x0 - 6) / 6)
        if room >= 4:
            parts.append(
                f'<text class="vg-section-label" x="{_num(x0 + 3)}" y="{_num(row_y["sections"] + ROW_PX / 2 + 4)}" '
                f'fill="#223">{escape(_short(chapter.title, room))}</text>'
            )

    for event in plan.events:
        if event.type == "action":
            fill = COLOURS.get(event.side or "", COLOURS["breathe"] if event.kind == "breathe" else COLOURS["action"])
            what = "breathing" if event.kind == "breathe" else "hands-on"
            tip = f"{what}{f' ({event.side})' if event.side else ''}, {event.section or ''} step {event.step or ''}: {span(event)}"
            parts.append(rect(event.start_s, event.end_s, "steps", fill, "vg-action", tip, side=event.side or ""))
        elif event.type == "pause":
            parts.append(rect(event.start_s, event.end_s, "steps", COLOURS["pause"], "vg-pause", f"quiet: {span(event)}"))
        elif event.type == "speech":
            light = event.kind in ("count", "breath", "preview")
            fill = COLOURS["preview"] if event.kind == "preview" else COLOURS["count"] if light else COLOURS["speech"]
            pad = 8.0 if light else 4.0
            parts.append(rect(event.start_s, event.end_s, "speech", fill, f"vg-speech vg-speech-{event.kind}", f"{span(event)} {_short(event.text)}", pad=pad))
        elif event.type == "chime":
            cx, cy = x(event.start_s), row_y["chimes"] + ROW_PX / 2
            r = 2.5 if event.kind == "tick" else 5.0
            parts.append(
                f'<circle class="vg-chime vg-chime-{event.kind}" cx="{_num(cx)}" cy="{_num(cy)}" r="{r}" '
                f'fill="{COLOURS["chime"]}">{_title(f"{event.kind} chime at {_clock(event.start_s)}")}</circle>'
            )

    if plan.music is not None:
        # The bed plays from the start and fades out over the tail; ducking under speech is the mix's business.
        y0, y1 = row_y["music"] + 4, row_y["music"] + ROW_PX - 4
        fade_x = x(max(plan.duration_s - plan.fade_out_s, 0.0))
        points = f"{_num(x(0))},{_num(y1)} {_num(x(0))},{_num(y0)} {_num(fade_x)},{_num(y0)} {_num(x(plan.duration_s))},{_num(y1)}"
        tip = f"music: {plan.music.track} at {_num(plan.music.volume_db)} dB, fading out over the last {_num(plan.fade_out_s)} s"
        parts.append(f'<polygon class="vg-music" points="{points}" fill="{COLOURS["music"]}">{_title(tip)}</polygon>')
        parts.append(
            f'<text x="{_num(x(0) + 4)}" y="{_num(row_y["music"] + ROW_PX / 2 + 4)}" fill="#553">'
            f'{escape(_short(plan.music.track, 40))} {_num(plan.music.volume_db)} dB</text>'
        )
    else:
        parts.append(f'<text x="{_num(x(0) + 4)}" y="{_num(row_y["music"] + ROW_PX / 2 + 4)}" fill="#777">no music</text>')

    step_s = _tick_step_s(duration_s)
    parts.append(f'<line x1="{LEFT_PX}" y1="{axis_y}" x2="{_num(x(duration_s))}" y2="{axis_y}" stroke="{COLOURS["axis"]}"/>')
    mark = 0.0
    while mark <= duration_s + 1e-6:
        parts.append(
            f'<line x1="{_num(x(mark))}" y1="{axis_y}" x2="{_num(x(mark))}" y2="{axis_y + 4}" stroke="{COLOURS["axis"]}"/>'
            f'<text x="{_num(x(mark))}" y="{axis_y + 16}" fill="#555" text-anchor="middle">{_clock(mark)}</text>'
        )
        mark += step_s
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
