"""Writing outputs: the checks every output path gets before any work, and atomic writes (the target path
never holds a half-written file)."""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .. import stale
from ..errors import OutputError, UsageError

# OSErrors that mean "this output cannot be written here", whatever was being written: one clear message.
WRITE_FAILURES = {
    errno.ENOSPC: "no space left on the device; free some space and run again",
    errno.EDQUOT: "the disk quota is exceeded; free some space and run again",
    errno.EFBIG: "the file is too large for this file system",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "an input/output error (is the disk failing or removed?)",
}


def check_output_path(path: Path, force: bool, audio: bool = True) -> None:
    """Fail before any work is done if the output cannot or should not be written.

    Every output gets these checks (`audio=False`: a cue sheet, captions, a plan, a routine: any suffix).
    """
    if audio:
        from .formats import output_format  # the format table imports this module (through tags, captions)

        output_format(path)  # an unsupported suffix is refused here, before any work
    for part in path.parts:
        try:
            size = len(os.fsencode(part))
        except UnicodeEncodeError:
            raise UsageError(f"cannot write {path!r}: it holds characters no file name can have here") from None
        if size > NAME_MAX_BYTES:
            raise UsageError(f"cannot write {path}: a file or folder name in it is longer than {NAME_MAX_BYTES} bytes; shorten it")
    try:
        _check_output_place(path, force)
    except OSError as exc:
        # ENAMETOOLONG (the whole path), ELOOP (symbolic links in a circle), EACCES on a folder on the way, ...
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# The longest file or folder name most file systems take.
NAME_MAX_BYTES = 255


def file_in_the_way(folder: Path) -> Path | None:
    """The first of `folder` and its parents that exists but is not a folder (so nothing can be made there)."""
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def same_file_key(path: str | Path) -> str:
    """What two output paths share when they name one file: the folder resolved (symbolic links, '..'), the
    name not (an output replaces a link, not its target)."""
    path = Path(path)
    return os.path.normcase(os.path.join(os.path.realpath(path.parent if str(path.parent) else "."), path.name))


def _check_output_place(path: Path, force: bool) -> None:
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name such as {path / 'session.mp3'}")
    if path.exists() and not path.is_file():
        # A device (/dev/null), a FIFO or a socket is never replaced by a file, --force or not.
        raise UsageError(f"{path} exists and is not a regular file; give another output name")
    if os.path.lexists(path) and not force:  # a dangling symbolic link too
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    blocker = file_in_the_way(folder)
    if blocker is not None:
        raise UsageError(f"cannot write {path}: {blocker} is a file, not a folder")
    if not folder.is_dir():
        raise UsageError(f"the output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the output folder {folder} is not writable")
    # Permissions are not the whole story (a read-only mount, root on some file systems): try it.
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
    except OSError as exc:
        raise UsageError(f"the output folder {folder} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _remove(path: Path) -> None:
    """Delete a temporary file even if Ctrl-C arrives while doing so."""
    try:
        path.unlink(missing_ok=True)
    except KeyboardInterrupt:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        raise
    except OSError:
        pass  # nothing more can be done; the name starts with "." and ends with ".part"


def _publish(tmp_path: Path, path: Path, replace: bool) -> None:
    """Move the finished file into place; without `replace`, never over a file that appeared meanwhile."""
    if replace:
        if path.exists() and not path.is_file():  # became a device or FIFO since the check: never replace it
            raise UsageError(f"{path} exists and is not a regular file; nothing was written: give another output name")
        os.replace(tmp_path, path)  # a symbolic link is replaced itself; its target is left alone
        return
    try:
        # A hard link fails if `path` exists, atomically: of two renders racing for one new name, one wins.
        os.link(tmp_path, path)
    except FileExistsError:
        raise UsageError(
            f"{path} appeared while this was being made (another render?); nothing was written: "
            "use --force to overwrite it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # A file system without hard links (FAT, some network shares): check, then rename.
        if os.path.lexists(path):
            raise UsageError(f"{path} appeared while this was being made (another render?); use --force to overwrite it") from None
        os.replace(tmp_path, path)
    # (the temporary name is removed by atomic_output's cleanup)


@contextmanager
def atomic_output(path: Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds.

    With `replace=False` (no --force), a file that appeared at `path` while the block ran is kept and the
    new one dropped (UsageError), so two commands racing for one new output cannot both succeed.

    The temporary file (".NAME.PID-RANDOM.part") is removed whatever happens: an exception, Ctrl-C or SIGTERM
    (voiceguide's CLI turns SIGTERM into KeyboardInterrupt). So `path` holds either its previous content or
    the complete new file. Write failures such as a full disk become OutputError. Only SIGKILL (or a power
    cut) can leave a temporary behind; the next write of the same output removes it once its maker is gone.
    """
    folder = path.parent if str(path.parent) else Path(".")
    stale.sweep(folder, stale.temp_pattern(f".{path.name}.", ".part"))
    # The name is chosen before the file exists, so no moment has a file on disk that `finally` does not know.
    tmp_path = folder / f".{path.name}.{stale.temp_tag()}.part"
    try:
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise OutputError(f"cannot create a file in {folder}: {exc.strerror or exc}") from None
        os.close(fd)
        yield tmp_path
        # The temporary file was created 0600; the user's file gets the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        _publish(tmp_path, path, replace)
    except OSError as exc:
        reason = WRITE_FAILURES.get(exc.errno)
        if reason is None:
            raise
        kept = "the previous file is unchanged" if path.exists() else "nothing was written"
        raise OutputError(f"could not write {path}: {reason} ({kept})") from exc
    finally:
        _remove(tmp_path)


# Last: the format table imports the tag writers, and captions (which they use) imports atomic_output from here.
