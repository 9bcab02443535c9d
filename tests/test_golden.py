"""Golden plans: every built-in routine's plan, committed in tests/golden and diff-checked."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import pytest

from voiceguide.library import builtin_routines
from voiceguide.plan import LengthError, build_plan, estimated_speech, fit_to_length, length_range
from voiceguide.routine import load_routine

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "python3 scripts/make_golden.py"

_spec = importlib.util.spec_from_file_location("make_golden", ROOT / "scripts" / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)

NAMES = sorted(builtin_routines())


@pytest.mark.parametrize("name", NAMES)
def test_plan_matches_golden(name):
    path = make_golden.golden_path(name)
    assert path.exists(), f"no golden plan for built-in routine '{name}': run `{REGENERATE}` and commit {path.relative_to(ROOT)}"
    expected = path.read_text(encoding="utf-8")
    actual = make_golden.golden_text(name)
    if actual != expected:
        diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), "golden", "now", lineterm="", n=2))
        shown = "\n".join(diff[:80]) + ("\n..." if len(diff) > 80 else "")
        pytest.fail(
            f"the plan of '{name}' changed ({len(diff)} diff lines). If the change is intended, regenerate the "
            f"golden plans with `{REGENERATE}` and review `git diff tests/golden`.\n{shown}"
        )


def test_no_stale_golden_files():
    stale = sorted(p.name for p in make_golden.GOLDEN_DIR.glob("*.json") if p.stem not in NAMES)
    assert not stale, f"golden plans without a built-in routine: {stale}; run `{REGENERATE}` to remove them"


@pytest.mark.parametrize("name", NAMES)
def test_length_fits_every_builtin_routine(name):
    routine = load_routine(name)
    speech = estimated_speech(routine)
    natural = build_plan(routine, speech).duration_s
    shortest, longest = length_range(routine, speech)
    assert shortest < natural < longest
    # Whole minutes around the routine's own length, and the extremes of what its action time allows.
    minutes = {m * 60.0 for m in range(1, 61)}
    targets = sorted(t for t in minutes if 0.7 * natural <= t <= 1.5 * natural) + [shortest + 0.5, longest - 0.5]
    for target in targets:
        if shortest - 1 <= target <= longest + 1:
            fitted = fit_to_length(routine, speech, target)
            assert abs(build_plan(fitted, speech).duration_s - target) <= 1.0, (name, target, fitted.pace)
        else:
            with pytest.raises(LengthError):
                fit_to_length(routine, speech, target)
    with pytest.raises(LengthError, match="the speech alone takes"):
        fit_to_length(routine, speech, shortest - 30)
