"""The loop a neural engine's worker process runs (Piper, Kokoro): each model file loaded once, one clip at a time.

What differs between engines is a ModelSpeaker: how to load a model, how to speak a job with it, and what to
tell the user when a model will not load. The loop owns the protocol (voice.protocol): Fatal when the engine's
packages do not import, else Ready; then per job Done, Failed (the parent retries once) or Refused.
"""

from __future__ import annotations

import sys
import wave
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .clips import trim_silence
from .protocol import Channel, Done, Failed, Fatal, ModelJob, Ready, Refused

# One gain for the whole clip, with headroom for the resampler and filters downstream.
PEAK = 0.89


@dataclass(frozen=True)
class ModelSpeaker:
    job_type: type[ModelJob]
    # job -> the loaded model; called once per model file, and kept for every later job that names it.
    load: Callable[[Any], Any]
    # (model, job) -> (mono float audio, its sample rate); empty audio is a failed clip.
    speak: Callable[[Any, Any], tuple[np.ndarray, int]]
    # (job, why it failed to load) -> the message the user sees: a broken model is their file (or install), so
    # it is refused at once, never retried.
    unloadable: Callable[[Any, str], str]


def onnx_session(model: str, threads: int):
    """An onnxruntime session on the CPU using `threads` threads: several workers share the cores, so each keeps
    to its share instead of every one spinning on all of them."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def join_sentences(sentences: Iterable[np.ndarray], rate: int, pause_s: float, volume: float) -> np.ndarray:
    """Sentences synthesised one at a time -> one clip: each silence-trimmed, `pause_s` of silence between them,
    and one gain for them all (to PEAK x volume), so the sentences of a clip keep their relative level."""
    gap = np.zeros(int(round(pause_s * rate)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for sentence in sentences:
        sentence = trim_silence(np.asarray(sentence, dtype=np.float32), rate)
        if sentence.size:
            parts += [gap, sentence] if parts else [sentence]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    audio = np.concatenate(parts)
    peak = float(np.max(np.abs(audio)))
    if peak > 1e-6:
        audio = audio * (PEAK * volume / peak)
    return audio


def write_wav(path: str, audio: np.ndarray, rate: int) -> None:
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def serve(conn: Channel, setup: Callable[[], ModelSpeaker]) -> None:
    """`setup` imports the engine's packages and returns its speaker; anything it raises means "no engine"."""
    try:
        speaker = setup()
    except BaseException as exc:  # noqa: BLE001 - anything here means "no engine"; tell the parent
        conn.send(Fatal(f"{type(exc).__name__}: {exc}"))
        return
    conn.send(Ready())
    loaded: dict[str, Any] = {}
    for message in conn.jobs():
        if not isinstance(message, speaker.job_type):
            continue
        job, path = message.job, message.path
        model = loaded.get(message.model)
        if model is None:
            try:
                model = loaded[message.model] = speaker.load(message)
            except Exception as exc:  # noqa: BLE001 - a broken model or voice file: say which, do not retry
                detail = " ".join(str(exc).split())[:300]
                conn.send(Refused(job, speaker.unloadable(message, detail)))
                continue
        try:
            audio, rate = speaker.speak(model, message)
            if audio.size == 0:
                conn.send(Failed(job, "the voice produced no audio for this text"))
                continue
            write_wav(path, audio, rate)
        except Exception as exc:  # noqa: BLE001
            conn.send(Failed(job, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(Done(job, path))


def main(setup: Callable[[int], ModelSpeaker]) -> None:  # pragma: no cover - a worker process's entry point
    """Run as a worker: argv[1] is the onnxruntime threads this worker may use (its share of the cores)."""
    from .protocol import leave_stopping_to_the_parent, worker_channel

    leave_stopping_to_the_parent()
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    serve(worker_channel(), lambda: setup(threads))
