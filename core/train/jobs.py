"""The registry of training jobs: every job of the process, as many running at once as its
executor has room for (one locally), the rest queued; who owns which; and the jobs whose tab
has gone. The job itself: core.train.job; where it runs: core.train.executors.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from pathlib import Path

from core.events import (
    Done,
    Failed,
    Orphaned,
)
from core.runs.store import new_run_id, read_summary, resolve_runs_dir
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train.executors import ProcessExecutor, make_executor
from core.train.fairness import TurnOrder, entries_per_visitor, over_limit_message
from core.train.job import Job
from core.train.ownership import continue_refusal, owner_key, saved_at
from core.train.parking import park_seconds, to_park

log = logging.getLogger("digitlab.jobs")
# An open tab touches its jobs every 2 s (the sidebar) or 0.5 s (the Train page's live view); a
# hidden one too, but browsers slow a hidden tab's timers down to once a minute. A job unseen for two minutes has lost its tab.
ORPHAN_TIMEOUT = 120.0
# The controls pass to another tab of the owner's browser (it shows the job's secret) only when
# the tab holding them has not polled for this long: it was closed or refreshed. Two open tabs
# no longer take the controls from each other at every rerun (issue 28).
HANDOVER_SECONDS = 5.0
# ended jobs kept for the pages (each holds its curves, ~5 MB for 10 epochs of MNIST); older
# ones are shown from their run folder
KEEP_FINISHED = 20


class JobRegistry:
    """Holds jobs by run id; runs at most max_concurrent at once, the rest wait in a queue.

    max_concurrent defaults to the executor's capacity: one job on this machine, as many as
    a Ray cluster has CPUs for.

    A job started for a browser session (owner set) must be touched by that session now and
    then: a watchdog thread stops one unseen for orphan_timeout seconds, as its tab was closed.
    """

    def __init__(
        self,
        max_concurrent: int | None = None,
        orphan_timeout: float | None = None,
        keep_finished: int = KEEP_FINISHED,
        executor=None,  # a name for make_executor, or an executor object
        park_after: float | None = None,  # seconds paused before a job gives up its slot
    ) -> None:
        self._max_concurrent = max_concurrent
        self.park_after = park_seconds() if park_after is None else park_after
        self.orphan_timeout = _orphan_timeout() if orphan_timeout is None else orphan_timeout
        if not self.orphan_timeout > 0:
            raise ValueError(f"orphan_timeout must be above 0 seconds, got {self.orphan_timeout}")
        self.keep_finished = keep_finished
        self.executor_problem: str | None = None  # why the executor asked for could not be used
        try:
            self.executor = make_executor(executor)
        except ValueError as exc:  # e.g. DIGITLAB_EXECUTOR=ray where Ray is not installed
            if executor is not None:  # asked for in code: the caller says what to do
                raise
            self.executor_problem = f"{exc}. Training runs on this machine instead."
            log.warning("%s", self.executor_problem)
            self.executor = ProcessExecutor()
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []  # in arrival order; they start in turns (core.train.fairness)
        self._turns = TurnOrder()
        self._running: set[str] = set()
        self._parked: list[Job] = []  # paused jobs that gave up their slot, oldest first
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    @property
    def max_concurrent(self) -> int:
        """Return how many jobs may train at once."""
        if self._max_concurrent is not None:
            return self._max_concurrent
        return self.executor.capacity()

    def submit(
        self,
        spec: ModelSpec,
        config: TrainConfig,
        name: str = "custom",
        data_dir: str | None = None,
        runs_dir: str | None = None,
        owner: str | None = None,
        race: str | None = None,
        variant: str | None = None,
        **fine_tune,
    ) -> Job:
        """Check and queue a training job for owner (a session id); it starts when a slot is free.
        fine_tune: Job.create's start_from and skip_digits."""
        job = Job.create(
            spec, config, name, data_dir, runs_dir, race=race, variant=variant, **fine_tune
        )
        return self.enqueue(job, owner)

    def submit_all(self, runs: list[dict], owner: str | None = None) -> list[Job]:
        """Check every run (submit's arguments, a dict each) and queue them all, or none: a
        race whose third run is refused must not leave the first two training."""
        jobs = [Job.create(**run) for run in runs]  # each check first; ValueError stops all
        return [self.enqueue(job, owner) for job in jobs]

    def continue_run(
        self,
        run_dir: str | os.PathLike,
        owner: str | None = None,
        data_dir: str | None = None,
        runs_dir: str | os.PathLike | None = None,
        secret: str | None = None,
    ) -> Job:
        """Queue a job that continues a run saved mid-training in runs_dir (default: the runs
        folder); refused if a job already continues it, or, for a browser (owner), if the run
        is another visitor's who may still come back for it (core.train.ownership)."""
        job = Job.continuing(run_dir, str(resolve_runs_dir(runs_dir)))
        if owner is not None:
            summary = read_summary(Path(run_dir))
            if refusal := continue_refusal(summary, secret, saved_at(run_dir)):
                raise ValueError(refusal)
        job.request.data_dir = data_dir
        return self.enqueue(job, owner)

    def enqueue(self, job: Job, owner: str | None = None) -> Job:
        """Queue a job made by Job.create or Job.continuing; return it. A continuing job is
        refused (ValueError) while another job trains the same run: both would write its folder."""
        job.owner, job.on_end = owner, self._ended
        with self._lock:
            if job.request.resume:
                # checked and claimed under one lock: two tabs' Continue clicks cannot both pass
                existing = self._jobs.get(job.run_id)
                if existing is not None and existing.active:
                    raise ValueError(f"{job.name} is already training")
                self._jobs.pop(job.run_id, None)  # the ended job before it: newest last
            # two tabs starting the same preset in the same second can draw the same id
            while not job.request.resume and job.run_id in self._jobs:
                job.request.run_id = new_run_id(job.name)
            if owner is not None:  # a visitor's browser: at most a few entries at once
                if problem := over_limit_message(
                    self._active_of(owner), job, entries_per_visitor()
                ):
                    raise ValueError(problem)
                job.request.owner_key = owner_key(job.secret)  # their browser may continue it
            self._forget_ended()
            self._jobs[job.run_id] = job
            self._queue.append(job)
            self._watch_owned_jobs()
        if not self.park_idle():  # which starts the next job itself
            self._start_waiting()
        return job

    def warm(self, data_dir: str | None = None) -> None:
        """Prepare a worker ahead of the first job (the Train page calls this)."""
        self.executor.warm(data_dir)

    def close(self) -> None:
        """Stop every job and end the workers."""
        for job in self.active():
            job.stop()
        self.executor.close()

    def claim(self, job: Job, owner: str, secret: str | None = None) -> bool:
        """Make session owner the job's owner if it has none, or if it shows the job's secret
        (the owner's browser after a refresh) while the owner's tab is gone (unseen for
        HANDOVER_SECONDS): one tab holds the controls at a time, whichever drew last. Return
        whether owner now controls the job; the owner must touch it from then on."""
        with self._lock:
            gone = job.unseen_for() > HANDOVER_SECONDS
            if job.owner is None or (self.holds_secret(job, secret) and gone):
                job.owner = owner
                job.touch()
                self._watch_owned_jobs()
            return job.owner == owner

    def _limit(self) -> int:
        try:
            return self.max_concurrent  # outside the lock: a cluster may take a while to ask
        except ValueError:  # the cluster cannot be reached: starting the job will say so
            return 1

    def _start_waiting(self) -> None:
        while True:
            limit = self._limit()
            with self._lock:
                if len(self._running) >= limit:
                    return
                # a parked job whose owner pressed Resume had started: it goes before the queue
                wanting = next((j for j in self._parked if j.resume_wanted), None)
                if wanting is not None:
                    self._parked.remove(wanting)
                    self._running.add(wanting.run_id)
                elif not self._queue:
                    return
            if wanting is not None:
                wanting.resume()
                continue
            with self._lock:
                if not self._queue or len(self._running) >= limit:
                    continue
                job = self._turns.order(self._queue, self._running_jobs())[0]
                self._queue.remove(job)
                self._turns.started(job)
                self._running.add(job.run_id)
                job.state = "running"
            try:
                control = self.executor.start(job)
            except Exception as exc:  # a worker that cannot start must not take the server down
                log.exception("could not start a training worker")
                job.publish(Failed(message=f"the training process could not start ({exc})"))
                continue
            with job._lock:
                # a pause, stop or change clicked while the worker was being handed the job
                if job.state == "stopping" or job.control.stopped:
                    control.stop()
                elif job.state == "paused":
                    control.pause()
                if job.control is not control:
                    while (request := job.control.next_request()) is not None:
                        control.send(request)
                job.control = control

    def _ended(self, job: Job) -> None:
        with self._lock:
            self._running.discard(job.run_id)
            if job in self._parked:
                self._parked.remove(job)
        self._start_waiting()
        if trim := getattr(self.executor, "trim", None):
            trim()  # a worker freed by a parked job's successor is not kept idle beside another

    def park_idle(self) -> list[Job]:
        """Park the jobs paused for park_after seconds while others wait (core.train.parking):
        each gives up its slot to the next job in line; return them."""
        if not getattr(self.executor, "parks", False):
            return []
        with self._lock:
            running, waiting = self._running_jobs(), len(self._queue)
            parked = to_park(running, waiting, len(self._parked), self.park_after)
            for job in parked:
                self._running.discard(job.run_id)
                self._parked.append(job)
                job.parked = True
        if parked:
            log.info("parked %s: paused while others waited", ", ".join(j.run_id for j in parked))
            self._start_waiting()
        return parked

    def resume(self, job: Job) -> None:
        """Resume a paused job: at once if it holds a slot or one is free; a parked one otherwise
        as soon as a slot is free, before the queue (job.resume_wanted until then)."""
        limit = self._limit()
        with self._lock:
            if job in self._parked:
                if len(self._running) >= limit:
                    job.resume_wanted = True
                    return
                self._parked.remove(job)
                self._running.add(job.run_id)
        job.resume()

    def _forget_ended(self) -> None:
        # called with the lock held; a forgotten run still shows from its run folder
        ended = [run_id for run_id, job in self._jobs.items() if not job.active]
        for run_id in ended[: max(len(ended) - self.keep_finished, 0)]:
            del self._jobs[run_id]

    def _has_owned_active(self) -> bool:
        return any(job.owner is not None and job.active for job in self._jobs.values())

    def _watch_owned_jobs(self) -> None:
        # called with the lock held; the watchdog thread ends once no owned job is active
        if self._watchdog is None and self._has_owned_active():
            self._watchdog = threading.Thread(target=self._watch, name="job-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(self.orphan_timeout / 4, max(self.park_after / 2, 0.1), 5.0))
            self.stop_orphans()
            self.park_idle()
            with self._lock:
                if not self._has_owned_active():
                    self._watchdog = None
                    return

    def stop_orphans(self) -> list[Job]:
        """Stop the owned jobs, running or queued, unseen for orphan_timeout seconds; return them."""
        orphans = [
            job
            for job in self.active()
            if job.owner is not None
            and job.state != "stopping"
            and job.unseen_for() > self.orphan_timeout
        ]
        for job in orphans:
            job.publish(Orphaned(unseen_seconds=job.unseen_for()))
            if not self.cancel_queued(job):
                job.stop()
        return orphans

    def get(self, run_id: str) -> Job | None:
        """Return the job with this run id, if this process has it."""
        with self._lock:
            return self._jobs.get(run_id)

    def jobs(self) -> list[Job]:
        """Return all jobs, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def active(self) -> list[Job]:
        """Return the jobs that are queued or running, oldest first."""
        return [j for j in reversed(self.jobs()) if j.active]

    def active_run_ids(self) -> set[str]:
        """Return the run ids of the active jobs: their folders hold checkpoints, not results."""
        return {job.run_id for job in self.active()}

    def running_count(self) -> int:
        """Return how many jobs hold a training slot now (never more than max_concurrent)."""
        with self._lock:
            return len(self._running)

    def has_room(self) -> bool:
        """Return whether a job submitted now would start at once rather than queue."""
        try:
            limit = self.max_concurrent
        except ValueError:  # the cluster cannot be reached
            limit = 1
        with self._lock:
            return len(self._running) + len(self._queue) < limit

    def queued_count(self) -> int:
        """Return how many jobs wait for a training slot."""
        with self._lock:
            return len(self._queue)

    def queue_position(self, job: Job) -> int | None:
        """Return 1 for the next job to start, 2 for the one after, or None if not queued."""
        with self._lock:
            order = self._turns.order(self._queue, self._running_jobs())
        for position, queued in enumerate(order, start=1):
            if queued is job:
                return position
        return None

    def _running_jobs(self) -> list[Job]:
        # called with the lock held
        return [self._jobs[run_id] for run_id in self._running if run_id in self._jobs]

    def holds_secret(self, job: Job, secret: str | None) -> bool:
        """Return whether secret is the job's (this browser started it, in another tab)."""
        return secret is not None and hmac.compare_digest(str(secret), job.secret)

    def entry_problem(self, owner: str | None) -> str | None:
        """Return why owner may not queue another entry now (their limit), or None."""
        if owner is None:
            return None
        with self._lock:
            mine = self._active_of(owner)
        return over_limit_message(mine, None, entries_per_visitor())

    def _active_of(self, owner: str) -> list[Job]:
        # called with the lock held
        return [j for j in self._jobs.values() if j.owner == owner and j.active]

    def cancel_queued(self, job: Job) -> bool:
        """Remove a job from the queue before it starts; return False if it was not queued."""
        with self._lock:
            if job not in self._queue:
                return False
            self._queue.remove(job)
            job.control.stop()
        job.publish(Done(status="stopped"))
        return True


def _orphan_timeout() -> float:
    text = os.environ.get("DIGITLAB_ORPHAN_TIMEOUT")
    if not text:
        return ORPHAN_TIMEOUT
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"DIGITLAB_ORPHAN_TIMEOUT must be seconds, got {text!r}") from None


_registry: JobRegistry | None = None
_registry_lock = threading.Lock()


def registry() -> JobRegistry:
    """Return the process-wide job registry (one per server, shared by every browser tab)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = JobRegistry()
        return _registry
