"""The neural engines' worker loop (voice.worker_loop), in process with a stand-in speaker: what each job gets back."""

from __future__ import annotations

import io

import numpy as np
import soundfile

from voiceguide.voice.protocol import Channel, Done, Failed, Fatal, KokoroJob, PiperJob, Ready, Refused
from voiceguide.voice.worker_loop import PEAK, ModelSpeaker, join_sentences, serve

RATE = 16000


def tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def run(jobs: list, setup) -> list:
    """Serve `jobs` (then the parent's stop) and return every reply the worker sent."""
    requests = io.BytesIO()
    for job in [*jobs, None]:
        Channel(io.BytesIO(), requests).send(job)
    requests.seek(0)
    replies = io.BytesIO()
    serve(Channel(requests, replies), setup)
    replies.seek(0)
    return list(Channel(replies, io.BytesIO()).jobs())


def piper_job(job: int, text: str, path, model: str = "good.onnx") -> PiperJob:
    return PiperJob(job, text, str(path), 20.0, model, model + ".json", 1.0, 1.0, 0.3)


def test_each_job_is_done_refused_or_failed_and_each_model_loads_once(tmp_path):
    loads = []

    def load(job):
        loads.append(job.model)
        if job.model == "broken.onnx":
            raise ValueError("not an\n onnx model")
        return 0.5

    def speak(gain, job):
        if job.text == "boom":
            raise RuntimeError("the model fell over")
        return (tone(1.5, gain) if job.text else np.zeros(0, dtype=np.float32)), RATE

    setup = lambda: ModelSpeaker(PiperJob, load, speak, lambda job, detail: f"{job.model} will not load ({detail})")  # noqa: E731
    jobs = [
        piper_job(1, "Hello.", tmp_path / "1.wav"),
        piper_job(2, "Again.", tmp_path / "2.wav"),
        piper_job(3, "Hello.", tmp_path / "3.wav", model="broken.onnx"),
        piper_job(4, "", tmp_path / "4.wav"),
        piper_job(5, "boom", tmp_path / "5.wav"),
        KokoroJob(6, "Not mine.", str(tmp_path / "6.wav"), 20.0, "good.onnx", "en", "jm_kumo", 1.0, 1.0, 0.3),
    ]
    replies = run(jobs, setup)
    assert replies == [
        Ready(),
        Done(1, str(tmp_path / "1.wav")),
        Done(2, str(tmp_path / "2.wav")),
        Refused(3, "broken.onnx will not load (not an onnx model)"),  # white space folded, never retried
        Failed(4, "the voice produced no audio for this text"),
        Failed(5, "RuntimeError: the model fell over"),
    ]  # another engine's job gets no answer
    assert loads == ["good.onnx", "broken.onnx"]
    audio, rate = soundfile.read(str(tmp_path / "1.wav"), dtype="float32")
    assert rate == RATE and len(audio) == int(1.5 * RATE)
    assert abs(float(np.max(np.abs(audio))) - 0.5) < 1e-3  # written as 16-bit PCM, level kept
    assert not (tmp_path / "4.wav").exists() and not (tmp_path / "5.wav").exists()


def test_a_worker_whose_engine_does_not_import_says_fatal_and_takes_no_jobs(tmp_path):
    def setup():
        raise ImportError("No module named 'onnxruntime'")

    assert run([piper_job(1, "Hello.", tmp_path / "1.wav")], setup) == [Fatal("ImportError: No module named 'onnxruntime'")]


def test_sentences_are_trimmed_joined_with_the_pause_and_given_one_gain():
    silence = np.zeros(RATE, dtype=np.float32)
    loud, quiet = tone(1.0, 0.8), tone(0.5, 0.2)
    clip = join_sentences([np.concatenate([silence, loud, silence]), silence, quiet], RATE, pause_s=0.25, volume=0.5)
    # Each sentence loses its silence (but for trim_silence's short margins); a silent one is left out, not paused for.
    assert 1.75 * RATE <= len(clip) <= 1.75 * RATE + 0.1 * RATE
    assert abs(float(np.max(np.abs(clip))) - PEAK * 0.5) < 1e-6
    # One gain for the whole clip: the quiet sentence stays a quarter of the loud one.
    first, last = clip[: RATE // 2], clip[-RATE // 4:]
    assert abs(float(np.max(np.abs(last))) / float(np.max(np.abs(first))) - 0.25) < 0.01
    assert join_sentences([silence], RATE, 0.25, 1.0).size == 0
