"""The pyttsx3 engine: a small pool of long-lived spawned workers, each with its own engine."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import EngineError
from . import espeak_setup
from .base import Engine, VoiceInfo, VoiceOptions
from .pyttsx3_worker import Channel

START_TIMEOUT_S = 60.0


def _timeout_s(text: str) -> float:
    return 20.0 + len(text) / 20.0


class _Worker:
    """A fresh interpreter running pyttsx3_worker (like multiprocessing's spawn, but it never re-imports the
    caller's __main__, so library users need no `if __name__ == "__main__"` guard).

    A reader thread turns its replies into (worker, message) items on a shared queue; EOF becomes "eof".
    """

    def __init__(self, replies: queue.Queue):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voiceguide.voice.pyttsx3_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.channel = Channel(self.process.stdout, self.process.stdin)
        self.replies = replies
        self.ready = False
        self.job: tuple | None = None
        self.deadline = 0.0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self.channel.recv()
            except (EOFError, OSError, ValueError):
                self.replies.put((self, ("eof",)))
                return
            self.replies.put((self, message))

    def send(self, message) -> None:
        try:
            self.channel.send(message)
        except (OSError, ValueError):
            pass  # the reader thread reports the dead worker as "eof"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def stop(self) -> None:
        self.send(None)
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


class Pyttsx3Engine(Engine):
    name = "pyttsx3"

    def __init__(self, workers: int | None = None):
        self.max_workers = workers or max(1, min(2, os.cpu_count() or 1))
        self._pool: list[_Worker] = []
        self._replies: queue.Queue = queue.Queue()

    def version(self) -> str:
        try:
            from importlib import metadata

            pyttsx3_version = metadata.version("pyttsx3")
        except Exception:  # noqa: BLE001
            pyttsx3_version = "?"
        return f"pyttsx3-{pyttsx3_version}/{espeak_setup.library_identity()}"

    def _next_reply(self, timeout_s: float) -> tuple[_Worker, tuple] | None:
        try:
            return self._replies.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _start(self, count: int) -> list[_Worker]:
        """Start workers in parallel and wait until each has its engine up."""
        while len(self._pool) < count:
            self._pool.append(_Worker(self._replies))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(w.ready for w in self._pool[:count]):
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                self.close()
                raise EngineError(f"the text-to-speech engine did not start within {START_TIMEOUT_S:.0f} s")
            worker, message = item
            if message[0] == "ready":
                worker.ready = True
                continue
            code = worker.process.poll()
            self.close()
            if message[0] == "fatal":
                raise EngineError(f"no text-to-speech engine works here ({message[1]}); {espeak_setup.install_hint()}")
            raise EngineError(
                f"the text-to-speech engine exited while starting (exit code {code}); {espeak_setup.install_hint()}"
            )
        return self._pool[:count]

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        index = self._pool.index(worker)
        self._pool[index] = _Worker(self._replies)
        self._start(len(self._pool))
        return self._pool[index]

    def voices(self) -> list[VoiceInfo]:
        worker = self._start(1)[0]
        worker.send(("voices",))
        deadline = time.monotonic() + 30
        while True:
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                raise EngineError("the text-to-speech engine did not list its voices within 30 s")
            if item[0] is worker and item[1][0] == "voices":
                return [VoiceInfo(id=i, name=n, languages=tuple(lang), gender=g, engine=self.name) for i, n, lang, g in item[1][1]]
            if item[0] is worker and item[1][0] == "eof":
                raise EngineError("the text-to-speech engine exited while listing voices")

    def synthesize(
        self,
        texts: list[str],
        options: VoiceOptions,
        out_dir: Path,
        on_clip: Callable[[str, Path], None],
    ) -> None:
        if not texts:
            return
        voice = options.voice or _default_voice(options.language)
        pending = list(enumerate(texts))
        pending.reverse()
        attempts: dict[int, int] = {}
        # Each worker costs a fresh interpreter; a handful of clips is quicker on one.
        workers = self._start(min(self.max_workers, max(1, len(texts) // 4)))

        def dispatch(worker: _Worker) -> None:
            index, text = pending.pop()
            path = str(out_dir / f"clip-{os.getpid()}-{index}-{attempts.get(index, 0)}.wav")
            timeout_s = _timeout_s(text)
            worker.job = (index, text, path)
            worker.deadline = time.monotonic() + timeout_s + 5
            worker.send(("synth", index, text, voice, options.rate_wpm, options.volume, options.pitch, path, timeout_s))

        def retry_or_fail(worker: _Worker, reason: str) -> None:
            index, text, _ = worker.job
            worker.job = None
            attempts[index] = attempts.get(index, 0) + 1
            if attempts[index] > 1:
                raise EngineError(f"the text-to-speech engine failed on {text[:60]!r}: {reason}")
            pending.append((index, text))

        try:
            for worker in workers:
                if pending:
                    dispatch(worker)
            while any(w.job for w in self._pool):
                item = self._next_reply(0.5)
                if item is not None:
                    worker, reply = item
                    if worker not in self._pool or worker.job is None:
                        continue  # a late reply from a worker that was replaced
                    if reply[0] == "ok" and reply[1] == worker.job[0]:
                        text = worker.job[1]
                        worker.job = None
                        on_clip(text, Path(reply[2]))
                    elif reply[0] == "error" and "refused voice" in reply[2]:
                        raise EngineError(f"unknown voice {voice!r}: run 'voiceguide voices' to list the installed voices")
                    elif reply[0] == "error":
                        retry_or_fail(worker, reply[2])
                    elif reply[0] == "eof":
                        code = worker.process.poll()
                        retry_or_fail(worker, f"the engine process exited (code {code}); {espeak_setup.install_hint()}")
                        worker = self._replace(worker)
                    if pending and worker.job is None:
                        dispatch(worker)
                now = time.monotonic()
                for worker in list(self._pool):
                    if worker.job is not None and now > worker.deadline:
                        retry_or_fail(worker, "timed out")
                        fresh = self._replace(worker)
                        if pending:
                            dispatch(fresh)
        except BaseException:
            # A worker may be mid-utterance; its state is unknown, so start afresh next time.
            self.close()
            raise

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool.clear()
        self._replies = queue.Queue()


def _default_voice(language: str) -> str:
    # espeak's plain "en" is British; most users of English routines expect the US voice by default.
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return {"en": "en-us"}.get(language, language)
    return None  # other platforms: the system default voice
