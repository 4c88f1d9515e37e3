"""The server side of training: jobs, their events, a queue, and the executors that run them.

A job is its settings in (a JobRequest) and its events out. An executor runs it: "local"
(the default) in a long-lived worker process per concurrent slot, "thread" in a thread of this
process (the CLI, and tests that patch the trainer), "ray" as a task on a Ray cluster
(core.train.rayexec). The registry holds every job of the process, runs as many at once as
its executor has room for (one locally) and queues the rest.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.events import (
    SNAPSHOTS,
    Done,
    EpochEnded,
    Event,
    Failed,
    ModelSnapshot,
    Orphaned,
    SettingsChanged,
    Started,
    Step,
)
from core.runs.schema import check_run_name
from core.runs.store import load_run, new_run_id, resolve_runs_dir
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train import timebudget
from core.train.callbacks import checkpoint_seconds
from core.train.checks import check_trainable
from core.train.run import JobRequest, run_job
from core.train.steering import ChangeSettings, OneBatch, check_settings
from core.train.trainer import TrainControl
from core.train.worker import Worker

log = logging.getLogger("digitlab.jobs")
ACTIVE_STATES = ("queued", "running", "paused", "stopping")
FINAL_STATES = ("finished", "stopped", "failed")
EXECUTOR_ENV = "DIGITLAB_EXECUTOR"
EXECUTORS = ("local", "thread", "ray")
# An open tab touches its jobs every second; a hidden one too, but browsers slow a hidden tab's
# timers down to once a minute. A job unseen for two minutes has lost its tab.
ORPHAN_TIMEOUT = 120.0
# ended jobs kept for the pages (each holds its curves, ~5 MB for 10 epochs of MNIST); older
# ones are shown from their run folder
KEEP_FINISHED = 20


@dataclass
class Job:
    """One training run, wherever it trains: its request in, its events out, its state here."""

    request: JobRequest
    state: str = "queued"
    error: str | None = None
    run_dir: Path | None = None
    created: float = field(default_factory=time.time)
    owner: str | None = None  # the browser session that started it; None (the CLI) never expires
    # what lets a browser control the job: kept in its owner's session and URL, and not
    # derivable from the run id, which other people see and copy
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    last_seen: float = field(default_factory=time.monotonic)  # when its owner last touched it
    control: TrainControl = field(default_factory=TrainControl)
    listener: Callable[[Event], None] | None = (
        None  # also told every event (the CLI's progress bar)
    )
    on_end: Callable[[Job], None] | None = None  # the registry, to start the next job
    _events: list[Event] = field(default_factory=list)
    _steps: list[Step] = field(default_factory=list)
    _epochs: list[EpochEnded] = field(default_factory=list)
    _changes: list[SettingsChanged] = field(default_factory=list)  # read on every page tick
    _snapshots: dict[type, Event] = field(default_factory=dict)
    _plan: Started | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        spec: ModelSpec,
        config: TrainConfig,
        name: str = "custom",
        data_dir: str | None = None,
        runs_dir: str | None = None,
        listener: Callable[[Event], None] | None = None,
        race: str | None = None,
        variant: str | None = None,
    ) -> Job:
        """Check the settings (the one check before training) and return a new, unstarted job."""
        check_run_name(name)  # a name the summary cannot hold would be found only at the end
        check_trainable(spec, config)  # also refuses a batch or a network that cannot fit
        runs_dir = str(resolve_runs_dir(runs_dir))
        timebudget.check_time(spec, config, runs_dir)  # and a run that would take hours
        request = JobRequest(
            run_id=new_run_id(name),
            name=name,
            spec=spec,
            config=config,
            data_dir=str(data_dir) if data_dir else None,
            runs_dir=runs_dir,
            max_seconds=timebudget.limit_seconds(),
            race=race,
            variant=variant,
            checkpoint_seconds=checkpoint_seconds(),
        )
        return cls(request, listener=listener)

    @classmethod
    def continuing(cls, run_dir: str | os.PathLike, runs_dir: str | None = None) -> Job:
        """Return a job that continues a run saved mid-training, with its curves so far."""
        run = load_run(run_dir, runs_dir)
        request = JobRequest(
            run_id=run.run_id,
            name=run.name,
            spec=run.spec,
            config=run.config,
            runs_dir=str(resolve_runs_dir(runs_dir)),
            resume=True,
            max_seconds=timebudget.limit_seconds(),
            # a continued run of a race stays in its race
            race=run.summary.get("race"),
            variant=run.summary.get("variant"),
            checkpoint_seconds=checkpoint_seconds(),
        )
        job = cls(request)
        job._steps, job._epochs = list(run.steps), list(run.epochs)
        job._events = list(run.settings_changes)  # the chart marks the changes made so far
        job._changes = list(run.settings_changes)
        return job

    # the request's fields, read as the job's own
    @property
    def run_id(self) -> str:
        return self.request.run_id

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def spec(self) -> ModelSpec:
        return self.request.spec

    @property
    def config(self) -> TrainConfig:
        return self.request.config

    def publish(self, event: Event) -> None:
        """Record an event from wherever the job trains, and end the job on Done or Failed."""
        ended = False
        with self._lock:
            if isinstance(event, SNAPSHOTS):
                # a snapshot every second or two would add up: only the newest is worth keeping
                self._snapshots[type(event)] = event
            elif isinstance(event, Step):
                self._steps.append(event)
            elif isinstance(event, EpochEnded):
                self._epochs.append(event)  # a full-batch run has one a step: kept apart
            else:
                self._events.append(event)
                if isinstance(event, SettingsChanged):
                    self._changes.append(event)
                elif isinstance(event, Started):
                    self._plan = event
                elif isinstance(event, Done) and self.state in ACTIVE_STATES:
                    self.state, ended = event.status, True
                    self.run_dir = Path(event.run_dir) if event.run_dir else None
                elif isinstance(event, Failed) and self.state in ACTIVE_STATES:
                    self.state, self.error, ended = "failed", event.message, True
                if ended:
                    # the whole network, up to 8 MB a job; the pages use the saved run now
                    self._snapshots.pop(ModelSnapshot, None)
        if isinstance(event, Failed) and event.details:
            log.error("training %s failed: %s\n%s", self.run_id, event.message, event.details)
        if self.listener is not None:
            self.listener(event)
        if ended and self.on_end is not None:
            self.on_end(self)

    def run(self) -> None:
        """Train here, in the calling thread (the CLI); never raises."""
        self.state = "stopped" if self.control.stopped else "running"
        run_job(self.request, self.publish, self.control)

    # what the pages read
    @property
    def plan(self) -> Started | None:
        """Return the start event, once training has begun."""
        return self._plan

    def steps(self, start: int = 0) -> list[Step]:
        """Return the steps so far from position start on (a resumed job's include the earlier
        ones); a negative start counts from the end, as in a slice."""
        with self._lock:
            return self._steps[start:]

    def step_count(self) -> int:
        """Return how many steps have been recorded (cheap: for 'has anything changed')."""
        return len(self._steps)

    def epochs(self, start: int = 0) -> list[EpochEnded]:
        """Return the epochs' summaries so far from position start on (as steps())."""
        with self._lock:
            return self._epochs[start:]

    def epoch_count(self) -> int:
        """Return how many epochs have ended (cheap: for 'has anything changed')."""
        return len(self._epochs)

    def events(self, kind: type | None = None) -> list[Event]:
        """Return the events other than steps, epochs and snapshots, optionally of one type
        only (EpochEnded: the epochs)."""
        with self._lock:
            if kind is not None and issubclass(kind, EpochEnded):
                return list(self._epochs)
            return [e for e in self._events if kind is None or isinstance(e, kind)]

    def snapshot(self, kind: type) -> Event | None:
        """Return the newest event of a SNAPSHOTS kind (weights, features, one batch, the
        whole model while it trains), if any."""
        with self._lock:
            return self._snapshots.get(kind)

    def touch(self) -> None:
        """Record that the session watching this job is still there."""
        self.last_seen = time.monotonic()

    def unseen_for(self) -> float:
        """Return the seconds since the job was last touched."""
        return time.monotonic() - self.last_seen

    # The state changes below hold the lock: a pause or stop racing the job's own end must
    # not turn a finished job back into an active one that nothing will ever finish.
    def pause(self) -> None:
        """Pause after the current step."""
        with self._lock:
            if self.state == "running":
                self.control.pause()
                self.state = "paused"

    def resume(self) -> None:
        """Go on after a pause."""
        with self._lock:
            if self.state == "paused":
                self.control.resume()
                self.state = "running"

    def stop(self) -> None:
        """Stop after the current step; a run with at least one step is saved as 'stopped'."""
        with self._lock:
            if self.state in ACTIVE_STATES:
                self.control.stop()
                if self.state != "queued":
                    self.state = "stopping"

    def steer(self, lr: float | None = None, momentum: float | None = None) -> None:
        """Train at lr and momentum (Adam's β₁) from the next step on; the schedule ends there.

        Raises ValueError naming the field for a value outside core.spec.config.LIMITS, or when the
        job is not running or paused. The loop answers with a SettingsChanged event.
        """
        check_settings(self.config.optimizer, lr, momentum)
        with self._lock:
            self._check_state("steered", ("running", "paused"))
            self.control.send(ChangeSettings(lr=lr, momentum=momentum))

    def one_batch(self) -> None:
        """While paused, train exactly one batch; the loop answers with a OneBatchReport."""
        with self._lock:
            self._check_state("asked for one batch", ("paused",))
            self.control.send(OneBatch())

    def _check_state(self, what: str, allowed: tuple[str, ...]) -> None:
        if self.state not in allowed:
            raise ValueError(
                f"state: only a {' or '.join(allowed)} job can be {what}; this one is {self.state}"
            )

    def settings_changes(self) -> list[SettingsChanged]:
        """Return the changes of rate and momentum made while training, oldest first."""
        with self._lock:
            return list(self._changes)

    def _set_state(self, state: str) -> None:
        with self._lock:
            self.state = state

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended; return True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def progress(self) -> dict:
        """Return a snapshot: state, step, epoch, fraction done, samples/s, ETA in seconds."""
        plan = self._plan
        latest = self._steps[-1] if self._steps else None
        total = plan.total_steps if plan else 0
        step = latest.step if latest else 0
        rate = latest.samples_per_s if latest else 0.0
        batch = plan.batch_size if plan else 1
        remaining = max(total - step, 0)
        eta = None
        if rate > 0 and self.state in ("running", "stopping"):
            # after the last step the run scores its validation and test digits: a forward
            # pass each, about a third of a training step's work per digit
            scoring = (plan.n_val + plan.n_test) / (3 * rate) if plan else 0.0
            eta = remaining * batch / rate + scoring
        return {
            "state": self.state,
            "step": step,
            "total_steps": total,
            "epoch": latest.epoch if latest else 0,
            "epochs": plan.epochs if plan else self.config.epochs,
            "fraction": step / total if total else 0.0,
            "samples_per_s": rate,
            "eta_seconds": eta,
            "loss": latest.loss if latest else None,
            "device": plan.device if plan else None,
            "error": self.error,
        }


class ThreadExecutor:
    """Runs each job in a thread of this process (the CLI's way; tests that patch the trainer)."""

    name = "thread"

    def start(self, job: Job) -> TrainControl:
        """Start the job now; return its control."""
        control = TrainControl()
        threading.Thread(
            target=run_job,
            args=(job.request, job.publish, control),
            name=f"train-{job.run_id}",
            daemon=True,
        ).start()
        return control

    def warm(self, data_dir: str | None = None) -> None:
        """Nothing to prepare."""

    def capacity(self) -> int:
        """One job at a time: a second would halve the first one's speed on a laptop."""
        return 1

    def describe(self) -> dict:
        """Return what the sidebar shows."""
        return {"executor": self.name}

    def close(self) -> None:
        """Nothing to release."""


_OPEN_EXECUTORS: weakref.WeakSet = weakref.WeakSet()
_EXIT_HANDLER = []  # registered once per process, not once per executor


def _close_open_executors() -> None:
    for executor in list(_OPEN_EXECUTORS):
        executor.close()


def _remember_for_exit(executor) -> None:
    # registered at the first executor, after multiprocessing's own exit handler, so that it
    # runs first (atexit runs in reverse): the workers end quietly instead of being terminated
    _OPEN_EXECUTORS.add(executor)
    if not _EXIT_HANDLER:
        atexit.register(_close_open_executors)
        _EXIT_HANDLER.append(_close_open_executors)


class ProcessExecutor:
    """Runs each job in a worker process, one per concurrent slot, started on demand, reused."""

    name = "local"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        _remember_for_exit(self)

    def _idle_worker(self, data_dir: str | None = None) -> Worker:
        with self._lock:
            self._workers = [w for w in self._workers if w.alive]
            for worker in self._workers:
                if not worker.busy:
                    return worker
            worker = Worker(self.threads, data_dir)
            self._workers.append(worker)
            return worker

    def start(self, job: Job) -> TrainControl:
        """Send the job to an idle worker (a new one if none is idle); return its control."""
        worker = self._idle_worker(job.request.data_dir)
        return worker.start(job.request, job.publish)

    def warm(self, data_dir: str | None = None) -> None:
        """Start a worker now (loading torch and MNIST), so that Start does not wait for them."""
        with self._lock:
            if any(w.alive for w in self._workers):
                return
        self._idle_worker(data_dir)

    def capacity(self) -> int:
        """One job at a time: each worker already uses all but one of the machine's cores."""
        return 1

    def describe(self) -> dict:
        """Return what the sidebar shows."""
        return {"executor": self.name}

    def workers(self) -> list[Worker]:
        """Return the live workers."""
        with self._lock:
            return [w for w in self._workers if w.alive]

    def close(self) -> None:
        """End every worker."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()


def make_executor(name=None):
    """Return the executor named (default $DIGITLAB_EXECUTOR, else 'local': worker processes).

    An executor object is returned as it is, so that registries can share one. 'ray' raises
    RayUnavailable (a ValueError saying how to install it) where Ray is not installed.
    """
    if name is not None and not isinstance(name, str):
        return name
    name = name or os.environ.get(EXECUTOR_ENV) or "local"
    if name == "local":
        return ProcessExecutor()
    if name == "thread":
        return ThreadExecutor()
    if name == "ray":
        from core.train.rayexec import RayExecutor  # Ray is optional: imported only when chosen

        return RayExecutor()
    raise ValueError(f"{EXECUTOR_ENV}: {name!r} is not one of {', '.join(EXECUTORS)}")


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
    ) -> None:
        self._max_concurrent = max_concurrent
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
        self._queue: list[Job] = []
        self._running: set[str] = set()
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
    ) -> Job:
        """Check and queue a training job for owner (a session id); it starts when a slot is free."""
        job = Job.create(spec, config, name, data_dir, runs_dir, race=race, variant=variant)
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
    ) -> Job:
        """Queue a job that continues a run saved mid-training in runs_dir (default: the runs
        folder); refused if a job already continues it."""
        job = Job.continuing(run_dir, str(resolve_runs_dir(runs_dir)))
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
            self._forget_ended()
            self._jobs[job.run_id] = job
            self._queue.append(job)
            self._watch_owned_jobs()
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
        (the owner's browser after a refresh); return whether owner now controls the job.
        The owner must touch the job from then on to keep it going."""
        with self._lock:
            shown = secret is not None and hmac.compare_digest(str(secret), job.secret)
            if job.owner is None or shown:
                job.owner = owner
                job.touch()
                self._watch_owned_jobs()
            return job.owner == owner

    def _start_waiting(self) -> None:
        while True:
            try:
                limit = self.max_concurrent  # outside the lock: a cluster may take a while to ask
            except ValueError:  # the cluster cannot be reached: starting the job will say so
                limit = 1
            with self._lock:
                if not self._queue or len(self._running) >= limit:
                    return
                job = self._queue.pop(0)
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
        self._start_waiting()

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
            time.sleep(min(self.orphan_timeout / 4, 5.0))
            self.stop_orphans()
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
            for position, queued in enumerate(self._queue, start=1):
                if queued is job:
                    return position
        return None

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
