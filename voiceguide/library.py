"""Where the built-in routines and music tracks live, and how names map to files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

ROUTINES_DIR = Path(__file__).resolve().parent / "routines"


def _music_dir() -> Path:
    # A source checkout (or editable install) keeps the tracks in the top-level music/ folder;
    # a regular install ships the same folder as the package voiceguide.music.
    checkout = Path(__file__).resolve().parent.parent / "music"
    if (checkout / "tracks.json").is_file():
        return checkout
    try:
        return Path(str(resources.files("voiceguide.music")))
    except (ModuleNotFoundError, TypeError):
        return checkout


@dataclass(frozen=True)
class Track:
    name: str
    path: Path
    mood: str
    duration_s: float


def builtin_tracks() -> dict[str, Track]:
    folder = _music_dir()
    index = folder / "tracks.json"
    if not index.is_file():
        return {}
    tracks = {}
    for entry in json.loads(index.read_text(encoding="utf-8")):
        path = folder / entry["file"]
        if path.is_file():
            tracks[entry["name"]] = Track(entry["name"], path, entry.get("mood", ""), float(entry.get("duration_s", 0)))
    return tracks


def builtin_routines() -> dict[str, Path]:
    return {p.stem: p for p in sorted(ROUTINES_DIR.glob("*.yaml"))}


def default_track_name() -> str | None:
    tracks = builtin_tracks()
    if "warm-pad" in tracks:
        return "warm-pad"
    return next(iter(tracks), None)
