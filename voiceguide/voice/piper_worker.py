"""Runs inside a worker process: Piper voices loaded once each, one clip at a time (protocol: voice.workers)."""

from __future__ import annotations

import numpy as np

from .protocol import PiperJob
from .worker_loop import ModelSpeaker, join_sentences, main, onnx_session


def _load(model: str, config: str, threads: int):
    import json

    from piper import PiperConfig, PiperVoice

    with open(config, encoding="utf-8") as handle:
        piper_config = PiperConfig.from_dict(json.load(handle))
    return PiperVoice(session=onnx_session(model, threads), config=piper_config)


def speak(voice, text: str, length_scale: float, volume: float, sentence_silence_s: float) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    rate = voice.config.sample_rate
    # Piper's own normalisation would scale every sentence to full peak separately, so the sentences of one clip
    # would jump in level: join_sentences gives the clip one gain instead.
    settings = SynthesisConfig(length_scale=length_scale, normalize_audio=False)
    sentences = (chunk.audio_float_array for chunk in voice.synthesize(text, settings))
    return join_sentences(sentences, rate, sentence_silence_s, volume), rate


def setup(threads: int) -> ModelSpeaker:
    import onnxruntime  # noqa: F401 - both must import, or this worker has no engine
    import piper  # noqa: F401

    return ModelSpeaker(
        job_type=PiperJob,
        load=lambda job: _load(job.model, job.config, threads),
        speak=lambda voice, job: speak(voice, job.text, job.length_scale, job.volume, job.sentence_silence_s),
        unloadable=lambda job, detail: f"Piper voice model {job.model} could not be loaded ({detail}); is it a Piper .onnx voice file?",
    )


if __name__ == "__main__":  # pragma: no cover
    main(setup)
