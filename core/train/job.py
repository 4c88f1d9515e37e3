"""One training job: its settings in, its events out, its controls (pause, stop, steer), and
its progress as the pages read it. An executor runs it (core.train.executors); the registry
queues it (core.train.jobs)."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
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
    SettingsChanged,
    Started,
    Step,
    StepColumns,
    Validated,
)
from core.runs.store import load_run, new_run_id, resolve_runs_dir
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train import timebudget
from core.train.callbacks import checkpoint_seconds
from core.train.control import TrainControl
from core.train.preflight import preflight
from core.train.run import JobRequest, run_job
from core.train.steering import ChangeSettings, OneBatch, check_settings

log = logging.getLogger("digitlab.jobs")

ACTIVE_STATES = ("queued", "running", "paused", "stopping")
FINAL_STATES = ("finished", "stopped", "failed")


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
    paused_at: float | None = None  # when it was paused (time.monotonic), while it is
    # parked: paused so long while others waited that it gave up its slot (core.train.parking);
    # resume_wanted: its owner pressed Resume, and it waits for a free slot
    parked: bool = False
    resume_wanted: bool = False
    _events: list[Event] = field(default_factory=list)
    _steps: StepColumns = field(default_factory=StepColumns)
    _epochs: list[EpochEnded] = field(default_factory=list)
    _changes: list[SettingsChanged] = field(default_factory=list)  # read on every page tick
    _snapshots: dict[type, Event] = field(default_factory=dict)
    _plan: Started | None = None
    _scoring: Validated | None = None  # the newest validation that took its time to score
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
        live: bool = True,
        start_from: str | None = None,
        skip_digits: tuple[str, ...] = (),
    ) -> Job:
        """Check the settings (the one check before training) and return a new, unstarted job;
        live=False: no page will watch it (the command line), so it computes no live views;
        start_from (a run folder) and skip_digits make it a fine-tune (core.train.run)."""
        runs_dir = str(resolve_runs_dir(runs_dir))
        checked = preflight(spec, config, name, runs_dir)
        if not checked.ok:
            raise ValueError(checked.problem)
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
            live=live,
            start_from=str(start_from) if start_from else None,
            skip_digits=tuple(skip_digits),
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
        job._steps, job._epochs = StepColumns(run.steps), list(run.epochs)
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
                elif isinstance(event, Validated) and event.seconds > 0:
                    self._scoring = event
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

    def publish_steps(self, steps: list[Step]) -> None:
        """Record a group of steps under one lock (a sub-millisecond step's overhead counts)."""
        with self._lock:
            self._steps.extend(steps)
        if self.listener is not None:
            for step in steps:  # each, as publish() gives them (a progress bar skips most)
                self.listener(step)

    def run(self) -> None:
        """Train here, in the calling thread (the CLI); never raises."""
        self.state = "stopped" if self.control.stopped else "running"
        run_job(self.request, self.publish, self.control, self.publish_steps)

    # what the pages read
    @property
    def plan(self) -> Started | None:
        """Return the start event, once training has begun."""
        return self._plan

    def steps(self, start: int = 0) -> list[Step]:
        """Return the steps so far from position start on (a resumed job's include the earlier
        ones); a negative start counts from the end, as in a slice."""
        with self._lock:
            return self._steps.since(start)

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
                self.state, self.paused_at = "paused", time.monotonic()

    def resume(self) -> None:
        """Go on after a pause."""
        with self._lock:
            if self.state == "paused":
                self.control.resume()
                self.state, self.paused_at = "running", None
                self.parked = self.resume_wanted = False

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

    def _end_seconds(self, rate: float) -> float:
        """Return the seconds the run's end will take: after its last step it scores its
        validation and test digits (and calibrates on the former's outputs)."""
        plan, scored = self._plan, self._scoring
        if plan is None:
            return 0.0
        if scored is not None and plan.n_val:
            # as long as the last validation took, a digit at a time: a convnet scores far
            # fewer digits a second than a third of its training rate would say (issue 22:
            # small-cnn's counter read 21% short, the whole end left out)
            return scored.seconds * (plan.n_val + plan.n_test) / plan.n_val
        if plan.scoring_seconds_per_digit > 0:  # none yet: as the few digits timed at the start
            return plan.scoring_seconds_per_digit * (plan.n_val + plan.n_test)
        # a run saved before that timing: a forward pass, about a third of a step's work
        return (plan.n_val + plan.n_test) / (3 * rate)

    def progress(self) -> dict:
        """Return a snapshot: state, step, epoch, fraction done, samples/s, ETA in seconds."""
        plan = self._plan
        latest = self._steps.last()
        total = plan.total_steps if plan else 0
        step = latest.step if latest else 0
        rate = latest.samples_per_s if latest else 0.0
        batch = plan.batch_size if plan else 1
        remaining = max(total - step, 0)
        eta = None
        if rate > 0 and self.state in ("running", "stopping"):
            end = self._end_seconds(rate)
            if remaining == 0 and latest is not None:  # the end has begun: count it down
                end = max(end - (time.time() - latest.time), 0.0)
            eta = remaining * batch / rate + end
        return {
            "state": self.state,
            "step": step,
            "total_steps": total,
            "epoch": latest.epoch if latest else 0,
            "epochs": plan.epochs if plan else self.config.epochs,
            # every step is an epoch (seed-3v7): progress reads in iterations, not epochs
            "full_batch": bool(plan and plan.steps_per_epoch == 1),
            "fraction": step / total if total else 0.0,
            "samples_per_s": rate,
            "eta_seconds": eta,
            "loss": latest.loss if latest else None,
            "device": plan.device if plan else None,
            "error": self.error,
            "parked": self.parked,  # paused, its slot given to the next job (core.train.parking)
            "resume_wanted": self.resume_wanted,
        }
