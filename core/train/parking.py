"""A paused job gives up its training slot when others wait (issue 28).

A job left paused held the only slot: the next visitor's job waited until the paused job's tab
had been gone two minutes. Now a job paused for DIGITLAB_PARK_SECONDS (60) while another job
waits is parked: it leaves the registry's slots and the next job starts. It stays where it
stopped, in its worker (a thread, or a process that keeps it in memory and uses no CPU while
paused), so that Resume goes on from the very step, with nothing written or read back; the run
folder keeps its last checkpoint, as every training's does. Resume on a parked job waits for a
free slot and takes it before the queue: it had started, and the queue's jobs have not.

Each parked job keeps a worker process of a few hundred MB, so at most MAX_PARKED are parked at
once; a job paused beyond that keeps its slot, as before. Executors whose jobs hold resources
elsewhere (Ray's actors hold a cluster CPU while paused) do not park.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.spec.config import env_amount

if TYPE_CHECKING:  # the job imports nothing of this module; only its type is named here
    from core.train.job import Job

PARK_ENV = "DIGITLAB_PARK_SECONDS"
DEFAULT_PARK_SECONDS = 60.0
MAX_PARKED = 2


def park_seconds() -> float:
    """Return how long a job may stay paused holding a slot others wait for
    ($DIGITLAB_PARK_SECONDS, default 60; 0: at once)."""
    return env_amount(PARK_ENV, DEFAULT_PARK_SECONDS, "seconds", "at once")


def paused_for(job: Job, now: float | None = None) -> float:
    """Return the seconds a job has been paused (0 if it is not)."""
    if job.state != "paused" or job.paused_at is None:
        return 0.0
    return (time.monotonic() if now is None else now) - job.paused_at


def to_park(running: list[Job], waiting: int, parked: int, after: float) -> list[Job]:
    """Return the running jobs to park now: paused for `after` seconds or more, longest first,
    one for each job waiting, and no more than MAX_PARKED parked in all."""
    if waiting == 0:
        return []
    now = time.monotonic()
    idle = [job for job in running if job.state == "paused" and paused_for(job, now) >= after]
    idle.sort(key=lambda job: job.paused_at)
    return idle[: max(0, min(waiting, MAX_PARKED - parked))]
