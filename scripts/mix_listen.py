"""Is the narration as easy to understand in the mix as on its own? Issue 16's "intelligibility not worse".

Renders a routine with `--stems` and `--cues` (with the installed voiceguide, or the checkout PYTHONPATH
points at), cuts every spoken line of three or more words out of the voice stem and out of the mix (from
0.2 s before it to 0.3 s after), transcribes both with the offline recogniser of `check --listen` (Whisper
base, voiceguide.listen) and prints the word (or, for Korean, character) error rate of each, so the
music, the chimes and the pan are judged by how much they cost the listener.

usage: python scripts/mix_listen.py ROUTINE [--engine NAME] [--checkout DIR] [--json]
  --checkout DIR   render with another checkout of voiceguide (e.g. a worktree of an earlier commit); the
                   recogniser and the scoring stay this one's
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from voiceguide.listen import Recogniser, score, whisper_language


def render(routine: str, folder: Path, engine: str | None, checkout: Path | None = None) -> None:
    command = [sys.executable, "-m", "voiceguide", "render", routine, "-o", str(folder / "mix.wav"),
               "--stems", str(folder / "stems"), "--cues", str(folder / "cues.json"), "-q", "--force"]
    if engine:
        command += ["--engine", engine]
    env = dict(os.environ, PYTHONPATH=str(checkout)) if checkout else None
    # Run from the scratch folder: `python -m` puts the working folder first on the path, ahead of PYTHONPATH.
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    if done.returncode != 0:
        sys.exit(f"mix_listen: render failed ({done.returncode}): {done.stderr.strip()}")


def measure(folder: Path, language: str) -> dict:
    mix, rate = soundfile.read(str(folder / "mix.wav"), dtype="float32", always_2d=True)
    voice, _ = soundfile.read(str(folder / "stems" / "voice.wav"), dtype="float32", always_2d=True)
    events = json.loads((folder / "cues.json").read_text(encoding="utf-8"))["events"]
    lines = [e for e in events if e["type"] == "speech" and len(e["text"].split()) >= 3]
    recogniser = Recogniser()
    totals = {"voice": [0, 0], "mix": [0, 0]}
    for event in lines:
        a, b = max(0, int((event["start_s"] - 0.2) * rate)), int((event["end_s"] + 0.3) * rate)
        for name, audio in (("voice", voice[a:b]), ("mix", mix[a:b])):
            heard = recogniser.transcribe(audio.mean(axis=1), rate, whisper_language(language))
            result = score(event["text"], heard, language)
            totals[name][0] += result.errors
            totals[name][1] += result.units
    return {"lines": len(lines), **{f"{name}_error_rate": e / u if u else 0.0 for name, (e, u) in totals.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("routine")
    parser.add_argument("--engine", default=None)
    parser.add_argument("--checkout", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if Path(args.routine).is_file():
        args.routine = str(Path(args.routine).resolve())
    plan = subprocess.run([sys.executable, "-m", "voiceguide", "plan", args.routine, "--json", "--engine", args.engine or "auto"],
                          capture_output=True, text=True)
    language = "en"
    if plan.returncode == 0:
        texts = " ".join(e.get("text", "") for e in json.loads(plan.stdout)["events"])
        language = "ko" if any("\uac00" <= ch <= "\ud7a3" for ch in texts) else "en"
    with tempfile.TemporaryDirectory(prefix="voiceguide-mix-listen-") as tmp:
        render(args.routine, Path(tmp), args.engine, args.checkout)
        figures = measure(Path(tmp), language)
    figures["routine"] = args.routine
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{args.routine}: {figures['lines']} lines; error rate, voice alone {figures['voice_error_rate']:.3f}, "
              f"in the mix {figures['mix_error_rate']:.3f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
