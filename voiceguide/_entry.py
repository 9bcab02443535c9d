"""The `voiceguide` command's first module: signal handling and standard streams before any heavy import.

Importing the CLI (click, numpy, soundfile, ...) takes a noticeable fraction of a second. Ctrl-C, SIGTERM or
SIGHUP in that time must end the command like any later interrupt: exit 130 with one line, no traceback. So
this module imports only the standard library, installs the handlers, and then imports the CLI.
"""

from __future__ import annotations

import os
import signal
import sys

INTERRUPTED = "interrupted: no output was written (an existing file is left as it was)"

_HANDLED = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
_ARMED: set = set()  # the signals this command handles (not those it was started with ignored)


def _interrupt(signum, frame):
    # One interrupt is enough: those arriving while cleanup runs (temporary files, workers) are ignored.
    ignore_signals()
    raise KeyboardInterrupt


def _interrupt_at_start(signum, frame):
    # While the CLI is being imported there is nothing to clean up, and an exception raised here could land in
    # a place that only reports it ('Exception ignored in ...', inside the import system): leave at once.
    try:
        os.write(2, f"\n{INTERRUPTED}\n".encode())
    except OSError:
        pass
    os._exit(130)


def _unraisable(args) -> None:
    """An interrupt that landed where Python can only report it (a weakref callback, __del__): deliver it again.

    It would otherwise be printed as 'Exception ignored ... KeyboardInterrupt' with a traceback, and lost.
    """
    if args.exc_type is not None and issubclass(args.exc_type, KeyboardInterrupt):
        for sig in _ARMED:
            signal.signal(sig, _interrupt)
        os.kill(os.getpid(), signal.SIGINT)
        return
    sys.__unraisablehook__(args)


def install_signal_handlers(handler=_interrupt) -> None:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (once); signals ignored at start stay ignored."""
    sys.unraisablehook = _unraisable
    for sig in _HANDLED:
        current = signal.getsignal(sig)
        if sig in _ARMED or current not in (signal.SIG_IGN, None):
            signal.signal(sig, handler)
            _ARMED.add(sig)


def ignore_signals() -> None:
    for sig in _HANDLED:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread, or an unusual platform
            pass


def _devnull_onto(fd: int) -> None:
    """Point file descriptor `fd` at /dev/null (a closed one, or a stream that can no longer be written)."""
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def ensure_std_streams() -> None:
    """A command started with stdin, stdout or stderr closed (`2>&-`) still works; what it prints is dropped.

    The descriptors 0-2 are reopened on /dev/null first, so no file this command (or a library, or a speech
    worker) opens can become 'stderr' and receive messages meant for the terminal.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            _devnull_onto(fd)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def drop_unwritable(stream_name: str) -> None:
    """After a write to stdout/stderr failed (a full device, a closed pipe): send the rest to /dev/null.

    Without this, the text still buffered is flushed again when Python exits, which fails again and prints
    'Exception ignored ...' (and changes the exit code to 120).
    """
    stream = getattr(sys, stream_name, None)
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        _devnull_onto(fd)
    except OSError:
        pass


def flush_std_streams() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            drop_unwritable(name)


def _say_interrupted() -> None:
    try:
        sys.stderr.write(f"\n{INTERRUPTED}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        drop_unwritable("stderr")


def _run() -> int | str | None:
    try:
        ensure_std_streams()
        from .cli import main as cli_main

        cli_main()
    except SystemExit as exc:
        return exc.code
    return 0


def main() -> None:
    try:
        install_signal_handlers(_interrupt_at_start)  # voiceguide.cli.main installs the lasting ones
        code = _run()
    except KeyboardInterrupt:  # before the CLI's own handling starts (importing it), or after it ends
        ignore_signals()
        _say_interrupted()
        code = 130
    # The command is over: an interrupt from here on changes nothing and must not print a traceback.
    ignore_signals()
    flush_std_streams()
    if code == 130:
        # Cleanup has run (temporary files removed, workers stopped). Exit at once: CPython (3.11) remembers a
        # KeyboardInterrupt that passed through eval() - namedtuple() uses it while click is imported - and
        # would otherwise end the process by SIGINT, even though the interrupt was handled.
        os._exit(130)
    sys.exit(code)
