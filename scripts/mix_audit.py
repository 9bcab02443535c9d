"""Mix audit: an independent meter of issue 16's targets, measured from a render's stems and cue sheet.

For each routine (default: every built-in) this renders, with the installed voiceguide, the session as WAV
with `--stems` and `--cues` (once with the routine's own chimes, then once per chime set), and measures:

  speech      integrated loudness (BS.1770-4, gated) of the voice stem, LUFS.
  bed         the music stem's loudness over the bed-only stretches: every 400 ms block lying wholly outside
              every speech event of the cue sheet (between phrases, lead-in and fade-out included), gated as
              BS.1770 gates a programme; `speech - bed` (LU) is target (a), 10..15.
  bed share   the share of the session outside every speech event.
  LRA         the session's loudness range (EBU Tech 3342) from the mix file: short-term (3 s) loudness every
              100 ms, absolute gate -70 LUFS, relative gate 20 LU under their power mean, 95th minus 10th
              percentile; target (b), at most 12 LU. The narration's own LRA (voice stem) is shown beside it.
  swells      target (c), none. The bed's momentary loudness M (400 ms blocks every 100 ms) between every two
              consecutive speech events (the ducks): each speech event's floor is the lowest M of the blocks
              centred inside it (or the nearest block, for a word shorter than a block). The bed "comes back
              up" in a gap when the highest M of the blocks centred in the gap is more than 3 dB above the
              higher of the two floors; that stretch lasts as long as M stays above (higher floor + 3 dB)
              around its peak. A swell is such a stretch shorter than 3 s. `up` counts every stretch.
  chimes      target (d): for each chime set, the loudness of the chime stem over the spans of the cue sheet's
              step chimes (energies of all step-chime spans together, ungated), minus the speech loudness of
              the same render; 4..12 LU under speech, and the spread (highest minus lowest set) at most 3 LU.
  mix         target (e): integrated loudness of the mix file (-16 +/- 1 LUFS) and its true peak, 4x
              oversampled (polyphase, per channel), at most -1 dBTP.

Mono stems (voice, chimes) count as played on both channels, as the mixer places them. The K-weighting
filters are pyloudnorm's (its coefficients, run in blocks so a long session needs little memory); the gating
and the loudness range are written here from the standards and checked against pyloudnorm in
tests/test_mix_audit.py. Nothing of voiceguide's own meter (voiceguide.loudness) is used.

usage: python scripts/mix_audit.py [ROUTINE...] [--engine NAME] [--json] [--picture FILE.svg] [--before A.json]
  --json              print the figures as JSON (with the short-term series the picture draws) instead of a table
  --picture FILE.svg  short-term loudness over time (speech, bed, mix) of the first routine (or
                      --picture-routine NAME); with --before, the before session above and this one below
  --before A.json     a saved --json of an earlier run: the table reads before>after, the picture gains a panel
  --load B.json       take the figures from a saved --json instead of rendering (both repeatable)
To measure another checkout, run with PYTHONPATH pointing at it: the renders use `python -m voiceguide`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TICK_S = 0.01  # energies are kept per 10 ms: fine enough for cue-sheet spans, small for a long session
HOP_TICKS = 10  # 100 ms: the step of momentary and short-term loudness (Tech 3342's 10 Hz)
MOMENTARY_TICKS = 40
SHORT_TERM_TICKS = 300
ABSOLUTE_GATE_LUFS = -70.0
SWELL_RISE_DB = 3.0
SWELL_SHORT_S = 3.0
CHIME_SETS = ("bowl", "bell", "wood")
PICTURE_STEP_S = 0.5
# Issue 16's targets, by the table's keys.
TARGETS = {
    "speech_vs_bed_lu": "10..15", "lra_lu": "<=12", "swells": "0", "chime_spread_lu": "<=3", "integrated_lufs": "-16+-1",
    "true_peak_dbtp": "<=-1", **{f"chimes.{name}.vs_speech_lu": "-12..-4" for name in CHIME_SETS},
}


class AuditError(Exception):
    """A problem the user can fix: printed as one line, exit 2."""


# ---------------------------------------------------------------------------------------------- meter


def _k_filters(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    try:
        import pyloudnorm
    except ImportError:
        raise AuditError("pyloudnorm is needed: pip install pyloudnorm (it is in voiceguide's test extra)") from None
    meter = pyloudnorm.Meter(sample_rate)
    return [(np.asarray(f.b, float), np.asarray(f.a, float), float(f.passband_gain)) for f in meter._filters.values()]


class TickMeter:
    """K-weighted energy per 10 ms tick of a signal fed in blocks (channels summed, BS.1770 weights 1)."""

    def __init__(self, sample_rate: int, channels: int):
        from scipy.signal import lfilter

        self._lfilter = lfilter
        self.sample_rate = sample_rate
        self.tick = int(round(TICK_S * sample_rate))
        self.filters = _k_filters(sample_rate)
        self.state = [np.zeros((len(a) - 1, channels)) for _, a, _ in self.filters]
        self.rest = np.zeros((0, channels))
        self.ticks: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        for k, (b, a, gain) in enumerate(self.filters):
            x, self.state[k] = self._lfilter(b, a, x, axis=0, zi=self.state[k])
            x = x * gain
        x = np.concatenate([self.rest, x])
        whole = len(x) // self.tick * self.tick
        if whole:
            self.ticks.append((x[:whole] ** 2).sum(axis=1).reshape(-1, self.tick).sum(axis=1))
        self.rest = x[whole:]

    def energies(self) -> np.ndarray:
        """Summed squared K-weighted samples per tick (the last partial tick padded with silence)."""
        ticks = list(self.ticks)
        if len(self.rest):
            ticks.append(np.array([(self.rest**2).sum()]))
        return np.concatenate(ticks) if ticks else np.zeros(0)


def lufs(mean_square: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(mean_square)


def block_energies(ticks: np.ndarray, block_ticks: int, tick_frames: int) -> np.ndarray:
    """Mean square of each block of `block_ticks` ticks, one block starting every HOP_TICKS ticks."""
    if len(ticks) < block_ticks:
        return np.zeros(0)
    csum = np.concatenate([[0.0], np.cumsum(ticks)])
    starts = np.arange(0, len(ticks) - block_ticks + 1, HOP_TICKS)
    return (csum[starts + block_ticks] - csum[starts]) / (block_ticks * tick_frames)


def gated_loudness(blocks: np.ndarray) -> float:
    """BS.1770-4 integrated loudness of 400 ms block mean squares: absolute gate, then relative gate (-10 LU)."""
    levels = lufs(blocks)
    kept = blocks[levels > ABSOLUTE_GATE_LUFS]
    if not len(kept):
        return -math.inf
    relative = lufs(kept.mean()) - 10.0
    kept = blocks[(levels > ABSOLUTE_GATE_LUFS) & (levels > relative)]
    return float(lufs(kept.mean()))


def loudness_range(short_term: np.ndarray) -> float:
    """EBU Tech 3342 loudness range of short-term (3 s) block mean squares."""
    levels = lufs(short_term)
    levels = levels[levels >= ABSOLUTE_GATE_LUFS]
    if not len(levels):
        return math.nan
    relative = 10.0 * np.log10(np.mean(10.0 ** (levels / 10.0))) - 20.0
    levels = levels[levels >= relative]
    return float(np.percentile(levels, 95) - np.percentile(levels, 10))


def true_peak_dbtp(path: Path) -> float:
    """Highest 4x-oversampled sample (polyphase FIR) over all channels, dBTP, read in blocks."""
    import soundfile
    from scipy.signal import resample_poly

    half = 32  # input samples of context each side of what is evaluated: the FIR reaches 10
    peak = 0.0
    with soundfile.SoundFile(str(path)) as f:
        carry = np.zeros((0, f.channels))
        up = np.zeros((0, f.channels))
        for block in f.blocks(blocksize=1 << 18, dtype="float64", always_2d=True):
            x = np.concatenate([carry, block])
            up = resample_poly(x, 4, 1, axis=0)
            first = 4 * half if len(carry) else 0
            peak = max(peak, float(np.abs(up[first : 4 * (len(x) - half)]).max(initial=0.0)))
            carry = x[-2 * half :]
        # The last few samples, evaluated with the end of the signal as it is.
        peak = max(peak, float(np.abs(up[-4 * half :]).max(initial=0.0)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def stem_ticks(path: Path, channels_heard: int = 2) -> tuple[np.ndarray, int, int]:
    """(tick energies, sample rate, frames per tick) of a WAV; a mono stem counts once per channel heard."""
    import soundfile

    with soundfile.SoundFile(str(path)) as f:
        meter = TickMeter(f.samplerate, f.channels)
        for block in f.blocks(blocksize=1 << 18, dtype="float64", always_2d=True):
            meter.feed(block)
        ticks = meter.energies()
        if f.channels == 1:
            ticks = ticks * channels_heard
        return ticks, f.samplerate, meter.tick


# ---------------------------------------------------------------------------------------------- figures


def _tick(seconds: float) -> int:
    return int(round(seconds / TICK_S))


def speech_spans(events: list[dict]) -> list[tuple[float, float]]:
    return sorted((e["start_s"], e["end_s"]) for e in events if e["type"] == "speech")


def outside_mask(n_ticks: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """True for every tick outside all the spans."""
    mask = np.ones(n_ticks, dtype=bool)
    for a, b in spans:
        mask[max(0, _tick(a)) : min(n_ticks, _tick(b))] = False
    return mask


def bed_between(bed_ticks: np.ndarray, tick_frames: int, spans: list[tuple[float, float]]) -> tuple[float, float]:
    """(loudness of the bed over 400 ms blocks wholly outside speech, share of the session outside speech)."""
    mask = outside_mask(len(bed_ticks), spans)
    blocks = block_energies(bed_ticks, MOMENTARY_TICKS, tick_frames)
    free = block_energies(mask.astype(float), MOMENTARY_TICKS, 1) >= 1.0 - 1e-9
    share = float(mask.mean()) if len(mask) else 0.0
    return gated_loudness(blocks[free]), share


def momentary_db(ticks: np.ndarray, tick_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(momentary loudness every 100 ms, the centre time of each block)."""
    blocks = block_energies(ticks, MOMENTARY_TICKS, tick_frames)
    centres = (np.arange(len(blocks)) * HOP_TICKS + MOMENTARY_TICKS / 2) * TICK_S
    return np.maximum(lufs(np.maximum(blocks, 1e-20)), -120.0), centres


def bed_stretches(level: np.ndarray, centres: np.ndarray, spans: list[tuple[float, float]]) -> list[dict]:
    """Each time the bed comes back up between two consecutive speech events (see the module docstring)."""
    if not len(level):
        return []

    def floor(a: float, b: float) -> float:
        inside = (centres >= a) & (centres <= b)
        if inside.any():
            return float(level[inside].min())
        return float(level[int(np.argmin(np.abs(centres - (a + b) / 2)))])

    out = []
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        if b0 <= a1:
            continue
        in_gap = np.flatnonzero((centres > a1) & (centres < b0))
        if not len(in_gap):
            continue
        reference = max(floor(a0, a1), floor(b0, b1))
        top = int(in_gap[np.argmax(level[in_gap])])
        rise = float(level[top] - reference)
        if rise <= SWELL_RISE_DB:
            continue
        above = level > reference + SWELL_RISE_DB
        lo, hi = top, top
        while lo > 0 and above[lo - 1]:
            lo -= 1
        while hi + 1 < len(level) and above[hi + 1]:
            hi += 1
        out.append({"at_s": round(float(centres[top]), 2), "rise_db": round(rise, 1), "duration_s": round((hi - lo + 1) * HOP_TICKS * TICK_S, 2)})
    return out


def chime_loudness(chime_ticks: np.ndarray, tick_frames: int, events: list[dict], kind: str = "step") -> float:
    """Loudness of the chime stem over the spans of the cue sheet's `kind` chimes, all together, ungated."""
    total, count = 0.0, 0
    for e in events:
        if e["type"] == "chime" and e["kind"] == kind:
            a, b = _tick(e["start_s"]), max(_tick(e["end_s"]), _tick(e["start_s"]) + 1)
            total += float(chime_ticks[a:b].sum())
            count += (min(b, len(chime_ticks)) - a) * tick_frames
    return float(lufs(total / count)) if count and total > 0 else -math.inf


def measure_session(folder: Path, with_series: bool = True) -> dict:
    """The figures of one render: `folder` holds mix.wav, cues.json and stems/ (voice, music, chimes .wav)."""
    events = json.loads((folder / "cues.json").read_text(encoding="utf-8"))["events"]
    spans = speech_spans(events)
    voice, sr, tf = stem_ticks(folder / "stems" / "voice.wav")
    bed, _, _ = stem_ticks(folder / "stems" / "music.wav")
    chimes, _, _ = stem_ticks(folder / "stems" / "chimes.wav")
    mix, _, _ = stem_ticks(folder / "mix.wav")
    speech = gated_loudness(block_energies(voice, MOMENTARY_TICKS, tf))
    bed_lufs, share = bed_between(bed, tf, spans)
    level, centres = momentary_db(bed, tf)
    stretches = bed_stretches(level, centres, spans)
    swells = [s for s in stretches if s["duration_s"] < SWELL_SHORT_S]
    figures = {
        "duration_s": round(len(mix) * TICK_S, 1),
        "speech_lufs": speech,
        "bed_between_lufs": bed_lufs,
        "speech_vs_bed_lu": speech - bed_lufs,
        "bed_share": share,
        "lra_lu": loudness_range(block_energies(mix, SHORT_TERM_TICKS, tf)),
        "speech_lra_lu": loudness_range(block_energies(voice, SHORT_TERM_TICKS, tf)),
        "swells": len(swells),
        "bed_up": len(stretches),
        "swell_list": swells,
        "step_chime_lufs": chime_loudness(chimes, tf, events),
        "integrated_lufs": gated_loudness(block_energies(mix, MOMENTARY_TICKS, tf)),
        "true_peak_dbtp": true_peak_dbtp(folder / "mix.wav"),
    }
    if with_series:
        step = int(round(PICTURE_STEP_S / TICK_S)) // HOP_TICKS
        figures["series"] = {
            name: [round(float(v), 1) for v in np.maximum(lufs(np.maximum(block_energies(t, SHORT_TERM_TICKS, tf), 1e-20)), -90.0)[::step]]
            for name, t in (("speech", voice), ("bed", bed), ("mix", mix))
        }
    return figures


# ---------------------------------------------------------------------------------------------- renders


def render(routine: str, folder: Path, engine: str | None, chime_set: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "voiceguide", "render", routine, "-o", str(folder / "mix.wav"),
               "--stems", str(folder / "stems"), "--cues", str(folder / "cues.json"), "-q", "--force"]
    if engine:
        command += ["--engine", engine]
    if chime_set:
        command += ["--chimes", chime_set]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise AuditError(f"voiceguide render {routine} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


def builtin_routines() -> list[str]:
    done = subprocess.run([sys.executable, "-m", "voiceguide", "routines"], capture_output=True, text=True)
    if done.returncode != 0:
        raise AuditError(f"voiceguide routines failed: {done.stderr.strip()}")
    return [line.split()[0] for line in done.stdout.splitlines() if line and not line[0].isspace()]


def own_chime_set(routine: str) -> str | None:
    """The chime set the routine itself asks for (None if this voiceguide cannot say): its render serves (d)."""
    code = "import sys; from voiceguide.routine import load_routine; print(load_routine(sys.argv[1]).chimes)"
    done = subprocess.run([sys.executable, "-c", code, routine], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def audit(routine: str, engine: str | None, chime_sets: tuple[str, ...], work: Path) -> dict:
    """Render `routine` (its own chimes, then each other chime set) and measure; the renders are deleted after."""
    import shutil

    def step_chimes(folder: Path) -> dict:
        events = json.loads((folder / "cues.json").read_text(encoding="utf-8"))["events"]
        voice, _, tf = stem_ticks(folder / "stems" / "voice.wav")
        chimes, _, _ = stem_ticks(folder / "stems" / "chimes.wav")
        speech = gated_loudness(block_energies(voice, MOMENTARY_TICKS, tf))
        step = chime_loudness(chimes, tf, events)
        return {"step_lufs": step, "vs_speech_lu": step - speech}

    own = own_chime_set(routine)
    main = work / "main"
    render(routine, main, engine, own)  # named, so a config's chimes cannot make it another set
    figures: dict = {"chimes": {}}
    try:
        figures.update(measure_session(main))
        if own in chime_sets:
            figures["chimes"][own] = {"step_lufs": figures["step_chime_lufs"], "vs_speech_lu": figures["step_chime_lufs"] - figures["speech_lufs"]}
    finally:
        shutil.rmtree(main, ignore_errors=True)
    for name in chime_sets:
        if name == own:
            continue
        folder = work / name
        render(routine, folder, engine, name)
        try:
            figures["chimes"][name] = step_chimes(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    figures["chimes"] = {name: figures["chimes"][name] for name in chime_sets if name in figures["chimes"]}
    levels = [c["vs_speech_lu"] for c in figures["chimes"].values() if math.isfinite(c["vs_speech_lu"])]
    figures["chime_spread_lu"] = max(levels) - min(levels) if len(levels) > 1 else math.nan
    return figures


# ---------------------------------------------------------------------------------------------- output

COLUMNS = [
    # (title, key, format)
    ("speech LUFS", "speech_lufs", "{:.1f}"),
    ("bed LUFS", "bed_between_lufs", "{:.1f}"),
    ("sp-bed LU", "speech_vs_bed_lu", "{:.1f}"),
    ("bed %", "bed_share", "{:.0%}"),
    ("LRA LU", "lra_lu", "{:.1f}"),
    ("speechLRA", "speech_lra_lu", "{:.1f}"),
    ("swells<3s", "swells", "{}"),
    ("bed up", "bed_up", "{}"),
    ("bowl LU", "chimes.bowl.vs_speech_lu", "{:+.1f}"),
    ("bell LU", "chimes.bell.vs_speech_lu", "{:+.1f}"),
    ("wood LU", "chimes.wood.vs_speech_lu", "{:+.1f}"),
    ("spread", "chime_spread_lu", "{:.1f}"),
    ("LUFS", "integrated_lufs", "{:.1f}"),
    ("dBTP", "true_peak_dbtp", "{:.1f}"),
]


def _get(figures: dict, key: str):
    value = figures
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _cell(figures: dict | None, key: str, fmt: str) -> str:
    value = None if figures is None else _get(figures, key)
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return fmt.format(value)


def table(results: dict, before: dict | None = None) -> str:
    """One row per routine; with `before`, each cell reads before>after."""
    names = list(results)
    width = max([9] + [len(n) for n in names])
    cells = [[_cell(results[n], key, fmt) if before is None or n not in before
              else f"{_cell(before[n], key, fmt)}>{_cell(results[n], key, fmt)}"
              for _, key, fmt in COLUMNS] for n in names]
    widths = [max(len(title), *(len(row[i]) for row in cells)) for i, (title, _, _) in enumerate(COLUMNS)]
    lines = ["  ".join([f"{'routine':<{width}}"] + [f"{t:>{w}}" for (t, _, _), w in zip(COLUMNS, widths)])]
    for name, row in zip(names, cells):
        lines.append("  ".join([f"{name:<{width}}"] + [f"{c:>{w}}" for c, w in zip(row, widths)]))
    lines.append("  ".join([f"{'target':<{width}}"] + [f"{TARGETS.get(k, ''):>{w}}" for (_, k, _), w in zip(COLUMNS, widths)]))
    return "\n".join(lines)


def _finite(obj):
    """JSON has no infinities: they are written as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def picture(path: Path, panels: list[tuple[str, dict]]) -> None:
    """Hand-written SVG: short-term loudness (speech, bed, mix) over time, one panel per (label, figures)."""
    colours = {"speech": "#1f77b4", "bed": "#2ca02c", "mix": "#444444"}
    width, panel_h, left, top_pad = 1000, 260, 50, 30
    low, high = -60.0, -5.0
    longest = max(len(f["series"]["mix"]) for _, f in panels) * PICTURE_STEP_S or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{panel_h * len(panels)}" '
             'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>']
    for p, (label, figures) in enumerate(panels):
        y0 = p * panel_h + top_pad
        plot_h = panel_h - top_pad - 30
        plot_w = width - left - 20

        def y(v: float) -> float:
            return y0 + plot_h * (high - min(high, max(low, v))) / (high - low)

        def x(t: float) -> float:
            return left + plot_w * t / longest

        parts.append(f'<text x="{left}" y="{y0 - 10}" font-weight="bold">{_xml(label)}</text>')
        for v in range(int(low), int(high) + 1, 10):
            parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{left - 5}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
        for t in range(0, int(longest) + 1, 60):
            parts.append(f'<text x="{x(t):.1f}" y="{y0 + plot_h + 15}" text-anchor="middle">{t // 60} min</text>')
        for name, values in figures["series"].items():
            start_s = SHORT_TERM_TICKS * TICK_S / 2
            points = " ".join(f"{x(start_s + i * PICTURE_STEP_S):.1f},{y(v):.1f}" for i, v in enumerate(values))
            parts.append(f'<polyline fill="none" stroke="{colours.get(name, "#999")}" stroke-width="1" points="{points}"/>')
        key_x = left + plot_w - 420
        parts.append(f'<text x="{key_x}" y="{y0 - 10}">short-term loudness (3 s), LUFS:</text>')
        for i, name in enumerate(figures["series"]):
            parts.append(f'<text x="{key_x + 200 + 70 * i}" y="{y0 - 10}" fill="{colours.get(name, "#999")}" font-weight="bold">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _load(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("routines"), dict):
        raise AuditError(f"{path} is not a --json output of this script (no 'routines')")
    return data["routines"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("routines", nargs="*", help="routine files or built-in names (default: every built-in)")
    parser.add_argument("--engine", help="voice engine (default: voiceguide's default engine)")
    parser.add_argument("--chime-sets", default=",".join(CHIME_SETS), help="chime sets for (d), comma-separated; 'none' skips")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--picture", help="write an SVG of short-term loudness over time of one routine (see --picture-routine)")
    parser.add_argument("--picture-routine", help="the routine the picture shows (default: the first)")
    parser.add_argument("--before", action="append", default=[], help="an earlier --json output to compare with (repeatable)")
    parser.add_argument("--load", action="append", default=[], help="read the figures from earlier --json outputs instead of rendering")
    parser.add_argument("--label", default="", help="a label for the picture's panel (e.g. a commit)")
    args = parser.parse_args(argv)
    try:
        before = {k: v for path in args.before for k, v in _load(path).items()} or None
        if args.load:
            results = {k: v for path in args.load for k, v in _load(path).items()}
            if args.routines:
                results = {n: results[n] for n in args.routines if n in results}
        else:
            routines = args.routines or builtin_routines()
            sets = () if args.chime_sets == "none" else tuple(s.strip() for s in args.chime_sets.split(",") if s.strip())
            results = {}
            with tempfile.TemporaryDirectory(prefix="mix-audit-") as work:
                for routine in routines:
                    print(f"measuring {routine} ...", file=sys.stderr)
                    results[Path(routine).stem if os.sep in routine or routine.endswith((".yaml", ".yml")) else routine] = audit(
                        routine, args.engine, sets, Path(work))
        if args.picture and results:
            name = args.picture_routine or next(iter(results))
            if name not in results:
                raise AuditError(f"--picture-routine {name}: not among the routines measured ({', '.join(results)})")
            panels = []
            if before and name in before and "series" in before[name]:
                panels.append((f"{name}: before", before[name]))
            panels.append((f"{name}: {args.label or ('after' if before else 'session')}", results[name]))
            picture(Path(args.picture), panels)
    except AuditError as exc:
        print(f"mix_audit: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_finite({"routines": results, "targets": TARGETS}), indent=1))
    else:
        print(table(results, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
