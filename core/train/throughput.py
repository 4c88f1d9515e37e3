"""A run's throughput as the pages show it: samples a second over the last few seconds.

One group of steps (a fifth of a second) is too short a window: a replay frame, a validation
or the other cores' work in it moved the "seconds left" on the Train page by half or double
(issue 22's bench saw +115% on a 16-second run). The first step is left out: it pays for
one-off allocation and the run's start-up probes, which the steps to come will not; until a
step after it is done there is no rate (0: the pages then show no time left rather than one
taken from the warm-up, which read up to 80 times the time really left).
"""

from __future__ import annotations

from collections import deque

RATE_WINDOW_SECONDS = 2.0


class Throughput:
    """Samples a second over the last RATE_WINDOW_SECONDS of training, pauses left out."""

    def __init__(self, now: float, step: int, paused: float) -> None:
        self.marks: deque[tuple[float, int, float]] = deque([(now, step, paused)])
        self.rate = 0.0
        self.started = False

    def first_step_done(self, now: float, step: int, paused: float) -> None:
        """Start the window after the run's first step (its warm-up is not the run's pace)."""
        if not self.started:
            self.started = True
            self.marks = deque([(now, step, paused)])

    def add(self, now: float, step: int, paused: float, batch_size: int) -> float:
        """Record that `step` was reached at `now`; return the samples a second in the window."""
        self.marks.append((now, step, paused))
        # keep the newest mark that is at least a window old, and all after it
        while len(self.marks) > 2 and self.marks[1][0] <= now - RATE_WINDOW_SECONDS:
            self.marks.popleft()
        then, first_step, paused_then = self.marks[0]
        seconds = now - then - (paused - paused_then)
        if step > first_step and seconds > 0:
            self.rate = (step - first_step) * batch_size / seconds
        return self.rate
