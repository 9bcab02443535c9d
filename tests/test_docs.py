"""What the README and the routine-format reference say matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from voiceguide.mix import DUCK_DB
from voiceguide.routine import DEFAULT_DUCK_DB

ROOT = Path(__file__).resolve().parents[1]


def test_readme_states_the_real_duck_depth():
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    stated = re.findall(r"dips (\d+(?:\.\d+)?) dB under the voice", text)
    assert stated, "the README's Music section says how far the music dips"
    assert {float(s) for s in stated} == {-DUCK_DB} == {-DEFAULT_DUCK_DB}
