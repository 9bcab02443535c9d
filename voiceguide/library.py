"""Where the built-in routines, music tracks and docs live, and how names map to files."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

ROUTINES_DIR = Path(__file__).resolve().parent / "routines"
# The repository's top level, when running from a checkout that has not been installed.
_CHECKOUT = Path(__file__).resolve().parent.parent


def shipped_folder(package: str, checkout_folder: str) -> Path:
    """The folder of data that ships as `package` (see pyproject.toml): the one lookup for every install.

    A wheel, an sdist install and an editable install all import the data package; a bare checkout
    (python -m voiceguide run beside the sources, nothing installed) has only the top-level folder.
    """
    try:
        # __path__ rather than importlib.resources: it is a real folder for a regular or a namespace package.
        for entry in importlib.import_module(package).__path__:
            if Path(entry).is_dir():
                return Path(entry)
    except ModuleNotFoundError:
        pass
    return _CHECKOUT / checkout_folder


def _music_dir() -> Path:
    return shipped_folder("voiceguide.builtin_music", "music")


def routine_format_text() -> str:
    """The routine format reference (docs/routine-format.md), as Markdown."""
    return (shipped_folder("voiceguide.builtin_docs", "docs") / "routine-format.md").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Track:
    name: str
    path: Path
    mood: str
    duration_s: float
    # Made as a circular signal (scripts/make_music.py): it loops as it is, with no crossfade fold.
    circular: bool = False


def builtin_tracks() -> dict[str, Track]:
    folder = _music_dir()
    index = folder / "tracks.json"
    if not index.is_file():
        return {}
    tracks = {}
    for entry in json.loads(index.read_text(encoding="utf-8")):
        path = folder / entry["file"]
        if path.is_file():
            tracks[entry["name"]] = Track(
                entry["name"], path, entry.get("mood", ""), float(entry.get("duration_s", 0)), bool(entry.get("circular", False))
            )
    return tracks


def is_circular(path: Path) -> bool:
    """Whether a music file is a built-in track marked circular (it loops without a fold)."""
    return any(t.circular and t.path == path for t in builtin_tracks().values())


def builtin_routines() -> dict[str, Path]:
    return {p.stem: p for p in sorted(ROUTINES_DIR.glob("*.yaml"))}


def default_track_name() -> str | None:
    tracks = builtin_tracks()
    if "warm-pad" in tracks:
        return "warm-pad"
    return next(iter(tracks), None)
