"""Voice presets in one place: the rate and pitch each asks of the engine, and the filters applied to its clips."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    rate_wpm: int | None = None  # None: the engine default (voice.base.DEFAULT_RATE_WPM)
    pitch: int | None = None  # engine scale 0-100 (espeak: 50 is normal); None leaves the engine's own
    # After the high-pass and the sibilance shelf (voice.clips.polish): a gentle low-pass, then a small room.
    lowpass_hz: float | None = None
    room_s: float | None = None  # the room's decay to -60 dB; None: dry
    room_wet: float = 0.0


PLAIN = Preset("plain")
# Slower, lower and in a small room.
SOFT = Preset("soft", rate_wpm=128, pitch=38, lowpass_hz=7500.0, room_s=0.45, room_wet=0.16)

PRESETS: dict[str, Preset] = {p.name: p for p in (PLAIN, SOFT)}


def preset(name: str | None) -> Preset:
    """The named preset; plain for none (the names are checked where a routine or option is read)."""
    return PRESETS.get(name or "plain", PLAIN)
