"""User defaults: a small YAML file in the user config directory.

Precedence, lowest first: built-in defaults < this config < the routine's own keys < command-line options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, RoutineError, UsageError
from .library import builtin_tracks
from .routine import MusicSettings, Routine, _shown, _Validator, compose_yaml, path_kind, user_path
from .settings import SETTINGS, config_settings, config_template, given, resolve

# A config is a dozen short lines; anything much larger is not one.
MAX_CONFIG_BYTES = 100_000

CONFIG_TEMPLATE = config_template()


@dataclass(frozen=True)
class Config:
    engine: str | None = None
    voice: str | None = None
    rate_wpm: int | None = None
    volume: float | None = None
    preset: str | None = None
    pace: float | None = None
    music: str | None = None
    music_volume_db: float | None = None
    chimes: str | None = None
    bitrate_kbps: int | None = None
    loudness_lufs: float | None = None
    output_dir: Path | None = None
    routines_dir: Path | None = None
    cache_max_mb: int | None = None
    path: Path | None = None


def config_path() -> Path:
    override = os.environ.get("VOICEGUIDE_CONFIG")
    if override:
        try:
            return user_path(override)
        except ValueError as exc:
            raise UsageError(f"VOICEGUIDE_CONFIG={_shown(override, 60)} {exc}") from None
    import platformdirs

    return Path(platformdirs.user_config_dir("voiceguide")) / "config.yaml"


# The keys a config may hold, each checked against its type and range in the settings table.
CONFIG_KEYS = tuple(s.key for s in config_settings())


def load_config(path: Path | None = None) -> Config:
    """Read the config file (absent means all defaults). Problems are RoutineErrors pointing at the line.

    The file is composed and checked by the routine's machinery (routine.compose_yaml and its validator): control
    characters, tags, aliases that expand without bound, deep nesting and values in YAML 1.1's other number
    forms are refused as in a routine, each at its line and column.
    """
    path = path or config_path()
    source = str(path)
    try:
        kind = path_kind(path)
        if kind is None:
            return Config(path=path)
        if kind != "file":
            what = "a folder" if kind == "folder" else "not a regular file"
            raise RoutineError(source, [Problem(None, None, f"is {what}: the config must be a YAML file (or unset VOICEGUIDE_CONFIG)")])
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise RoutineError(source, [Problem(None, None, f"is {size} bytes; a config file may be at most {MAX_CONFIG_BYTES} bytes")])
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise RoutineError(source, [Problem(None, None, f"cannot be read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise RoutineError(source, [Problem(None, None, f"is more than {MAX_CONFIG_BYTES} bytes; a config file may be at most that")])
    root, tag_problems = compose_yaml(raw, source, what="the config")
    if root is None:
        if tag_problems:
            raise RoutineError(source, tag_problems)
        return Config(path=path)
    if not isinstance(root, yaml.MappingNode):
        raise RoutineError(
            source,
            [*tag_problems, Problem(root.start_mark.line + 1, root.start_mark.column + 1, "the config must be a mapping of keys to values, one per line (rate_wpm: 140)")],
        )
    check = _Validator(source, path.parent)
    check.problems.extend(tag_problems)
    keys = check.mapping(root, "the config", CONFIG_KEYS) or {}
    values: dict[str, Any] = {}
    for key, (_, node) in keys.items():
        if check.scalar(node) in (None, False):
            if key in ("music", "chimes"):
                values[key] = "none"
            continue
        value = check.setting(node, SETTINGS[key], key)
        if value is None:
            continue
        if key in ("music", "output_dir", "routines_dir") and not (key == "music" and (value in builtin_tracks() or value.lower() == "none")):
            try:
                expanded = user_path(value)
            except ValueError as exc:
                check.fail(node, f"{key} '{_shown(value, 60)}' {exc}")
                continue
            if key in ("output_dir", "routines_dir"):
                value = expanded
        values[key] = value
    if check.problems:
        raise RoutineError(source, check.problems)
    return Config(path=path, **values)


def apply_config(routine: Routine, config: Config) -> Routine:
    """Fill in what the routine left unset from the user's defaults (the routine's own keys win)."""
    changes: dict[str, Any] = {}
    in_routine = routine.given
    voice = routine.voice
    # Left unset (None) when neither sets it: the built-in default depends on what is chosen later (the preset's rate).
    voice = replace(voice, **{
        field: resolve(key, routine=given(getattr(voice, field)), config=given(getattr(config, key)), default=None)
        for field, key in (("name", "voice"), ("rate_wpm", "rate_wpm"), ("volume", "volume"), ("preset", "preset"), ("engine", "engine"))
    })
    if voice != routine.voice:
        changes["voice"] = voice
    if "pace" not in in_routine and config.pace is not None:
        changes["pace"] = config.pace
    if "chimes" not in in_routine and config.chimes is not None:
        changes["chimes"] = config.chimes
    if "music" not in in_routine and (config.music is not None or config.music_volume_db is not None):
        changes["music"] = _config_music(routine.music, config)
    return routine.with_overrides(**changes) if changes else routine


def _config_music(current: MusicSettings | None, config: Config) -> MusicSettings | None:
    name = config.music
    if name is not None and name.lower() == "none":
        return None
    music = current
    if name is not None:
        tracks = builtin_tracks()
        try:
            path = tracks[name].path if name in tracks else user_path(name)
            found = path_kind(path) == "file"
        except (ValueError, OSError):
            found = False
        if not found:
            raise RoutineError(
                str(config.path), [Problem(None, None, f"music '{name}' is neither a built-in track ({', '.join(sorted(tracks))}) nor a file")]
            )
        music = MusicSettings(track=name, path=path) if music is None else replace(music, track=name, path=path)
    if music is not None and config.music_volume_db is not None:
        music = replace(music, volume_db=config.music_volume_db)
    return music


def builtin_defaults(preset: str | None = None) -> dict[str, Any]:
    """What each config key is when neither the config nor the routine sets it (for `config --show`)."""
    from .pipeline import SOFT_RATE_WPM

    defaults = {s.key: s.shown() for s in config_settings()}
    if preset == "soft":
        defaults["rate_wpm"] = SOFT_RATE_WPM
    return defaults


def describe(config: Config) -> str:
    """The settings in effect, key by key, each marked as from the config or built in."""
    created = config.path is not None and config.path.is_file()
    lines = [f"# {config.path}" + ("" if created else " (not created yet: built-in defaults)")]
    lines.append("# In effect unless a routine sets its own (its keys, then command-line options, win):")
    defaults = builtin_defaults(config.preset)
    rows = []
    for f in fields(config):
        if f.name == "path":
            continue
        value = getattr(config, f.name)
        shown = value if value is not None else defaults[f.name]
        if isinstance(shown, float) and shown.is_integer():
            shown = int(shown)
        origin = "your config" if value is not None else "built-in default"
        if f.name == "rate_wpm" and value is None and config.preset == "soft":
            origin += " for the soft preset"
        rows.append((f"{f.name}: {shown}", origin))
    width = max(len(text) for text, _ in rows)
    lines += [f"{text:<{width}}  # {origin}" for text, origin in rows]
    return "\n".join(lines)
