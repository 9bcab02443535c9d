"""`voiceguide cache`: where the cache is and how big (clips, music loops, models); `prune` and `clear`."""

from __future__ import annotations

import re

import click

from .config import Config, load_config
from .errors import UsageError
from .settings import given, resolve
from .voice.cache import ClipCache, default_cache_dir
from .voice.eviction import MB, evict, usage

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": MB, "mb": MB, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[a-zA-Z]*)\s*")
SIZE_HINT = "give a number with a unit, such as 500MB, 2GB or 0 (MB = 1,000,000 bytes; MiB and GiB also work)"


def parse_size(text: str) -> int:
    """'500MB' -> 500000000 bytes; a plain number is bytes. UsageError (exit 2) for anything else."""
    match = _SIZE.fullmatch(text or "")
    if not match:
        raise UsageError(f"--max-size {text!r} is not a size: {SIZE_HINT}")
    unit = match["unit"].lower()
    if unit not in _UNITS:
        raise UsageError(f"--max-size {text!r}: unknown unit {match['unit']!r}: {SIZE_HINT}")
    return int(float(match["number"]) * _UNITS[unit])


def human(size_bytes: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", MB), ("kB", 10**3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def _cap_mb(config: Config) -> int:
    return resolve("cache_max_mb", config=given(config.cache_max_mb))


def describe(root, config: Config) -> str:
    found = usage(root)
    rows = [
        ("clips", *found.of("clips"), "clip", str(root)),
        ("music loops", *found.of("music"), "track", str(root / "music")),
        ("models", *found.of("models"), "file", str(found.models_dir)),
    ]
    lines = [f"voiceguide cache: {root}"]
    for label, count, size, word, where in rows:
        counted = f"{count} {word}{'' if count == 1 else 's'}"
        lines.append(f"  {label:<12}{counted:>12}  {human(size):>10}  {where}")
    cap = _cap_mb(config)
    lines.append(f"  {'total':<12}{'':>12}  {human(found.total_bytes):>10}  of at most {cap} MB (cache_max_mb in 'voiceguide config')")
    return "\n".join(lines)


def register(cli: click.Group, friendly, show) -> None:
    """Add the `cache` group to the CLI (`friendly` turns library errors into messages, `show` prints)."""

    @cli.group("cache", invoke_without_command=True)
    @click.pass_context
    @friendly
    def cache_cmd(ctx):
        """Show where the cache is and how big it is (clips, music loops, models).

        The cache keeps every synthesised clip, so a render only synthesises what changed. It is kept under
        cache_max_mb (see 'voiceguide config'; default 1024) after each render by removing the least recently
        used clips and music loops; models are removed only by 'prune' and 'clear'. VOICEGUIDE_CACHE_DIR
        moves it.
        """
        if ctx.invoked_subcommand is None:
            show(describe(default_cache_dir(), load_config()))

    @cache_cmd.command("prune")
    @click.option("--max-size", "max_size", required=True, metavar="SIZE",
                  help="Remove least recently used entries until the cache holds at most this much (500MB, 2GB); "
                       "clips and music loops go first, models last.")
    @friendly
    def prune_cmd(max_size):
        """Shrink the cache to at most --max-size, least recently used first."""
        limit = parse_size(max_size)
        root = default_cache_dir()
        if not root.is_dir():
            show(f"the cache at {root} is empty: nothing to remove")
            return
        result = evict(ClipCache(root), limit, models=True)
        note = f" ({result.kept_in_use} kept: a render running now uses them)" if result.kept_in_use else ""
        show(f"removed {result.entries} entries ({human(result.bytes)}); the cache now holds {human(result.total_bytes)}{note}")

    @cache_cmd.command("clear")
    @friendly
    def clear_cmd():
        """Remove everything in the cache (clips, music loops, models) that no running render is using."""
        root = default_cache_dir()
        if not root.is_dir():
            show(f"the cache at {root} is already empty")
            return
        result = evict(ClipCache(root), 0, models=True)
        note = f" ({result.kept_in_use} kept: a render running now uses them)" if result.kept_in_use else ""
        show(f"removed {result.entries} entries ({human(result.bytes)}) from {root}{note}")
