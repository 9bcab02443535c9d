"""The Kokoro worker's job message (parent -> worker; the replies are voice.protocol's)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KokoroJob:
    job: int
    text: str
    path: str  # where to write the WAV
    timeout_s: float
    model: str  # the assembled .onnx file
    language: str  # picks the front end: ko, ja, else English
    voice: str  # a voice pack name: jm_kumo, jf_alpha, ...
    speed: float  # the model's speed input (1.0 as trained)
    volume: float
    sentence_silence_s: float
