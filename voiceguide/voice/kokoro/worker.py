"""Runs inside a worker process: the Kokoro model loaded once, one clip at a time (protocol: voice.workers)."""

from __future__ import annotations

import sys

from ..protocol import Channel, Done, Failed, Fatal, Ready, Refused
from .job import KokoroJob


def serve(conn: Channel, threads: int) -> None:  # pragma: no cover - runs in a child process; exercised by the engine tests
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401

        from ..piper_worker import write_wav
        from .speech import Kokoro
    except BaseException as exc:  # noqa: BLE001 - anything here means "no engine"; tell the parent
        conn.send(Fatal(f"{type(exc).__name__}: {exc}"))
        return
    conn.send(Ready())
    loaded: dict[str, Kokoro] = {}
    for message in conn.jobs():
        if not isinstance(message, KokoroJob):
            continue
        job = message.job
        model = loaded.get(message.model)
        if model is None:
            try:
                model = loaded[message.model] = Kokoro(message.model, threads)
            except Exception as exc:  # noqa: BLE001 - a broken model or voice file: say which, do not retry
                detail = " ".join(str(exc).split())[:300]
                conn.send(Refused(job, f"the Kokoro model {message.model} could not be loaded ({detail}); reinstall it: pip install \"voiceguide[kokoro]\""))
                continue
        try:
            audio = model.speak(message.text, message.language, message.voice, message.speed, message.volume, message.sentence_silence_s)
            if audio.size == 0:
                conn.send(Failed(job, "the voice produced no audio for this text"))
                continue
            write_wav(message.path, audio, 24000)
        except Exception as exc:  # noqa: BLE001
            conn.send(Failed(job, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(Done(job, message.path))


if __name__ == "__main__":  # pragma: no cover
    from voiceguide.voice.protocol import leave_stopping_to_the_parent, worker_channel

    leave_stopping_to_the_parent()
    serve(worker_channel(), int(sys.argv[1]) if len(sys.argv) > 1 else 1)
