"""The pyttsx3 engine: a small pool of long-lived spawned workers, each with its own engine."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable

from ..errors import EngineError
from . import espeak_setup, pyttsx3_worker
from .base import Engine, VoiceInfo, VoiceOptions

START_TIMEOUT_S = 60.0


def _timeout_s(text: str) -> float:
    return 20.0 + len(text) / 20.0


class _Worker:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        # Forking after an engine exists hangs the child; spawn starts clean.
        self.process = ctx.Process(target=pyttsx3_worker.serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.job: tuple | None = None
        self.deadline = 0.0

    def wait_ready(self) -> None:
        if not self.conn.poll(START_TIMEOUT_S):
            self.kill()
            raise EngineError(f"the text-to-speech engine did not start within {START_TIMEOUT_S:.0f} s")
        try:
            kind, detail = self.conn.recv()
        except EOFError:
            self.kill()
            raise EngineError(
                f"the text-to-speech engine exited while starting (exit code {self.process.exitcode}); "
                + espeak_setup.install_hint()
            ) from None
        if kind != "ready":
            self.kill()
            raise EngineError(f"no text-to-speech engine works here ({detail}); {espeak_setup.install_hint()}")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(2)
        self.kill()


class Pyttsx3Engine(Engine):
    name = "pyttsx3"

    def __init__(self, workers: int | None = None):
        self.max_workers = workers or max(1, min(2, os.cpu_count() or 1))
        self._pool: list[_Worker] = []

    def version(self) -> str:
        try:
            from importlib import metadata

            pyttsx3_version = metadata.version("pyttsx3")
        except Exception:  # noqa: BLE001
            pyttsx3_version = "?"
        return f"pyttsx3-{pyttsx3_version}/{espeak_setup.library_identity()}"

    def _start(self, count: int) -> list[_Worker]:
        while len(self._pool) < count:
            self._pool.append(_Worker())
        for worker in self._pool:
            if worker.job is None and not getattr(worker, "_ready", False):
                worker.wait_ready()
                worker._ready = True
        return self._pool[:count]

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = _Worker()
        fresh.wait_ready()
        fresh._ready = True
        self._pool[self._pool.index(worker)] = fresh
        return fresh

    def voices(self) -> list[VoiceInfo]:
        worker = self._start(1)[0]
        worker.conn.send(("voices",))
        if not worker.conn.poll(30):
            raise EngineError("the text-to-speech engine did not list its voices within 30 s")
        _, voices = worker.conn.recv()
        return [VoiceInfo(id=i, name=n, languages=tuple(lang), gender=g, engine=self.name) for i, n, lang, g in voices]

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
        workers = self._start(min(self.max_workers, max(1, len(texts) // 4)))
        busy: dict = {}

        def dispatch(worker: _Worker) -> None:
            index, text = pending.pop()
            path = str(out_dir / f"clip-{os.getpid()}-{index}.wav")
            timeout_s = _timeout_s(text)
            worker.job = (index, text, path)
            worker.deadline = time.monotonic() + timeout_s + 5
            worker.conn.send(("synth", index, text, voice, options.rate_wpm, options.volume, path, timeout_s))
            busy[worker.conn] = worker

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
            while busy:
                ready = wait(list(busy), timeout=0.5)
                for conn in ready:
                    worker = busy.pop(conn)
                    try:
                        reply = conn.recv()
                    except EOFError:
                        code = worker.process.exitcode
                        retry_or_fail(worker, f"the engine process exited (code {code}); {espeak_setup.install_hint()}")
                        worker = self._replace(worker)
                    else:
                        if reply[0] == "ok":
                            _, _, path = reply
                            text = worker.job[1]
                            worker.job = None
                            on_clip(text, Path(path))
                        elif "refused voice" in reply[2]:
                            raise EngineError(
                                f"unknown voice {voice!r}: run 'voiceguide voices' to list the installed voices"
                            )
                        else:
                            retry_or_fail(worker, reply[2])
                    if pending:
                        dispatch(worker)
                now = time.monotonic()
                for conn, worker in list(busy.items()):
                    if now > worker.deadline:
                        busy.pop(conn)
                        retry_or_fail(worker, "timed out")
                        fresh = self._replace(worker)
                        if pending:
                            dispatch(fresh)
        except BaseException:
            # A worker may be mid-utterance; its pipe state is unknown, so start afresh next time.
            self.close()
            raise

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool.clear()


def _default_voice(language: str) -> str:
    # espeak's plain "en" is British; most users of English routines expect the US voice by default.
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        return {"en": "en-us"}.get(language, language)
    return None  # other platforms: the system default voice
