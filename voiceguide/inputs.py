"""Reading the small files a user names (a routine, a cover image, the config): regular files only, and never
more than a cap, whatever the file claims to be.

A size taken from stat() says nothing about /dev/zero, /dev/urandom or a pipe behind /dev/stdin (0 bytes
each), and opening a FIFO that nobody writes blocks forever; so the kind is checked on the opened file
(opened without blocking) and the cap is applied to what is actually read.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
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


def _shown(text: str, limit: int = 24) -> str:
    """`text` for a message: control characters escaped, a 5,000-digit number shown by its start and length."""
    if any(unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" for ch in text):
        text = "".join(
            (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
            if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" else ch
            for ch in text
        )
    return text if len(text) <= limit else f"{text[:12]}... ({len(text)} characters)"


# The longest file or folder name most file systems take (NAME_MAX), and the longest path (PATH_MAX, Linux).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095


def user_path(text: str | Path, base: Path | None = None) -> Path:
    """A path as the user wrote it: '~' and '~user' expanded, relative to `base` when given.

    ValueError (a message without the path itself) when it cannot name a file on this computer: an unknown
    '~user' or no home folder, a NUL character, a name longer than the file system allows.
    """
    raw = str(text)
    if "\0" in raw:
        raise ValueError("contains a NUL character")
    try:
        path = Path(raw).expanduser()
    except RuntimeError:
        user = re.split(r"[/\\]", raw, maxsplit=1)[0]
        if user == "~":
            raise ValueError("starts with ~ but the home folder cannot be determined here: write the full path") from None
        raise ValueError(f"starts with {_shown(user, 40)}, but there is no user '{_shown(user[1:], 40)}' on this computer: write the full path") from None
    if base is not None and not path.is_absolute():
        path = base / path
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            which = f" ('{_shown(part, 30)}')" if part != raw else ""
            raise ValueError(f"has a name longer than {MAX_NAME_BYTES} bytes{which}: shorten it")
    if len(str(path).encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise ValueError(f"is longer than {MAX_PATH_BYTES} bytes: use a shorter path")
    return path


def path_kind(path: Path) -> str | None:
    """'file', 'folder', 'other' or None (nothing there); OSError for what stat cannot answer (a loop, EACCES)."""
    import errno
    import stat as stat_module

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    if stat_module.S_ISREG(mode):
        return "file"
    return "folder" if stat_module.S_ISDIR(mode) else "other"
