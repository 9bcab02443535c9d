"""Benchmark: every figure of issue 18's table in one run, against the MP3 encoder alone (the floor).

Every run happens in this one command on this machine, each in a fresh process so its peak memory (max
RSS) is its own:

  floor   the encoder alone: the session's own PCM (from a WAV render) encoded to MP3 at the same settings
  cold    a render with an empty clip cache
  warm    the same render with the cache full
  edit    a render after one step's text changed (must synthesise exactly one clip)
  m4a     the warm render to .m4a (AAC), compared with the warm .mp3
  neural  a built-in routine with a neural engine (Piper): `plan` on an empty cache (synthesis alone), then
          a cold render on another empty cache, compared (skipped without the engine)
  naive   ../shared/bench/naive_pydub.py (pyttsx3 + pydub overlays; needs ffmpeg, skipped without it)

and the clip cache's size per second of speech after the cold render.

usage: python scripts/bench.py [--minutes 20] [--cues 120] [--out DIR] [--skip-naive] [--engine pyttsx3]
       [--neural-engine piper] [--neural-routine sculpt] [--skip-neural]
--engine is the voice of the cold, warm, m4a and edit runs: the system voice by default, as the naive baseline's
(the default engine, auto, picks a neural voice where one is installed; the neural row measures that).
(the naive baseline needs ffmpeg for pydub's MP3 export: `pip install -e ".[bench]"` brings one)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAIVE = ROOT.parent / "shared" / "bench" / "naive_pydub.py"

AREAS = ["chin", "jaw line", "cheekbones", "temples", "forehead", "neck", "collarbones", "brow bone"]
MOTIONS = ["Sweep", "Glide", "Circle", "Press", "Stroke", "Lift", "Tap", "Knead"]


def make_routine(path: Path, hold_s: float, cues: int, text_tag: str = "") -> None:
    """A routine with `cues` spoken steps of `hold_s` hands-on time each."""
    sections = 8
    per_section = cues // sections
    lines = [
        "title: Benchmark session",
        "music: {track: warm-pad, volume_db: -20}",
        "lead_in: 3s",
        "intro: Sit comfortably and warm the oil between your palms.",
        "outro: Rest your hands and breathe.",
        "sections:",
    ]
    n = 0
    for s in range(sections):
        lines += [f"  - title: Part {s + 1}", "    steps:"]
        for k in range(per_section if s < sections - 1 else cues - n):
            n += 1
            tag = text_tag if n == 1 else ""
            lines += [
                f"      - say: Step {n}{tag}. {MOTIONS[n % 8]} your fingertips over the {AREAS[(n // 8) % 8]}, {n % 5 + 3} times.",
                f"        hold: {hold_s:.3f}s",
            ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _bundled_ffmpeg() -> str | None:
    """The ffmpeg binary of the optional imageio-ffmpeg wheel (pip install -e ".[bench]"), if installed."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - not installed, or no binary for this platform
        return None


def calibrate_hold(routine: Path, minutes: float, cues: int, cache: Path, engine: str | None = None) -> float:
    """Pick the hold time that makes the session `minutes` long (speech length comes from a real synthesis
    into a separate cache, so the measured cold run still starts empty)."""
    sys.path.insert(0, str(ROOT))
    from voiceguide import synthesize_plan
    from voiceguide.voice import ClipCache

    hold_s = 10.0
    make_routine(routine, hold_s, cues)
    plan, _, _ = synthesize_plan(routine, cache=ClipCache(cache), engine=engine)
    hold_s = max(1.0, hold_s + (minutes * 60 - plan.duration_s) / cues)
    make_routine(routine, hold_s, cues)
    shutil.rmtree(cache, ignore_errors=True)
    return hold_s


def run_measured(code: str, env: dict) -> dict:
    """Run python code in a fresh process; it prints a JSON dict, to which we add peak RSS."""
    wrapper = textwrap.dedent(
        """
        import json, resource, sys, time
        started = time.perf_counter()
        result = {}
        exec(compile(sys.argv[1], "bench", "exec"))
        result["wall_s"] = time.perf_counter() - started
        # ru_maxrss is KiB on Linux.
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["children_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps(result))
        """
    )
    out = subprocess.run([sys.executable, "-c", wrapper, code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


RENDER = """
from voiceguide import render
r = render({routine!r}, {output!r}, force=True, bitrate_kbps=128{engine})
speech = {{e.text: e.end_s - e.start_s for e in r.plan.events if e.type == "speech"}}
result.update(synthesized=r.clips_synthesized, cached=r.clips_cached, duration_s=r.plan.duration_s,
              cues=sum(1 for e in r.plan.events if e.type == "speech"), speech_s=sum(speech.values()))
"""

SYNTHESIS = """
from voiceguide import synthesize_plan
plan, _, stats = synthesize_plan({routine!r}, engine={engine!r})
result.update(synthesized=stats.synthesized, cached=stats.cached, duration_s=plan.duration_s)
"""


def clip_bytes(cache: Path) -> int:
    """What the clip cache holds for clips (the two-letter folders; not music loops, not models)."""
    return sum(p.stat().st_size for p in cache.glob("??/*") if p.is_file())


def render_code(routine: Path | str, output: Path, engine: str | None = None) -> str:
    return RENDER.format(routine=str(routine), output=str(output), engine=f", engine={engine!r}" if engine else "")


FLOOR = """
import soundfile
from pathlib import Path
from voiceguide.export import open_encoder
data = soundfile.SoundFile({wav!r})
t0 = time.perf_counter()
with open_encoder(Path({mp3!r}), 44100, 2, bitrate_kbps=128) as enc:
    for block in data.blocks(65536, dtype="float32", always_2d=True):
        enc.write(block)
result.update(encode_s=time.perf_counter() - t0, duration_s=data.frames / 44100)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--cues", type=int, default=120)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--engine", default="pyttsx3", help="the voice of the cold, warm, m4a and edit runs")
    parser.add_argument("--neural-engine", default="piper")
    parser.add_argument("--neural-routine", default="sculpt", help="a built-in routine or a routine file")
    parser.add_argument("--skip-neural", action="store_true")
    args = parser.parse_args()

    work = args.out or Path(tempfile.mkdtemp(prefix="voiceguide-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache)}
    routine = work / "bench.yaml"
    hold_s = calibrate_hold(routine, args.minutes, args.cues, work / "calibration-cache", args.engine)

    rows = {}
    rows["cold"] = run_measured(render_code(routine, work / "cold.mp3", args.engine), env)
    cache_bytes = clip_bytes(cache)
    rows["warm"] = run_measured(render_code(routine, work / "warm.mp3", args.engine), env)
    rows["m4a"] = run_measured(render_code(routine, work / "warm.m4a", args.engine), env)
    edited = work / "bench-edited.yaml"
    make_routine(edited, hold_s, args.cues, text_tag=" again")
    rows["edit"] = run_measured(render_code(edited, work / "edit.mp3", args.engine), env)
    run_measured(render_code(routine, work / "session.wav", args.engine), env)
    rows["floor"] = run_measured(FLOOR.format(wav=str(work / "session.wav"), mp3=str(work / "floor.mp3")), env)
    rows["floor"]["wall_s"] = rows["floor"]["encode_s"]

    rows["synthesis"] = rows["neural"] = None
    if not args.skip_neural:
        # Each on its own empty cache: `plan` is synthesis alone, the render is synthesis + mix + encode.
        try:
            rows["synthesis"] = run_measured(
                SYNTHESIS.format(routine=args.neural_routine, engine=args.neural_engine),
                {**env, "VOICEGUIDE_CACHE_DIR": str(work / "neural-plan-cache")},
            )
            rows["neural"] = run_measured(
                render_code(args.neural_routine, work / "neural.mp3", args.neural_engine),
                {**env, "VOICEGUIDE_CACHE_DIR": str(work / "neural-render-cache")},
            )
        except subprocess.CalledProcessError as exc:
            print(f"neural runs skipped: {(exc.stderr or '').strip().splitlines()[-1:]}", file=sys.stderr)
            rows["synthesis"] = rows["neural"] = None

    ffmpeg = shutil.which("ffmpeg") or _bundled_ffmpeg()
    if not args.skip_naive and NAIVE.is_file() and ffmpeg:
        code = (
            "import runpy, sys\n"
            # pydub exports MP3 through ffmpeg; point it at the one we found (PATH or imageio-ffmpeg).
            f"import pydub; pydub.AudioSegment.converter = {ffmpeg!r}\n"
            # pyttsx3 finds espeak-ng only as a system library; load the wheel's copy first, as voiceguide does.
            "from voiceguide.voice import espeak_setup; espeak_setup.prepare()\n"
            f"sys.argv = ['naive', {str(work / 'naive.mp3')!r}, '{args.cues}', '{args.minutes}']\n"
            f"runpy.run_path({str(NAIVE)!r}, run_name='__main__')\n"
        )
        try:
            rows["naive"] = run_measured(code, env)
        except subprocess.CalledProcessError as exc:
            print(f"naive baseline failed: {(exc.stderr or '').strip().splitlines()[-1:]}", file=sys.stderr)
            rows["naive"] = None
    else:
        rows["naive"] = None

    floor = rows["floor"]["wall_s"]
    print(f"\nsession {rows['cold']['duration_s'] / 60:.1f} min, {rows['cold']['cues']} spoken cues, 128 kbit/s stereo, "
          f"voice {args.engine}; {os.cpu_count()} cores\n")
    print(f"{'run':<10}{'wall s':>9}{'x floor':>9}{'peak RSS MB':>13}{'workers MB':>12}  notes")
    for name in ("floor", "cold", "warm", "m4a", "edit", "synthesis", "neural", "naive"):
        row = rows[name]
        if row is None:
            why = "needs ffmpeg: PATH or pip install -e '.[bench]'; and ../shared/bench" if name == "naive" else f"needs the {args.neural_engine} engine"
            print(f"{name:<10}{'-':>9}{'-':>9}{'-':>13}{'-':>12}  skipped ({why})")
            continue
        notes = ""
        if "synthesized" in row:
            notes = f"{row['synthesized']} clips synthesised, {row['cached']} cached"
        if name in ("synthesis", "neural"):
            notes += f"; {args.neural_routine}, {args.neural_engine}, {row['duration_s'] / 60:.1f} min"
        print(f"{name:<10}{row['wall_s']:>9.2f}{row['wall_s'] / floor:>9.2f}{row['rss_mb']:>13.0f}{row['children_rss_mb']:>12.0f}  {notes}")

    per_s = cache_bytes / rows["cold"]["speech_s"]
    figures = [
        ("warm .m4a vs the same .mp3", f"{rows['m4a']['wall_s'] / rows['warm']['wall_s']:.2f}x", "<= 1.3x"),
        ("cold neural render vs synthesis alone",
         f"{rows['neural']['wall_s'] / rows['synthesis']['wall_s']:.2f}x" if rows["neural"] else "-", "<= 1.15x"),
        ("clip cache per second of speech", f"{per_s / 1000:.0f} kB/s ({cache_bytes / 1e6:.1f} MB for {rows['cold']['speech_s']:.0f} s)", "<= 66 kB/s"),
        ("cold / warm MP3 vs the encoder floor, peak memory",
         f"{rows['cold']['wall_s'] / floor:.2f}x / {rows['warm']['wall_s'] / floor:.2f}x / "
         f"{max(rows['cold']['rss_mb'], rows['warm']['rss_mb']):.0f} MB", "<= 0.8x / <= 0.6x / <= 150 MB"),
    ]
    print("\n| figure | measured | target |\n|---|---|---|")
    for figure, measured, target in figures:
        print(f"| {figure} | {measured} | {target} |")
    rows["cache_bytes"] = cache_bytes
    (work / "bench.json").write_text(json.dumps(rows, indent=2))
    print(f"\nfiles and bench.json in {work}")


if __name__ == "__main__":
    main()
