"""scripts/mix_audit.py, the independent meter of the mix targets: synthetic stems with known levels give the
expected figures, its gating agrees with pyloudnorm, and a real render is measured end to end."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile

pyloudnorm = pytest.importorskip("pyloudnorm")

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mix_audit", ROOT / "scripts" / "mix_audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

SR = 16000  # small: the meter is rate-independent, and the tests stay quick


def tone(seconds: float, amplitude: float, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def noise(seconds: float, amplitude: float, seed: int = 0) -> np.ndarray:
    return (amplitude * np.random.default_rng(seed).standard_normal(int(round(seconds * SR)))).astype(np.float32)


def write_session(folder: Path, voice: np.ndarray, music: np.ndarray, chimes: np.ndarray, events: list[dict]) -> Path:
    """A render's outputs as voiceguide writes them: mono voice and chimes stems, stereo music, the mix, cues."""
    (folder / "stems").mkdir(parents=True)
    soundfile.write(folder / "stems" / "voice.wav", voice, SR, subtype="FLOAT")
    soundfile.write(folder / "stems" / "music.wav", music, SR, subtype="FLOAT")
    soundfile.write(folder / "stems" / "chimes.wav", chimes, SR, subtype="FLOAT")
    soundfile.write(folder / "mix.wav", music + (voice + chimes)[:, None], SR, subtype="FLOAT")
    (folder / "cues.json").write_text(json.dumps({"duration_s": len(voice) / SR, "events": events}), encoding="utf-8")
    return folder


def speech(a: float, b: float) -> dict:
    return {"type": "speech", "kind": "instruction", "start_s": a, "end_s": b, "text": "x"}


def test_gated_loudness_and_loudness_range_agree_with_pyloudnorm():
    # Noise whose level steps between four values: gating and the range both matter.
    x = np.concatenate([noise(12, a, seed=i) for i, a in enumerate((0.1, 0.02, 0.05, 0.003))])
    stereo = np.stack([x, x], axis=1)
    meter = audit.TickMeter(SR, 2)
    for start in range(0, len(stereo), 100_000):  # blocks: the filter state must carry across them
        meter.feed(stereo[start : start + 100_000])
    ticks = meter.energies()
    ours = audit.gated_loudness(audit.block_energies(ticks, audit.MOMENTARY_TICKS, meter.tick))
    theirs = pyloudnorm.Meter(SR).integrated_loudness(stereo.astype(np.float64))
    assert ours == pytest.approx(theirs, abs=0.05)
    lra = audit.loudness_range(audit.block_energies(ticks, audit.SHORT_TERM_TICKS, meter.tick))
    # 10th..95th percentile of 0.1 (-20 dBFS rms), 0.05 and 0.02 (the 0.003 quarter is under the relative gate)
    assert 20 * math.log10(0.1 / 0.02) - 1.5 < lra <= 20 * math.log10(0.1 / 0.02) + 0.5
    if hasattr(pyloudnorm.Meter, "loudness_range"):
        assert lra == pytest.approx(pyloudnorm.Meter(SR).loudness_range(stereo.astype(np.float64)), abs=0.5)


def test_a_bed_12_db_under_speech_measures_12_lu_and_a_2_s_swell_is_counted(tmp_path):
    length_s, level = 40.0, 0.3
    spans = [(2.0, 6.0), (8.0, 12.0), (20.0, 24.0), (25.0, 29.0), (33.0, 37.0)]
    voice = np.zeros(int(length_s * SR), np.float32)
    for a, b in spans:
        voice[int(a * SR) : int(b * SR)] = tone(b - a, level)
    # The bed: 12 dB under the speech between phrases, ducked 12 dB more under it, and held ducked across
    # the 1 s gap at 24..25 s; the 2 s gap at 6..8 s lets it come back up (a swell), the 8 s one too (not short).
    gain = np.full(len(voice), 10 ** (-12 / 20), np.float32)
    for a, b in spans + [(24.0, 25.0)]:
        gain[int(a * SR) : int(b * SR)] *= 10 ** (-12 / 20)
    bed = tone(length_s, level, 1000.0) * gain
    music = np.stack([bed, bed], axis=1)
    chimes = np.zeros_like(voice)
    chime_events = []
    for at in (14.0, 17.0):  # step chimes 8 LU under the speech
        chimes[int(at * SR) : int((at + 1.2) * SR)] = tone(1.2, level * 10 ** (-8 / 20), 1000.0)
        chime_events.append({"type": "chime", "kind": "step", "start_s": at, "end_s": at + 1.2})
    folder = write_session(tmp_path / "s", voice, music, chimes, [speech(a, b) for a, b in spans] + chime_events)

    figures = audit.measure_session(folder)

    assert figures["speech_vs_bed_lu"] == pytest.approx(12.0, abs=0.5)
    assert figures["speech_lufs"] == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(np.stack([voice, voice], 1).astype(float)), abs=0.05)
    assert figures["bed_share"] == pytest.approx(1 - 20 / 40, abs=0.01)
    assert figures["swells"] == 1
    (swell,) = figures["swell_list"]
    assert 6.0 < swell["at_s"] < 8.0 and 2.0 <= swell["duration_s"] < 3.0 and swell["rise_db"] == pytest.approx(12, abs=1)
    assert figures["bed_up"] == 3  # 6..8 s, 12..20 s and 29..33 s; not 24..25 s, where the bed stays down
    assert figures["step_chime_lufs"] - figures["speech_lufs"] == pytest.approx(-8.0, abs=0.5)
    # Half the programme is bed 12 dB down, which passes the relative gate: it pulls the programme under the speech.
    assert figures["speech_lufs"] - 12 < figures["integrated_lufs"] < figures["speech_lufs"] - 1
    assert len(figures["series"]["mix"]) == pytest.approx(length_s / audit.PICTURE_STEP_S, abs=8)


def test_true_peak_sees_the_peak_between_samples(tmp_path):
    # A sine at a quarter of the rate, sampled 45 degrees off its crests: samples reach 0.5/sqrt(2), the wave
    # 0.5. Faded in and out (a wave that starts at full swing rings in any band-limited meter), longer than
    # one of the meter's blocks.
    n = np.arange(SR * 7)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / SR)
    x = (0.5 * fade * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
    soundfile.write(tmp_path / "p.wav", np.stack([0.1 * x, x], 1), SR, subtype="FLOAT")
    assert 20 * math.log10(np.abs(x).max()) == pytest.approx(-9.03, abs=0.05)
    assert audit.true_peak_dbtp(tmp_path / "p.wav") == pytest.approx(-6.02, abs=0.1)


def test_table_json_and_picture_from_saved_figures(tmp_path, capsys):
    series = {"speech": [-20.0, -18.5, -90.0], "bed": [-40.0, -38.0, -41.0], "mix": [-19.0, -18.0, -39.0]}
    figures = {"speech_lufs": -15.6, "bed_between_lufs": -35.6, "speech_vs_bed_lu": 20.0, "bed_share": 0.6, "lra_lu": 20.4,
               "speech_lra_lu": 8.8, "swells": 17, "bed_up": 47, "chimes": {"bowl": {"vs_speech_lu": -2.8}},
               "chime_spread_lu": None, "integrated_lufs": -16.1, "true_peak_dbtp": -1.9, "series": series}
    saved = tmp_path / "before.json"
    saved.write_text(json.dumps({"routines": {"sculpt": figures}}), encoding="utf-8")
    after = dict(figures, speech_vs_bed_lu=12.5, swells=0)
    (tmp_path / "after.json").write_text(json.dumps({"routines": {"sculpt": after}}), encoding="utf-8")

    code = audit.main(["--load", str(tmp_path / "after.json"), "--before", str(saved), "--picture", str(tmp_path / "p.svg")])

    assert code == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("sculpt"))
    assert "20.0>12.5" in row and "17>0" in row and "-2.8>-2.8" in row
    svg = ET.parse(tmp_path / "p.svg").getroot()
    polylines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(polylines) == 6  # before and after: speech, bed and mix
    assert audit.main(["--load", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_render_is_measured(tmp_path):
    routine = tmp_path / "r.yaml"
    routine.write_text(
        "title: Audit\nmusic: {track: warm-pad, volume_db: -20}\nlead_in: 1s\nintro: Sit comfortably and warm the oil.\n"
        "sections:\n  - title: Neck\n    steps:\n      - say: Stroke down the neck.\n        hold: 6s\n"
        "      - say: Glide along the jaw line.\n        hold: 3s\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mix_audit.py"), str(routine), "--chime-sets", "wood", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["routines"]["r"]
    assert figures["integrated_lufs"] == pytest.approx(-16.0, abs=1.0)
    assert figures["true_peak_dbtp"] <= -1.0
    assert 5.0 < figures["speech_vs_bed_lu"] < 30.0
    assert figures["chimes"]["wood"]["vs_speech_lu"] < 0
