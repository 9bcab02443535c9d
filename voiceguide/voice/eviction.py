"""How big the cache is, and keeping it under a size: least recently used entries go first.

Three kinds of things live in the cache: clips (the engine's WAV and its measurements, in the two-letter
folders), music loops (music/) and assembled models (voiceguide.models.models_dir()). All three count toward
the size. Eviction after a render removes clips and loops only: a model is needed whole by every render with
its engine and costs seconds and 100 MB and more of writing to assemble again, so models are removed only by
`voiceguide cache prune` (last, after every clip and loop) and `voiceguide cache clear`.

Nothing a live render has leased is removed (ClipCache.lease: the entries it looks up, synthesises and plays,
and its music loop), and eviction holds the cache's lock while it decides and deletes, so a render that
starts meanwhile waits for it and then finds what is left.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import stale
from .cache import LEASE_SUFFIX, ClipCache, touch

_LEASE = re.compile(r"\.tmp-(?P<pid>\d+)-[0-9a-f]+" + re.escape(LEASE_SUFFIX))
_CLIP_FOLDER = re.compile(r"[0-9a-f]{2}")
# MB as the config's cache_max_mb and `prune --max-size` mean it: decimal, like disk sizes.
MB = 1_000_000


@dataclass(frozen=True)
class Entry:
    """A group of files that live and go together (a clip's WAV and its measurements; a loop and its hops)."""

    kind: str  # "clips", "music" or "models"
    name: str  # the key the group's files start with: what a lease names
    files: tuple[tuple[Path, int], ...]  # each file and its size in bytes
    used_s: float  # the newest modification time of its files (entries are touched when used)

    @property
    def size_bytes(self) -> int:
        return sum(size for _, size in self.files)


@dataclass(frozen=True)
class Usage:
    root: Path
    models_dir: Path
    entries: tuple[Entry, ...]

    def of(self, kind: str) -> tuple[int, int]:
        """(count, bytes) of one kind."""
        chosen = [e for e in self.entries if e.kind == kind]
        return len(chosen), sum(e.size_bytes for e in chosen)

    @property
    def total_bytes(self) -> int:
        return sum(e.size_bytes for e in self.entries)


def _group_name(kind: str, file_name: str) -> str:
    if kind == "models":
        return file_name
    return re.split(r"[.-]", file_name, maxsplit=1)[0]


def _files(folder: Path):
    """The regular files of a folder, without our temporaries, locks and leases (dot names: stale.sweep's)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                yield Path(entry.path), entry.stat(follow_symlinks=False)
        except OSError:
            continue


def usage(root: Path, models_dir: Path | None = None) -> Usage:
    """Every entry of the cache at `root` and of the models folder, grouped and sized."""
    if models_dir is None:
        from ..models import models_dir as default_models_dir

        models_dir = default_models_dir()
    folders: list[tuple[str, Path]] = []
    try:
        folders = [("clips", Path(e.path)) for e in os.scandir(root) if _CLIP_FOLDER.fullmatch(e.name) and e.is_dir()]
    except OSError:
        pass
    folders += [("music", root / "music"), ("models", models_dir)]
    groups: dict[tuple[str, str], list] = {}
    for kind, folder in folders:
        for path, info in _files(folder):
            groups.setdefault((kind, _group_name(kind, path.name)), []).append((path, info))
    entries = tuple(
        Entry(kind, name, tuple((p, i.st_size) for p, i in found), max(i.st_mtime for _, i in found))
        for (kind, name), found in groups.items()
    )
    return Usage(root, models_dir, entries)


def leased(root: Path) -> set[str]:
    """The names that live renders (of any process) have leased."""
    names: set[str] = set()
    try:
        found = [e for e in os.scandir(root) if _LEASE.fullmatch(e.name)]
    except OSError:
        return names
    for entry in found:
        try:
            if stale.maker_is_gone(int(_LEASE.fullmatch(entry.name).group("pid")), entry.stat().st_mtime):
                continue
            names.update(line for line in Path(entry.path).read_text(encoding="utf-8").split() if line)
        except (OSError, ValueError, UnicodeDecodeError):
            continue
    return names


@dataclass(frozen=True)
class Evicted:
    entries: int
    bytes: int
    total_bytes: int  # what the cache holds afterwards
    kept_in_use: int  # entries that would have gone but a live render uses them


def evict(cache: ClipCache, max_bytes: int, models: bool = False, models_dir: Path | None = None) -> Evicted:
    """Remove least recently used clips and loops (then, with `models`, models) until the cache holds at most
    `max_bytes`, never an entry a live render has leased."""
    removed = removed_bytes = kept = 0
    with cache.exclusive_lock():
        found = usage(cache.root, models_dir)
        in_use = leased(cache.root) | cache.in_use
        total = found.total_bytes
        order = sorted((e for e in found.entries if e.kind != "models"), key=lambda e: e.used_s)
        if models:
            order += sorted((e for e in found.entries if e.kind == "models"), key=lambda e: e.used_s)
        for entry in order:
            if total <= max_bytes:
                break
            if entry.name in in_use:
                kept += 1
                continue
            for path, size in entry.files:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError:
                    continue  # not ours to remove (permissions): it still counts
                total -= size
                removed_bytes += size
            removed += 1
    return Evicted(removed, removed_bytes, total, kept)


def touch_music(root: Path, name: str) -> None:
    """Mark a music loop as just used (its files are read, never written, by a warm render)."""
    for path, _ in _files(root / "music"):
        if path.name.startswith(name):
            touch(path)


def enforce_cap(cache: ClipCache, max_mb: float) -> Evicted | None:
    """After a render: bring the cache under the user's cache_max_mb. Never fails the render (None if the
    cache could not be looked at)."""
    try:
        return evict(cache, int(max_mb * MB))
    except OSError:
        return None
