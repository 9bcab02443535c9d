"""Write tests/golden/<name>.json, the plan of every built-in routine, for tests/test_golden.py to diff-check.

The plans use estimated speech lengths (voiceguide.plan.estimated_speech), so they need no voice engine
and come out the same on every machine. Run after changing a built-in routine or a timing rule, then
review the change with `git diff tests/golden`:

    python3 scripts/make_golden.py            # rewrite every golden plan
    python3 scripts/make_golden.py --check    # only report which ones differ (exit status 1 if any)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
sys.path.insert(0, str(ROOT))

from voiceguide.library import builtin_routines  # noqa: E402
from voiceguide.plan import build_plan, estimated_speech  # noqa: E402
from voiceguide.routine import load_routine  # noqa: E402


def golden_text(name: str) -> str:
    """The golden file's exact text for a built-in routine: JSON with one event (chapter, warning) a line,
    so a diff shows exactly which events moved."""
    routine = load_routine(name)
    plan = build_plan(routine, estimated_speech(routine)).to_json()

    def dump(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = ["{"]
    for i, (key, value) in enumerate(plan.items()):
        comma = "," if i < len(plan) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f" {dump(key)}: [")
            lines += [f"  {dump(item)}{',' if j < len(value) - 1 else ''}" for j, item in enumerate(value)]
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {dump(key)}: {dump(value)}{comma}")
    return "\n".join(lines) + "\n}\n"


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences without writing")
    args = parser.parse_args(argv)
    names = sorted(builtin_routines())
    stale = sorted(p for p in GOLDEN_DIR.glob("*.json") if p.stem not in names)
    differing = []
    for name in names:
        text = golden_text(name)
        path = golden_path(name)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            continue
        differing.append(name)
        if not args.check:
            GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"{'updated' if old is not None else 'created'} {path.relative_to(ROOT)}")
    for path in stale:
        if args.check:
            print(f"stale: {path.relative_to(ROOT)} (no built-in routine '{path.stem}')")
        else:
            path.unlink()
            print(f"removed {path.relative_to(ROOT)} (no built-in routine '{path.stem}')")
    if args.check:
        for name in differing:
            print(f"differs: {golden_path(name).relative_to(ROOT)}")
        return 1 if differing or stale else 0
    if not differing and not stale:
        print(f"all {len(names)} golden plans are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
