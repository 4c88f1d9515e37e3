"""Background training jobs for the UI: a thread per job, events to poll, a process-wide registry."""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from core.config import TrainConfig, check_trainable
from core.data import load_mnist, make_task, resolve_data_dir
from core.models import ModelSpec, parameter_count
from core.runs import new_run_id, resolve_runs_dir, save_run, versions
from core.training import TrainControl, TrainingFailed, train

ACTIVE_STATES = ("queued", "running", "paused", "stopping")
FINAL_STATES = ("finished", "stopped", "failed")
SNAPSHOT_EVENTS = ("weights", "features")  # the live views' pictures: only the newest is kept
# An open tab touches its jobs every second; a hidden one too, but browsers slow a hidden tab's
# timers down to once a minute. A job unseen for two minutes has lost its tab.
ORPHAN_TIMEOUT = 120.0
# ended jobs kept for the pages (each holds its curves, ~5 MB for 10 epochs of MNIST); older
# ones are shown from their run folder
KEEP_FINISHED = 20

_mnist_lock = threading.Lock()
_mnist_cache: dict[Path, object] = {}


def shared_mnist(data_dir: str | Path | None = None):
    """Return MNIST for a data folder, decoded once per process and shared by all jobs."""
    root = resolve_data_dir(data_dir).resolve()
    with _mnist_lock:
        if root not in _mnist_cache:
            _mnist_cache[root] = load_mnist(root)
        return _mnist_cache[root]


@dataclass
class Job:
    """One training run in a background thread; the UI polls its events and progress."""

    run_id: str
    name: str
    spec: ModelSpec
    config: TrainConfig
    data_dir: str | None = None
    runs_dir: str | None = None
    state: str = "queued"
    error: str | None = None
    run_dir: Path | None = None
    created: float = field(default_factory=time.time)
    owner: str | None = None  # the browser session that started it; None (the CLI) never expires
    last_seen: float = field(default_factory=time.monotonic)  # when its owner last touched it
    control: TrainControl = field(default_factory=TrainControl)
    listener: Callable[[dict], None] | None = None  # also told every event (the CLI's progress bar)
    _events: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _plan: dict = field(default_factory=dict)
    _latest_step: dict = field(default_factory=dict)
    _snapshots: dict[str, dict] = field(default_factory=dict)
    _started_at: float | None = None

    @classmethod
    def create(
        cls,
        spec: ModelSpec,
        config: TrainConfig,
        name: str = "custom",
        data_dir: str | None = None,
        runs_dir: str | None = None,
        listener: Callable[[dict], None] | None = None,
    ) -> Job:
        """Validate the settings and return a new job with a fresh run id (not yet started)."""
        spec.validate()
        config.validate()
        check_trainable(spec, config)  # also refuses a batch or a network that cannot fit
        return cls(
            run_id=new_run_id(name),
            name=name,
            spec=spec,
            config=config,
            data_dir=str(data_dir) if data_dir else None,
            runs_dir=str(resolve_runs_dir(runs_dir)),
            listener=listener,
        )

    def publish(self, event: dict) -> None:
        """Record an event from the training loop (called from the job's thread)."""
        stamped = {**event, "time": time.time()}
        with self._lock:
            if event["type"] in SNAPSHOT_EVENTS:
                # a snapshot every second or two would add up: only the newest is worth keeping
                self._snapshots[event["type"]] = stamped
            else:
                self._events.append(stamped)
            if event["type"] == "start":
                self._plan = stamped
            elif event["type"] == "step":
                self._latest_step = stamped
        if self.listener is not None:
            self.listener(stamped)

    def events_since(self, cursor: int = 0) -> tuple[list[dict], int]:
        """Return the events after position cursor and the new cursor."""
        with self._lock:
            return self._events[cursor:], len(self._events)

    def snapshot(self, kind: str) -> dict | None:
        """Return the newest 'weights' or 'features' event, if there is one yet."""
        with self._lock:
            return self._snapshots.get(kind)

    def events(self, kind: str | None = None) -> list[dict]:
        """Return all events so far, optionally only those of one type."""
        with self._lock:
            return [e for e in self._events if kind is None or e["type"] == kind]

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
        with self._lock:
            plan, latest = dict(self._plan), dict(self._latest_step)
        total = plan.get("total_steps") or 0
        step = latest.get("step", 0)
        rate = latest.get("samples_per_s") or 0.0
        batch = plan.get("batch_size") or 1
        remaining = max(total - step, 0)
        eta = (
            remaining * batch / rate if rate > 0 and self.state in ("running", "stopping") else None
        )
        return {
            "state": self.state,
            "step": step,
            "total_steps": total,
            "epoch": latest.get("epoch", 0),
            "epochs": plan.get("epochs", self.config.epochs),
            "fraction": step / total if total else 0.0,
            "samples_per_s": rate,
            "eta_seconds": eta,
            "loss": latest.get("loss"),
            "device": plan.get("device"),
            "error": self.error,
        }

    def run(self) -> None:
        """Train, save the run, record the outcome; never raises (errors become the 'failed' state)."""
        self._started_at = time.time()
        with self._lock:
            self.state = "stopped" if self.control.stopped else "running"
        if self.state == "stopped":
            self.publish({"type": "done", "status": "stopped", "run_dir": None})
            return
        try:
            mnist = shared_mnist(self.data_dir)
            config = self.config
            task = make_task(
                mnist, tuple(config.classes), config.train_fraction, config.val_fraction
            )
            result = train(self.spec, config, task, emit=self.publish, control=self.control)
            if result.steps:
                summary = {
                    "name": self.name,
                    "status": result.status,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "test_accuracy": result.test_accuracy,
                    "test_loss": result.test_loss,
                    "seconds": result.seconds,
                    "seconds_per_epoch": result.seconds_per_epoch,
                    "epochs_completed": sum(1 for e in result.epochs if e["complete"]),
                    "steps": result.steps[-1]["step"],
                    "device": result.device,
                    "parameters": parameter_count(self.spec),
                    "classes": list(config.classes),
                    "data_source": mnist.source,
                    "versions": versions(),
                }
                self.run_dir = save_run(
                    self.runs_dir,
                    self.run_id,
                    self.spec,
                    config,
                    result.model,
                    summary,
                    result.steps,
                    result.epochs,
                )
            self._set_state(result.status)
            self.publish(
                {
                    "type": "done",
                    "status": result.status,
                    "test_accuracy": result.test_accuracy,
                    "test_loss": result.test_loss,
                    "run_dir": str(self.run_dir) if self.run_dir else None,
                }
            )
        except TrainingFailed as exc:
            self._fail(str(exc))
        except (ValueError, RuntimeError, OSError) as exc:
            self._fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        except Exception as exc:  # a job must never die silently: the page shows the message
            self._fail(f"unexpected {type(exc).__name__}: {exc}", traceback.format_exc())

    def _fail(self, message: str, details: str | None = None) -> None:
        self.error = message
        self._set_state("failed")
        self.publish({"type": "error", "message": message, "details": details})


class JobRegistry:
    """Holds jobs by run id; runs at most max_concurrent at once, the rest wait in a queue.

    A job started for a browser session (owner set) must be touched by that session now and
    then: a watchdog thread stops one unseen for orphan_timeout seconds, as its tab was closed.
    """

    def __init__(
        self,
        max_concurrent: int = 1,
        orphan_timeout: float | None = None,
        keep_finished: int = KEEP_FINISHED,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.orphan_timeout = _orphan_timeout() if orphan_timeout is None else orphan_timeout
        if not self.orphan_timeout > 0:
            raise ValueError(f"orphan_timeout must be above 0 seconds, got {self.orphan_timeout}")
        self.keep_finished = keep_finished
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    def submit(
        self,
        spec: ModelSpec,
        config: TrainConfig,
        name: str = "custom",
        data_dir: str | None = None,
        runs_dir: str | None = None,
        owner: str | None = None,
    ) -> Job:
        """Validate and queue a training job for owner (a session id); it starts when a slot is free."""
        job = Job.create(spec, config, name, data_dir, runs_dir)
        job.owner = owner
        with self._lock:
            # two tabs starting the same preset in the same second can draw the same id
            while job.run_id in self._jobs:
                job.run_id = new_run_id(name)
            self._forget_ended()
            self._jobs[job.run_id] = job
            self._queue.append(job)
            self._watch_owned_jobs()
        self._start_waiting()
        return job

    def claim(self, job: Job, owner: str) -> None:
        """Give an unowned job to a session, which from now on must touch it to keep it going."""
        with self._lock:
            if job.owner is None:
                job.owner = owner
                job.touch()
                self._watch_owned_jobs()

    def _start_waiting(self) -> None:
        with self._lock:
            while self._queue and len(self._running) < self.max_concurrent:
                job = self._queue.pop(0)
                self._running.add(job.run_id)
                job._thread = threading.Thread(
                    target=self._run, args=(job,), name=f"train-{job.run_id}", daemon=True
                )
                job._thread.start()

    def _run(self, job: Job) -> None:
        try:
            job.run()
        finally:
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
            job.publish({"type": "orphaned", "unseen_seconds": job.unseen_for()})
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

    def running_count(self) -> int:
        """Return how many jobs hold a training slot now (never more than max_concurrent)."""
        with self._lock:
            return len(self._running)

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
            job._set_state("stopped")
        job.publish({"type": "done", "status": "stopped", "run_dir": None})
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
