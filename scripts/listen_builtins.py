"""How well the recogniser understands every built-in routine: `voiceguide check --listen` for each, one table.

    python3 scripts/listen_builtins.py                      # each routine with the voice a render would use
    python3 scripts/listen_builtins.py --engine pyttsx3     # or with one engine for all
    python3 scripts/listen_builtins.py sculpt drain --json results.json

Needs the listen extra. Clips come from the clip cache when there (VOICEGUIDE_CACHE_DIR). One recogniser
serves every routine. Prints a Markdown table: lines understood, spoken counts understood, word error rate on
lines of five words or more (English), character error rate (Korean), and the recogniser's real-time factor.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voiceguide.library import builtin_routines  # noqa: E402
from voiceguide.listen import Recogniser, listen  # noqa: E402
from voiceguide.requests import resolve_session, session_of  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routines", nargs="*", help="built-in routine names (default: all)")
    parser.add_argument("--engine", help="voice engine for every routine (default: what a render would use)")
    parser.add_argument("--json", type=Path, help="also write every report as JSON to this file")
    parser.add_argument("--misheard", action="store_true", help="also list each line not understood")
    args = parser.parse_args()
    names = args.routines or sorted(builtin_routines())
    recogniser = Recogniser()
    reports = []
    print("| routine | engine (voice) | lines understood | counts | WER, 5+ word lines | CER | recogniser RTF |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        report = listen(resolve_session(session_of(name, engine=args.engine)), recogniser=recogniser)
        reports.append(report.to_json())
        counts = [c for c in report.lines if c.kind == "count"]
        wer = report.word_error_rate
        cer = report.character_error_rate
        print(
            f"| {name} | {report.engine} ({report.voice}) | {len(report.lines) - len(report.misheard)} of {len(report.lines)} "
            f"| {sum(c.understood for c in counts)} of {len(counts)} | {'-' if wer is None else f'{wer:.3f}'} "
            f"| {'-' if cer is None else f'{cer:.3f}'} | {report.real_time_factor:.2f} |",
            flush=True,
        )
        if args.misheard:
            for line in report.misheard:
                print(f"|   | {line.text[:70]!r} | heard {line.heard[:70]!r} | | | | |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
