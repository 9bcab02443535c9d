"""--bitrate applies to every lossy format: MP3 and M4A (CBR), Ogg Vorbis and Opus (VBR, at about that rate)."""

from __future__ import annotations

import numpy as np
import pytest
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from voiceguide.export import open_encoder

from .conftest import SMALL_ROUTINE, invoke

CHOICES = (96, 128, 160, 192, 256, 320)


def encode_noise(path, bitrate_kbps, seconds=6.0):
    rng = np.random.default_rng(7)
    audio = (rng.standard_normal((int(44100 * seconds), 2)) * 0.1).astype(np.float32)
    with open_encoder(path, 44100, 2, bitrate_kbps=bitrate_kbps) as encoder:
        for start in range(0, len(audio), 4096):
            encoder.write(audio[start : start + 4096])


@pytest.mark.parametrize("kbps", CHOICES)
def test_vorbis_encodes_at_the_bitrate(tmp_path, kbps):
    path = tmp_path / "n.ogg"
    encode_noise(path, kbps)
    assert OggVorbis(str(path)).info.bitrate == kbps * 1000  # the nominal rate in the Vorbis header


@pytest.mark.parametrize("kbps", CHOICES)
def test_opus_encodes_at_about_the_bitrate(tmp_path, kbps):
    path = tmp_path / "n.opus"
    encode_noise(path, kbps)
    assert OggOpus(str(path)).info.bitrate == pytest.approx(kbps * 1000, rel=0.15)  # from size and length


@pytest.mark.parametrize("suffix", [".ogg", ".opus"])
def test_cli_bitrate_reaches_ogg_and_opus(write_routine, fake_engine, tmp_path, suffix):
    routine = write_routine(SMALL_ROUTINE.replace("music: none", "music: warm-pad"))
    sizes = {}
    for kbps in (96, 256):
        out = tmp_path / f"s{kbps}{suffix}"
        result = invoke("render", routine, "-o", out, "--engine", "fake", "--bitrate", kbps, "-q")
        assert result.exit_code == 0, result.output
        sizes[kbps] = out.stat().st_size
        if suffix == ".ogg":
            assert OggVorbis(str(out)).info.bitrate == kbps * 1000
    assert sizes[256] > 1.6 * sizes[96]
