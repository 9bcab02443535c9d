"""Content-addressed clip cache: one WAV per (engine, engine version, resolved voice, language, rate, volume,
pitch, text) and cache format.

The cache is an optimisation, never a reason to fail: an entry that is truncated or garbage is dropped and
synthesised again, a cache folder that cannot be written falls back to a private temporary folder (with a
warning) that is removed when the process ends, and renders running at once share it safely (entries appear
by atomic rename, so a reader sees a whole clip or none).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import struct
import tempfile
import warnings
from pathlib import Path

from .resolve import normal

# Part of every key: bump it whenever what a key means or how a stored clip is made changes, so older entries
# are never served again (2: the voice is the engine's resolved voice id, and the language is in the key).
CACHE_FORMAT = 2


def default_cache_dir() -> Path:
    override = os.environ.get("VOICEGUIDE_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceguide")) / "clips"


def clip_key(
    engine: str,
    engine_version: str,
    voice: str | None,
    rate_wpm: int,
    volume: float,
    text: str,
    pitch: int | None = None,
    language: str | None = None,
) -> str:
    """`voice` is what the engine resolved the options to (Engine.voice_identity), not the name as typed."""
    identity = {
        "format": CACHE_FORMAT,
        "engine": engine,
        "engine_version": engine_version,
        "voice": voice,
        "language": normal(language) if language else None,
        "rate_wpm": rate_wpm,
        "volume": round(volume, 4),
        "text": text,
    }
    if pitch is not None:
        identity["pitch"] = pitch
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def wav_is_complete(path: Path) -> bool:
    """A readable RIFF/WAVE file whose data chunk holds audio and fits in the file (not truncated)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            position, has_format = 12, False
            while position + 8 <= size:
                handle.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"fmt ":
                    has_format = True
                elif chunk_id == b"data":
                    return has_format and 0 < chunk_size and position + 8 + chunk_size <= size
                position += 8 + chunk_size + (chunk_size & 1)
        return False
    except (OSError, struct.error):
        return False


def _private_dir() -> Path:
    """A temporary folder for this process only, removed when it exits."""
    folder = Path(tempfile.mkdtemp(prefix="voiceguide-clips-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


class ClipCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)  # noqa: SIM115
            probe.close()
        except OSError as exc:
            self._fall_back(exc)

    def _fall_back(self, exc: OSError) -> None:
        previous = self.root
        self.root = _private_dir()
        warnings.warn(
            f"clip cache {previous} is not writable ({exc.strerror or exc}); rendering without it "
            f"(set VOICEGUIDE_CACHE_DIR to a writable folder to keep clips between runs)",
            stacklevel=3,
        )

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        try:
            if not path.is_file():
                return None
        except OSError:
            return None
        if wav_is_complete(path):
            return path
        # Truncated or garbage entry: drop it so it is synthesised again (another render may already have).
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return None

    def put(self, key: str, source: Path) -> Path:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)  # atomic: readers see the whole clip or none
            return target
        except OSError as exc:
            # The cache went bad mid-run (disk full, folder removed or made read-only): keep going without it.
            self._fall_back(exc)
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
            return target

    def scratch_dir(self) -> tempfile.TemporaryDirectory:
        # Same filesystem as the cache, so put() is a rename, not a copy.
        try:
            return tempfile.TemporaryDirectory(dir=self.root, prefix=".tmp-")
        except OSError as exc:
            self._fall_back(exc)
            return tempfile.TemporaryDirectory(dir=self.root, prefix=".tmp-")
