"""How long long work has taken and about how long is left, from the rate of the work done so far.

Each stage (voice, mix, sessions) is timed on its own from the first report of it: the clips a stage finds in the
cache arrive at once in that first report, so they count neither towards the rate nor against it. Until a unit of
work has been done at the measured rate, nothing is promised ("estimating").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Stage:
    name: str
    started_s: float
    done_at_start: int


class Eta:
    """Feed it every progress report; it answers the seconds left of the current stage (None: not known yet)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.started_s = clock()
        self._stage: _Stage | None = None

    def elapsed_s(self) -> float:
        return self._clock() - self.started_s

    def update(self, stage: str, done: int, total: int) -> float | None:
        now = self._clock()
        if self._stage is None or self._stage.name != stage or done < self._stage.done_at_start:
            self._stage = _Stage(stage, now, done)
            return 0.0 if done >= total else None
        if done >= total:
            return 0.0
        worked, took_s = done - self._stage.done_at_start, now - self._stage.started_s
        if worked <= 0 or took_s <= 0:
            return None
        return (total - done) * took_s / worked


def clock_text(seconds: float, up: bool = False) -> str:
    """m:ss, or h:mm:ss from an hour on; time left is rounded up ("0:00 left" only when nothing is)."""
    whole = int(-(-seconds // 1)) if up else int(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def timing_text(eta: Eta, left_s: float | None) -> str:
    """ "0:12 elapsed, about 0:30 left" (or "estimating" before the rate is known)."""
    left = "estimating time left" if left_s is None else f"about {clock_text(left_s, up=True)} left"
    return f"{clock_text(eta.elapsed_s())} elapsed, {left}"
