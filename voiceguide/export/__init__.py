"""Encoders by output extension, written atomically: the target path never holds a half-written file."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import UsageError
from .encoders import ENCODERS, Encoder, encode_blocks, open_encoder

__all__ = ["ENCODERS", "Encoder", "atomic_output", "check_output_path", "encode_blocks", "open_encoder"]


def check_output_path(path: Path, force: bool) -> None:
    """Fail before any work is done if the output cannot or should not be written."""
    suffix = path.suffix.lower()
    if suffix not in ENCODERS:
        raise UsageError(f"{path}: unsupported output format '{suffix or '(none)'}'; use one of: {', '.join(sorted(ENCODERS))}")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name such as {path / 'session.mp3'}")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"the output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the output folder {folder} is not writable")


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; the user's file should get the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
