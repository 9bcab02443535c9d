"""Output formats by suffix: encoder, tag writer, session writer and what each format can carry, in one table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..errors import UsageError
from .encoders import DEFAULT_BITRATE_KBPS, Encoder, Mp3Encoder, OpusEncoder, SoundfileEncoder, vorbis_compression_level
from .mp3_segments import write_mp3
from .segments import SessionWriter
from .tags import write_mp3_tags, write_mp4_tags, write_vorbis_tags

# A tag writer: (path, plan, meta, chapters mode or None) -> None (export.tags).
TagWriter = Callable[..., None]


def _m4a_encoder(*args, **kwargs) -> Encoder:
    # AAC through PyAV (bundled ffmpeg), imported on first use so the other formats never load it.
    from .m4a import M4aEncoder

    return M4aEncoder(*args, **kwargs)


def _write_m4a(*args, **kwargs):
    # AAC segments encoded by forked processes and joined (export.m4a_segments); PyAV is loaded on first use.
    from .m4a_segments import write_m4a

    return write_m4a(*args, **kwargs)


@dataclass(frozen=True)
class OutputFormat:
    suffix: str  # lower case, with the dot
    name: str  # as the help text names it
    encoder: Callable[..., Encoder]  # (path, sample_rate, channels, bitrate_kbps=...) -> Encoder
    tag_writer: TagWriter | None = None  # tags and cover art; None: the format gets none
    session_writer: SessionWriter | None = None  # None: the mixer's blocks go through `encoder`
    chapters: bool = False
    bitrate: str | None = None  # "constant", "variable" (about the rate asked for), or None (lossless)

    @property
    def tags(self) -> bool:
        return self.tag_writer is not None

    @property
    def cover(self) -> bool:
        return self.tag_writer is not None


# In the order the help text lists them. WAV has no chapter convention players share; the others get tags,
# cover art and chapters.
FORMATS: dict[str, OutputFormat] = {
    f.suffix: f
    for f in (
        OutputFormat(".mp3", "MP3", Mp3Encoder, write_mp3_tags, write_mp3, chapters=True, bitrate="constant"),
        OutputFormat(".m4a", "M4A", _m4a_encoder, write_mp4_tags, _write_m4a, chapters=True, bitrate="constant"),
        # libsndfile's Vorbis writer crashes when handed a whole track at once; the mixer's blocks are small.
        OutputFormat(
            ".ogg", "Ogg",
            lambda path, sample_rate, channels=2, bitrate_kbps=DEFAULT_BITRATE_KBPS, **_: SoundfileEncoder(
                path, sample_rate, channels, "OGG", "VORBIS", compression_level=vorbis_compression_level(bitrate_kbps)
            ),
            write_vorbis_tags, chapters=True, bitrate="variable",
        ),
        OutputFormat(".opus", "Opus", OpusEncoder, write_vorbis_tags, chapters=True, bitrate="variable"),
        OutputFormat(
            ".flac", "FLAC",
            lambda path, sample_rate, channels=2, **_: SoundfileEncoder(path, sample_rate, channels, "FLAC", "PCM_16"),
            write_vorbis_tags, chapters=True,
        ),
        OutputFormat(
            ".wav", "WAV", lambda path, sample_rate, channels=2, **_: SoundfileEncoder(path, sample_rate, channels, "WAV", "PCM_16"),
        ),
    )
}

# Suffix -> encoder factory (a view of the table).
ENCODERS: dict[str, Callable[..., Encoder]] = {suffix: f.encoder for suffix, f in FORMATS.items()}
TAGGED_FORMATS = tuple(suffix for suffix, f in FORMATS.items() if f.tags)


def output_format(path: str | Path, suffix: str | None = None) -> OutputFormat:
    """The format for an output path (or an explicit suffix); an unsupported one is a UsageError."""
    key = (suffix if suffix is not None else Path(path).suffix).lower()
    found = FORMATS.get(key)
    if found is None:
        raise UsageError(f"{path}: unsupported output format '{key or '(none)'}'; use one of: {', '.join(sorted(FORMATS))}")
    return found


def open_encoder(path: Path, sample_rate: int, channels: int = 2, bitrate_kbps: int = DEFAULT_BITRATE_KBPS, suffix: str | None = None) -> Encoder:
    return output_format(path, suffix).encoder(path, sample_rate, channels, bitrate_kbps=bitrate_kbps)


# ----- for help texts


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def suffixes(formats: Iterable[OutputFormat] | None = None) -> str:
    """'.mp3, .m4a, ...': every format's suffix (or those given), in table order."""
    return ", ".join(f.suffix for f in (FORMATS.values() if formats is None else formats))


def chapters_help() -> str:
    """'MP3, M4A, FLAC, Ogg, Opus; a .wav has none'"""
    with_ = [f.name for f in FORMATS.values() if f.chapters]
    without = [f.suffix for f in FORMATS.values() if not f.chapters]
    return f"{', '.join(with_)}" + (f"; a {' or '.join(without)} has none" if without else "")


def bitrate_help() -> str:
    """Which formats take the bitrate, and how: '.mp3 and .m4a (constant), .ogg and .opus (variable, about this rate)'."""
    constant = [f.suffix for f in FORMATS.values() if f.bitrate == "constant"]
    variable = [f.suffix for f in FORMATS.values() if f.bitrate == "variable"]
    return ", ".join([f"{_and(constant)} (constant)"] * bool(constant) + [f"{_and(variable)} (variable, about this rate)"] * bool(variable))


def lossless_help() -> str:
    """'FLAC and WAV': the formats that take no bitrate."""
    return _and([f.name for f in FORMATS.values() if f.bitrate is None])
