"""The pyttsx3 engine: a small pool of long-lived spawned workers, each with its own engine."""

from __future__ import annotations

import difflib
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import EngineError, UnknownVoiceError
from . import espeak_setup
from .base import Engine, VoiceInfo, VoiceOptions
from .cache import wav_is_complete
from .pyttsx3_worker import Channel

# How a worker is started: a fresh interpreter running pyttsx3_worker. A seam for tests, which put a worker
# that hangs, crashes or writes broken clips here.
WORKER_COMMAND = [sys.executable, "-m", "voiceguide.voice.pyttsx3_worker"]
START_TIMEOUT_S = 60.0
VOICES_TIMEOUT_S = 30.0
# The worker enforces each utterance's own timeout; the parent gives it this much longer before it gives up
# on the worker (hung in native code, say) and kills it.
REPLY_GRACE_S = 5.0


def _timeout_s(text: str) -> float:
    return 20.0 + len(text) / 20.0


class _Worker:
    """A fresh interpreter running pyttsx3_worker (like multiprocessing's spawn, but it never re-imports the
    caller's __main__, so library users need no `if __name__ == "__main__"` guard).

    A reader thread turns its replies into (worker, message) items on a shared queue; EOF becomes "eof".
    """

    def __init__(self, replies: queue.Queue):
        try:
            self.process = subprocess.Popen(
                list(WORKER_COMMAND),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise EngineError(f"the text-to-speech worker could not be started: {exc.strerror or exc}") from None
        self.channel = Channel(self.process.stdout, self.process.stdin)
        self.replies = replies
        self.ready = False
        self.job: tuple | None = None
        self.deadline = 0.0
        self.timeout_s = 0.0
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
        try:
            while len(self._pool) < count:
                self._pool.append(_Worker(self._replies))
        except EngineError:
            self.close()
            raise
        deadline = time.monotonic() + START_TIMEOUT_S
        # While a replacement starts, the other workers keep answering: their replies are for synthesize().
        deferred = []
        while not all(w.ready for w in self._pool[:count]):
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                self.close(kill=True)
                raise EngineError(f"the text-to-speech engine did not start within {START_TIMEOUT_S:g} s")
            worker, message = item
            if worker not in self._pool:
                continue  # the end of a worker that was replaced
            if worker.ready:
                deferred.append(item)
                continue
            if message[0] == "ready":
                worker.ready = True
                continue
            try:
                code = worker.process.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            self.close(kill=True)
            if message[0] == "fatal":
                raise EngineError(f"no text-to-speech engine works here ({message[1]}); {espeak_setup.install_hint()}")
            raise EngineError(
                f"the text-to-speech engine exited while starting (exit code {code}); {espeak_setup.install_hint()}"
            )
        for item in deferred:
            self._replies.put(item)
        return self._pool[:count]

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        index = self._pool.index(worker)
        self._pool[index] = _Worker(self._replies)
        self._start(len(self._pool))
        return self._pool[index]

    def voices(self) -> list[VoiceInfo]:
        return self._voices_of(self._start(1)[0])

    def _voices_of(self, worker: _Worker) -> list[VoiceInfo]:
        worker.send(("voices",))
        deadline = time.monotonic() + VOICES_TIMEOUT_S
        while True:
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                raise EngineError(f"the text-to-speech engine did not list its voices within {VOICES_TIMEOUT_S:.0f} s")
            if item[0] is worker and item[1][0] == "voices":
                return [VoiceInfo(id=i, name=n, languages=tuple(lang), gender=g, engine=self.name) for i, n, lang, g in item[1][1]]
            if item[0] is worker and item[1][0] == "eof":
                raise EngineError("the text-to-speech engine exited while listing voices")

    def _unknown_voice(self, worker: _Worker, voice: str | None, detail: str) -> EngineError:
        """The error for a voice the engine refused: close matches from the installed voices when it is unknown."""
        try:
            voices = self._voices_of(worker)
        except EngineError:
            voices = []
        names = {v.id for v in voices} | {v.name for v in voices} | {lang for v in voices for lang in v.languages}
        wanted = (voice or "").lower()
        if voices and any(wanted == n.lower() for n in names):
            return EngineError(f"the text-to-speech engine refused the voice settings: {detail}")
        by_lower = {n.lower(): n for n in names}
        close = [by_lower[m] for m in difflib.get_close_matches(wanted, list(by_lower), n=3, cutoff=0.6)]
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return UnknownVoiceError(
            f"unknown voice {voice!r}{hint}: run 'voiceguide voices' to list the installed voices, "
            "then use --voice or the routine's 'voice:'"
        )

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
            worker.timeout_s = timeout_s + REPLY_GRACE_S
            worker.deadline = time.monotonic() + worker.timeout_s
            worker.send(("synth", index, text, voice, options.rate_wpm, options.volume, options.pitch, path, timeout_s))

        def retry_or_fail(worker: _Worker, reason: str) -> None:
            """A failed clip gets one more try (on a fresh worker if this one died); the second failure is reported."""
            index, text, _ = worker.job
            worker.job = None
            attempts[index] = attempts.get(index, 0) + 1
            if attempts[index] > 1:
                raise EngineError(f"the text-to-speech engine failed twice on {text[:60]!r}: {reason}")
            pending.append((index, text))

        def deliver(worker: _Worker, path: Path) -> None:
            """Hand a finished clip on, or retry it if it is empty or broken."""
            if not wav_is_complete(path):
                retry_or_fail(worker, "the clip it wrote is empty or not a WAV file")
                return
            text = worker.job[1]
            try:
                on_clip(text, path)
            except EngineError as exc:  # unreadable or silent once decoded
                retry_or_fail(worker, str(exc))
                return
            worker.job = None

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
                        deliver(worker, Path(reply[2]))
                    elif reply[0] == "error" and "refused voice" in reply[2]:
                        raise self._unknown_voice(worker, voice, reply[2])
                    elif reply[0] == "error":
                        retry_or_fail(worker, reply[2])
                    elif reply[0] == "eof":
                        try:
                            code = worker.process.wait(1)
                        except subprocess.TimeoutExpired:
                            code = None
                        retry_or_fail(worker, f"the engine process exited (code {code}); {espeak_setup.install_hint()}")
                        worker = self._replace(worker)
                    if pending and worker.job is None:
                        dispatch(worker)
                now = time.monotonic()
                for worker in list(self._pool):
                    if worker.job is not None and now > worker.deadline:
                        retry_or_fail(worker, f"no answer within {worker.timeout_s:.1f} s (timed out; the worker was stopped)")
                        fresh = self._replace(worker)
                        if pending:
                            dispatch(fresh)
        except BaseException:
            # A worker may be mid-utterance; its state is unknown, so start afresh next time. Kill rather than
            # ask: after Ctrl-C or an error nobody waits for the utterance to finish.
            self.close(kill=True)
            raise

    def close(self, kill: bool = False) -> None:
        for worker in self._pool:
            if kill:
                worker.kill()
            else:
                worker.stop()
        self._pool.clear()
        self._replies = queue.Queue()


def _default_voice(language: str) -> str:
    # espeak's plain "en" is British; most users of English routines expect the US voice by default.
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return {"en": "en-us"}.get(language, language)
    return None  # other platforms: the system default voice
