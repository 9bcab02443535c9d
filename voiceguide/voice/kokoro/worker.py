"""Runs inside a worker process: the Kokoro model loaded once, one clip at a time (protocol: voice.workers)."""

from __future__ import annotations

from ..protocol import KokoroJob
from ..worker_loop import ModelSpeaker, main


def setup(threads: int) -> ModelSpeaker:
    import onnxruntime  # noqa: F401 - without it this worker has no engine

    from .model import INSTALL_HINT, SAMPLE_RATE
    from .speech import Kokoro

    return ModelSpeaker(
        job_type=KokoroJob,
        load=lambda job: Kokoro(job.model, threads),
        speak=lambda model, job: (
            model.speak(job.text, job.language, job.voice, job.speed, job.volume, job.sentence_silence_s), SAMPLE_RATE,
        ),
        # A broken model or voice file: say which, and how to put it right.
        unloadable=lambda job, detail: f"the Kokoro model {job.model} could not be loaded ({detail}); reinstall it: {INSTALL_HINT}",
    )


if __name__ == "__main__":  # pragma: no cover
    main(setup)
