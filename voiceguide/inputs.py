"""Reading the small files a user names (a routine, a cover image, the config): regular files only, and never
more than a cap, whatever the file claims to be.

A size taken from stat() says nothing about /dev/zero, /dev/urandom or a pipe behind /dev/stdin (0 bytes
each), and opening a FIFO that nobody writes blocks forever; so the kind is checked on the opened file
(opened without blocking) and the cap is applied to what is actually read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotReadable(ValueError):
    """Why a named input cannot be used, worded to follow its name ("x.yaml is a pipe ...")."""


_KINDS = (
    (stat.S_ISDIR, "a folder, not a file"),
    (stat.S_ISFIFO, "a pipe (FIFO), not a regular file: save what it holds to a file and give that"),
    (stat.S_ISCHR, "a device, not a regular file"),
    (stat.S_ISBLK, "a device, not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
)


def non_regular_kind(mode: int) -> str | None:
    """How to describe a file of this mode that is not a regular file, or None for a regular file."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return None


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most `max_bytes` bytes.

    Raises NotReadable for anything else (a folder, FIFO, device, socket, or a larger file), and OSError
    (FileNotFoundError, PermissionError, ...) when the file cannot be opened or read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        kind = non_regular_kind(info.st_mode)
        if kind:
            raise NotReadable(f"is {kind}")
        too_big = NotReadable(f"is larger than {max_bytes:,} bytes, the most this file may be")
        if info.st_size > max_bytes:
            raise too_big
        chunks: list[bytes] = []
        total = 0
        while True:
            # One byte more than the cap tells a file that grew (or lied) from one that fits exactly.
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise too_big
        return b"".join(chunks)
    finally:
        os.close(fd)
