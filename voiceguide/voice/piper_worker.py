"""Runs inside a worker process: Piper voices loaded once each, one clip at a time (protocol: voice.workers)."""

from __future__ import annotations

import sys
import wave

import numpy as np

from .clips import trim_silence
from .protocol import Channel, Done, Failed, Fatal, PiperJob, Ready, Refused

# One gain for the whole clip (Piper's own normalisation scales every sentence to full peak separately,
# so sentences of one clip would jump in level); headroom for the resampler and filters downstream.
PEAK = 0.89


def _load(model: str, config: str, threads: int):
    import json

    import onnxruntime
    from piper import PiperConfig, PiperVoice

    with open(config, encoding="utf-8") as handle:
        piper_config = PiperConfig.from_dict(json.load(handle))
    options = onnxruntime.SessionOptions()
    # Several workers share the cores: each keeps to its share instead of every one spinning on all of them.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=piper_config)


def speak(voice, text: str, length_scale: float, volume: float, sentence_silence_s: float) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    rate = voice.config.sample_rate
    settings = SynthesisConfig(length_scale=length_scale, normalize_audio=False)
    gap = np.zeros(int(round(sentence_silence_s * rate)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for chunk in voice.synthesize(text, settings):
        sentence = trim_silence(np.asarray(chunk.audio_float_array, dtype=np.float32), rate)
        if sentence.size:
            parts += [gap, sentence] if parts else [sentence]
    if not parts:
        return np.zeros(0, dtype=np.float32), rate
    audio = np.concatenate(parts)
    peak = float(np.max(np.abs(audio)))
    if peak > 1e-6:
        audio = audio * (PEAK * volume / peak)
    return audio, rate


def write_wav(path: str, audio: np.ndarray, rate: int) -> None:
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def serve(conn: Channel, threads: int) -> None:  # pragma: no cover - runs in a child process; exercised by the engine tests
    try:
        import onnxruntime  # noqa: F401
        import piper  # noqa: F401
    except BaseException as exc:  # noqa: BLE001 - anything here means "no engine"; tell the parent
        conn.send(Fatal(f"{type(exc).__name__}: {exc}"))
        return
    conn.send(Ready())
    loaded: dict[str, object] = {}
    for message in conn.jobs():
        if not isinstance(message, PiperJob):
            continue
        job, model, path = message.job, message.model, message.path
        voice = loaded.get(model)
        if voice is None:
            try:
                voice = loaded[model] = _load(model, message.config, threads)
            except Exception as exc:  # noqa: BLE001 - a broken model is the user's file: name it, do not retry
                detail = " ".join(str(exc).split())[:300]
                conn.send(Refused(job, f"Piper voice model {model} could not be loaded ({detail}); is it a Piper .onnx voice file?"))
                continue
        try:
            audio, rate = speak(voice, message.text, message.length_scale, message.volume, message.sentence_silence_s)
            if audio.size == 0:
                conn.send(Failed(job, "the voice produced no audio for this text"))
                continue
            write_wav(path, audio, rate)
        except Exception as exc:  # noqa: BLE001
            conn.send(Failed(job, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(Done(job, path))


if __name__ == "__main__":  # pragma: no cover
    from voiceguide.voice.protocol import leave_stopping_to_the_parent, worker_channel

    leave_stopping_to_the_parent()
    serve(worker_channel(), int(sys.argv[1]) if len(sys.argv) > 1 else 1)
