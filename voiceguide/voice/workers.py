"""A pool of long-lived worker processes that synthesise one clip at a time, with timeouts and one retry.

Engines (pyttsx3, piper) differ only in the worker program they start and the job message they send; the
pool owns starting, replacing hung or crashed workers, retrying a failed clip once, and the messages.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from .. import stale
from ..errors import EngineError
from .base import Engine, VoiceOptions
from .cache import wav_is_complete
from .protocol import Channel, Done, Failed, Fatal, Gone, Job, Ready, Refused, Reply, leave_stopping_to_the_parent  # noqa: F401 - re-exported


# A worker's private temporary folder: named with the pid of the process that made it, so a later run can tell
# one a killed (SIGKILL) render left behind from one in use (voiceguide.stale).
WORKER_TMP = re.compile(r"voiceguide-worker-(?P<pid>\d+)-[^/]+")
_swept = False


def _sweep_worker_folders() -> None:
    global _swept
    if not _swept:
        _swept = True
        stale.sweep(Path(tempfile.gettempdir()), WORKER_TMP)


class Worker:
    """A fresh interpreter running a worker module (like multiprocessing's spawn, but it never re-imports the
    caller's __main__, so library users need no `if __name__ == "__main__"` guard).

    A reader thread turns its replies into (worker, reply) items on a shared queue; EOF becomes Gone().
    """

    def __init__(self, command: list[str], replies: queue.Queue):
        # A temporary folder of its own, removed with it: onnxruntime's telemetry writes a '.ses' file into
        # $TMPDIR when it is imported (Piper, Kokoro), which would otherwise be left in the user's.
        _sweep_worker_folders()
        try:
            self._tmp: str | None = tempfile.mkdtemp(prefix=f"voiceguide-worker-{os.getpid()}-")
        except OSError:
            self._tmp = None
        env = dict(os.environ, TMPDIR=self._tmp) if self._tmp else None
        try:
            self.process = subprocess.Popen(
                list(command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            self._remove_tmp()
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
                self.replies.put((self, Gone()))
                return
            self.replies.put((self, message))

    def send(self, message) -> None:
        try:
            self.channel.send(message)
        except (OSError, ValueError):
            pass  # the reader thread reports the dead worker as Gone()

    def exit_code(self) -> int | None:
        try:
            return self.process.wait(1)
        except subprocess.TimeoutExpired:
            return None

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
        if self.process.poll() is not None:
            self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def stop(self) -> None:
        self.send(None)
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


class WorkerPoolEngine(Engine):
    """An engine whose synthesis runs in up to `max_workers` worker processes.

    Worker protocol: voice.protocol (typed messages, length-prefixed pickles over a Channel).
    """

    def __init__(self, workers: int | None = None):
        self.max_workers = workers or max(1, min(2, os.cpu_count() or 1))
        self._pool: list[Worker] = []
        self._replies: queue.Queue = queue.Queue()

    # ----- what an engine supplies

    def worker_command(self) -> list[str]:
        raise NotImplementedError

    def start_timeout_s(self) -> float:
        return 60.0

    def reply_grace_s(self) -> float:
        """The worker enforces each job's own timeout; the parent waits this much longer before it gives up on
        the worker (hung in native code, say) and kills it."""
        return 5.0

    def job_timeout_s(self, text: str) -> float:
        return 20.0 + len(text) / 20.0

    def install_hint(self) -> str:
        return "reinstall voiceguide with pip"

    def job_message(self, job: int, text: str, options: VoiceOptions, path: str, timeout_s: float) -> Job:
        raise NotImplementedError

    def refused(self, worker: Worker, options: VoiceOptions, detail: str) -> Exception:
        """The error for settings the worker refused (an unknown voice, a broken model file)."""
        return EngineError(f"the text-to-speech engine refused the voice settings: {detail}")

    # ----- the pool

    def _next_reply(self, timeout_s: float) -> tuple[Worker, Reply] | None:
        try:
            return self._replies.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _start(self, count: int) -> list[Worker]:
        """Start workers in parallel and wait until each is ready."""
        try:
            while len(self._pool) < count:
                self._pool.append(Worker(self.worker_command(), self._replies))
        except EngineError:
            self.close()
            raise
        start_timeout_s = self.start_timeout_s()
        deadline = time.monotonic() + start_timeout_s
        # While a replacement starts, the other workers keep answering: their replies are for synthesize().
        deferred = []
        while not all(w.ready for w in self._pool[:count]):
            item = self._next_reply(max(0.0, deadline - time.monotonic()))
            if item is None:
                self.close(kill=True)
                raise EngineError(f"the text-to-speech engine did not start within {start_timeout_s:g} s")
            worker, message = item
            if worker not in self._pool:
                continue  # the end of a worker that was replaced
            if worker.ready:
                deferred.append(item)
                continue
            if isinstance(message, Ready):
                worker.ready = True
                continue
            code = worker.exit_code()
            self.close(kill=True)
            if isinstance(message, Fatal):
                raise EngineError(f"no text-to-speech engine works here ({message.detail}); {self.install_hint()}")
            raise EngineError(f"the text-to-speech engine exited while starting (exit code {code}); {self.install_hint()}")
        for item in deferred:
            self._replies.put(item)
        return self._pool[:count]

    def _replace(self, worker: Worker) -> Worker:
        worker.kill()
        index = self._pool.index(worker)
        self._pool[index] = Worker(self.worker_command(), self._replies)
        self._start(len(self._pool))
        return self._pool[index]

    def synthesize(
        self,
        texts: list[str],
        options: VoiceOptions,
        out_dir: Path,
        on_clip: Callable[[str, Path], None],
    ) -> None:
        if not texts:
            return
        pending = list(enumerate(texts))
        pending.reverse()
        attempts: dict[int, int] = {}
        # Each worker costs a fresh interpreter; a handful of clips is quicker on one.
        workers = self._start(min(self.max_workers, max(1, len(texts) // 4)))

        def dispatch(worker: Worker) -> None:
            index, text = pending.pop()
            path = str(out_dir / f"clip-{os.getpid()}-{index}-{attempts.get(index, 0)}.wav")
            timeout_s = self.job_timeout_s(text)
            worker.job = (index, text, path)
            worker.timeout_s = timeout_s + self.reply_grace_s()
            worker.deadline = time.monotonic() + worker.timeout_s
            worker.send(self.job_message(index, text, options, path, timeout_s))

        def retry_or_fail(worker: Worker, reason: str) -> None:
            """A failed clip gets one more try (on a fresh worker if this one died); the second failure is reported."""
            index, text, _ = worker.job
            worker.job = None
            attempts[index] = attempts.get(index, 0) + 1
            if attempts[index] > 1:
                raise EngineError(f"the text-to-speech engine failed twice on {text[:60]!r}: {reason}")
            pending.append((index, text))

        def deliver(worker: Worker, path: Path) -> None:
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
                    if isinstance(reply, Done) and reply.job == worker.job[0]:
                        deliver(worker, Path(reply.path))
                    elif isinstance(reply, Refused):
                        raise self.refused(worker, options, reply.detail)
                    elif isinstance(reply, Failed):
                        retry_or_fail(worker, reply.detail)
                    elif isinstance(reply, Gone):
                        code = worker.exit_code()
                        retry_or_fail(worker, f"the engine process exited (code {code}); {self.install_hint()}")
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
