"""Temporary files a killed process left behind (SIGKILL, power loss): found and removed by later runs, but
only when their maker is provably gone.

Every temporary name voiceguide makes carries the pid of the process that made it (`temp_tag`). A temporary is
abandoned when that process no longer runs, or when the process now holding that pid started after the file
was last written (the pid was reused). A temporary of a render still running is never touched.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

# Filled lazily: seconds since the epoch at which the system booted (Linux), for process start times.
_boot_time_s: float | None = None


def temp_tag() -> str:
    """`PID-RANDOM`: the part of a temporary name that tells later runs who made it."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _process_start_s(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), where the system tells (Linux /proc); else None."""
    global _boot_time_s
    try:
        if _boot_time_s is None:
            with open("/proc/stat", encoding="ascii") as stat:
                _boot_time_s = next(float(line.split()[1]) for line in stat if line.startswith("btime "))
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return _boot_time_s + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def maker_is_gone(pid: int, mtime_s: float) -> bool:
    """Whether the process that made a temporary (pid `pid`, last written at `mtime_s`) has ended."""
    if pid == os.getpid():
        return False  # our own: in use, or removed by us
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        pass  # a process of another user holds the pid: compare start times below
    started = _process_start_s(pid)
    # Two seconds of slack for clock granularity; a process that started later cannot have written the file.
    return started is not None and started > mtime_s + 2.0


def sweep(folder: Path, pattern: re.Pattern[str]) -> int:
    """Remove the entries of `folder` whose names match `pattern` (with a group named `pid`) and whose maker is
    gone. Never raises: cleaning up is a courtesy, not part of the work. Returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not maker_is_gone(int(match.group("pid")), info.st_mtime):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except (OSError, ValueError):
            continue
    return removed


def temp_pattern(prefix: str = "", suffix: str = "") -> re.Pattern[str]:
    """Names `PREFIX<pid>-<hex>SUFFIX` as temp_tag makes them."""
    return re.compile(re.escape(prefix) + r"(?P<pid>\d+)-[0-9a-f]+" + re.escape(suffix))
