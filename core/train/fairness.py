"""Sharing one server fairly: how many entries a visitor may have waiting or training, and the
order in which the queue takes turns between visitors.

A classroom shares one laptop: thirty browsers, one training slot (issue 28). First come, first
served let one visitor's five queued runs (or a race of forty) hold everyone else's for the
hour. So each visitor (a browser session, the job's owner) may have at most
DIGITLAB_MAX_JOBS_PER_VISITOR (2) entries queued or training, a race counting as one entry; and the next
job to start is the one of the visitor whose turn it is: fewest jobs training now, then the
longest since their last start, then the oldest in the queue. Jobs without an owner (the
command line, the benches) queue behind no visitor and count against none.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from core.spec.config import env_amount
from core.train.job import Job

VISITOR_LIMIT_ENV = "DIGITLAB_MAX_JOBS_PER_VISITOR"
DEFAULT_ENTRIES_PER_VISITOR = 2


def entries_per_visitor() -> int:
    """Return how many entries one visitor may have queued or training ($DIGITLAB_MAX_JOBS_PER_
    VISITOR, default 2; 0: no limit)."""
    return int(env_amount(VISITOR_LIMIT_ENV, DEFAULT_ENTRIES_PER_VISITOR, "jobs", "no limit"))


def entries(jobs: list[Job]) -> int:
    """Return how many entries these jobs make: each race one, each other job one."""
    races = {job.request.race for job in jobs if job.request.race}
    return len(races) + sum(1 for job in jobs if not job.request.race)


def over_limit_message(owner_jobs: list[Job], job: Job | None, limit: int) -> str | None:
    """Return why a visitor with owner_jobs active may not queue job (None: a new entry outside
    any race), or None if they may: a run of a race they already have adds no entry."""
    if limit <= 0:
        return None
    race = job.request.race if job is not None else None
    if race and any(j.request.race == race for j in owner_jobs):
        return None
    now = entries(owner_jobs)
    if now < limit:
        return None
    trainings = "training" if limit == 1 else "trainings"
    return (
        f"you already have {now} of your {limit} {trainings} queued or running on this "
        "shared server (a race counts as one): start this one when one of them ends, or "
        "stop or cancel one"
    )


class TurnOrder:
    """Remembers when each visitor's job last started; orders a queue so that visitors take turns."""

    def __init__(self) -> None:
        self._clock = itertools.count(1)
        self._last_start: dict[str, int] = {}

    def started(self, job: Job) -> None:
        """Record that job has just started."""
        if job.owner is not None:
            self._last_start[job.owner] = next(self._clock)

    def order(self, queue: list[Job], running: Iterable[Job]) -> list[Job]:
        """Return the queue in the order its jobs would start if none ended first: each pick is
        the job whose owner trains the fewest now, then started longest ago, then queued first."""
        training: dict[str | None, int] = {}
        for job in running:
            training[job.owner] = training.get(job.owner, 0) + 1
        last = dict(self._last_start)
        waiting, ordered = list(enumerate(queue)), []

        def turn(item: tuple[int, Job]) -> tuple:
            position, job = item
            if job.owner is None:  # the CLI's and the benches' jobs: in arrival order
                return (0, 0, position)
            return (training.get(job.owner, 0), last.get(job.owner, 0), position)

        while waiting:
            chosen = min(waiting, key=turn)
            waiting.remove(chosen)
            job = chosen[1]
            ordered.append(job)
            training[job.owner] = training.get(job.owner, 0) + 1
            # a simulated start, after every real one recorded so far
            last[job.owner] = max(self._last_start.values(), default=0) + len(ordered)
        return ordered
