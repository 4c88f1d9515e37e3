"""When a periodic piece of work is due: at most every so many seconds, and never more than a
share of the time, whatever the number of steps or epochs.

A full-batch run ends an epoch at every step (seed-3v7: 2,000 epochs in about 10 s), so work
done "at each epoch's end" must be paced by the clock, not by the epoch, or its cost grows with
the run's length instead of with its seconds (issue 22: a checkpoint at every step made a
10-second run take 5 minutes).
"""

from __future__ import annotations

import time

# The most of the training time each kind of periodic work may take, in one table: together
# the 10% that `python -m core bench --overhead` allows a run beyond its bare steps.
# (Validation's share paces full-batch runs only; longer epochs are scored at each end.)
# A full-batch run's validation score at most this often: 10 points a second on its chart,
# however cheap a score is (a small validation set scores in microseconds, and its share
# alone would let it run, with its event, at every step)
VALIDATION_EVERY_SECONDS = 0.1

MAX_SHARE = {
    "validation": 0.03,
    "model snapshot": 0.01,
    "weights": 0.01,
    "features": 0.02,
    "replay": 0.02,
    # a checkpoint rewrites the run's metrics whole, so it grows with the run: a 1,000,000-step
    # run's waits longer than the 30 s between checkpoints (a share of 0 for every epoch's)
    "checkpoint": 0.01,
}


class Cadence:
    """Says whether periodic work is due: `seconds` apart at least, and, when `share` is given,
    spaced so that the work takes at most that share of the time (a slow probe waits longer)."""

    def __init__(self, seconds: float, share: float | None = None, clock=time.perf_counter):
        self.seconds, self.share, self.clock = seconds, share, clock
        self.next_time = float("-inf")  # due at once: the first time always runs

    def due(self) -> bool:
        """Return whether the work should run now."""
        return self.clock() >= self.next_time

    def ran(self, started: float) -> None:
        """Record that the work ran from `started` (a clock reading) until now."""
        finished = self.clock()
        wait = self.seconds
        if self.share:
            wait = max(wait, (finished - started) / self.share)
        self.next_time = finished + wait

    def run(self, work, *args) -> None:
        """Run work(*args) and record its cost (whether due or not: the caller decides)."""
        started = self.clock()
        try:
            work(*args)
        finally:
            self.ran(started)
