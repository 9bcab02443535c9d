"""Content-addressed clip cache: one WAV per (engine, engine version, voice, rate, volume, text)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import wave
from pathlib import Path

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    override = os.environ.get("VOICEGUIDE_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceguide")) / "clips"


def clip_key(engine: str, engine_version: str, voice: str | None, rate_wpm: int, volume: float, text: str, pitch: int | None = None) -> str:
    identity = {
        "format": CACHE_FORMAT,
        "engine": engine,
        "engine_version": engine_version,
        "voice": voice,
        "rate_wpm": rate_wpm,
        "volume": round(volume, 4),
        "text": text,
    }
    if pitch is not None:
        identity["pitch"] = pitch
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ClipCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)  # noqa: SIM115
            probe.close()
        except OSError as exc:
            fallback = Path(tempfile.mkdtemp(prefix="voiceguide-clips-"))
            warnings.warn(f"clip cache {self.root} is not writable ({exc.strerror or exc}); using {fallback} for this run")
            self.root = fallback

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getnframes() > 0:
                    return path
        except (OSError, EOFError, wave.Error):
            pass
        # Truncated or garbage entry: drop it so it is synthesised again.
        path.unlink(missing_ok=True)
        return None

    def put(self, key: str, source: Path) -> Path:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # atomic: readers see the whole clip or none
        return target

    def scratch_dir(self) -> tempfile.TemporaryDirectory:
        # Same filesystem as the cache, so put() is a rename, not a copy.
        return tempfile.TemporaryDirectory(dir=self.root, prefix=".tmp-")
