"""A training job's body, wherever it runs: settings in, events out, the run saved in its folder.

`train()` is the library call (a notebook, the bench); `run_job()` is what a worker process,
a thread or another executor runs for the job registry: it never raises, and it ends with
exactly one Done or Failed event.
"""

from __future__ import annotations

import gc
import io
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import torch

from core.data.mnist import Task, make_task, shared_mnist
from core.data.mydigits import with_my_digits
from core.events import Done, Event, Failed
from core.runs.store import (
    delete_run,
    has_checkpoint,
    load_checkpoint,
    load_run,
    run_folder,
    save_run,
    versions,
)
from core.spec.compute import training_flops
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec, multiply_adds, parameter_count
from core.train import timebudget
from core.train.callbacks import Checkpointer, LiveProbes, StepLog, TimeLimit, Validation
from core.train.control import TrainControl
from core.train.follow import ModelFollower
from core.train.outcome import OutOfMemory, TrainingFailed, TrainResult
from core.train.replay import ReplayRecorder, recorded_replay, resume_replay
from core.train.trainer import Trainer


@dataclass
class JobRequest:
    """Everything a job needs to run anywhere: what to train, how, on which data, saved where."""

    run_id: str
    name: str
    spec: ModelSpec
    config: TrainConfig
    data_dir: str | None = None
    runs_dir: str | None = None
    resume: bool = False  # continue from the checkpoint in runs_dir/run_id
    probes: bool = True
    live: bool = True  # the live views a page watches (False: the command line's runs)
    max_seconds: float | None = None  # stopped and saved as stopped past this much training
    race: str | None = None  # the id shared by the runs of one race (seeds or variants)
    variant: str | None = None  # which of the race's variants this run is
    # training seconds between checkpoints (0: every epoch's end); None: the executing
    # process's $DIGITLAB_CHECKPOINT_SECONDS. Set where the job is made, for every executor alike
    checkpoint_seconds: float | None = None
    owner_key: str | None = None  # the hash of the visitor's secret (core.train.ownership)
    # a fine-tune: the run folder whose weights the network starts from, and the ids of the
    # my-digits set's drawings kept out of training (held out to measure what it learnt)
    start_from: str | None = None
    skip_digits: tuple[str, ...] = ()

    def race_fields(self) -> dict:
        """Return the summary's race and variant fields: none for a run outside a race."""
        return {"race": self.race, "variant": self.variant} if self.race else {}

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "run_id": self.run_id,
            "name": self.name,
            "spec": self.spec.to_dict(),
            "config": self.config.to_dict(),
            "data_dir": self.data_dir,
            "runs_dir": self.runs_dir,
            "resume": self.resume,
            "probes": self.probes,
            "live": self.live,
            "max_seconds": self.max_seconds,
            "race": self.race,
            "variant": self.variant,
            "checkpoint_seconds": self.checkpoint_seconds,
            "owner_key": self.owner_key,
            "start_from": self.start_from,
            "skip_digits": list(self.skip_digits),
        }

    @classmethod
    def from_dict(cls, data: dict) -> JobRequest:
        """Return the request a dict describes; the settings are validated on the way in."""
        data = dict(data)
        data["spec"] = ModelSpec.from_dict(data["spec"])
        data["config"] = TrainConfig.from_dict(data["config"])
        data["skip_digits"] = tuple(str(i) for i in data.get("skip_digits") or ())
        return cls(**data)


def attach_standard_callbacks(trainer: Trainer, probes: bool = True, live: bool = True) -> Trainer:
    """Give a trainer its step log and validation; with probes, what the run saves of its
    insides (gradient norms, the replay); with live too, the views only a page watches."""
    StepLog(grad_norms=probes).attach(trainer)
    Validation(trainer.config.eval_every).attach(trainer)
    if probes:
        ReplayRecorder().attach(trainer)  # the Inside page's replay of this training
    if probes and live:  # nobody watches a command line's run: it does not pay for them
        LiveProbes().attach(trainer)
        ModelFollower().attach(trainer)  # the Draw page scores drawn digits with it
    return trainer


def start_from_run(trainer: Trainer, run_dir: str, runs_dir: str | None) -> None:
    """Give the trainer's network a saved run's weights (a fine-tune starts from them)."""
    parent = load_run(run_dir, runs_dir)
    if parent.spec.to_dict() != trainer.spec.to_dict():
        raise ValueError(f"start_from: {parent.run_id} is another network than this job's")
    trainer.model.load_state_dict(parent.model.state_dict())


def _is_out_of_memory(exc: BaseException) -> bool:
    # CUDA raises its own type; the CPU and MPS allocators raise a RuntimeError saying so
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in str(exc) or "can't allocate memory" in str(exc))
    )


def run_guarded(trainer: Trainer) -> TrainResult:
    """Run the trainer; turn running out of memory into OutOfMemory, with the memory freed."""
    try:
        return trainer.run()
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not _is_out_of_memory(exc) or isinstance(exc, TrainingFailed):
            raise
        failure = str(exc).splitlines()[0][:200]
    # outside the except block the traceback, and with it the frames' tensors, is released
    where, step, batch = trainer.device_name, trainer.step, trainer.batch_size
    trainer.release()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    raise OutOfMemory(
        f"the {where} ran out of memory after {step} steps (batch size {batch:,}): training "
        f"stopped and its memory was freed. Try a smaller batch size or a smaller network. "
        f"({failure})"
    )


def train(
    spec: ModelSpec,
    config: TrainConfig,
    task: Task,
    emit: Callable[[Event], None] | None = None,
    control: TrainControl | None = None,
    probes: bool = True,
) -> TrainResult:
    """Train spec on task with config, emitting events; return the model and its metrics.

    The settings are trusted: check them once where they come in (core.train.checks).
    """
    trainer = attach_standard_callbacks(Trainer(spec, config, task, control, emit), probes)
    return run_guarded(trainer)


class RunWriter:
    """Saves a job's run folder: a checkpoint after each epoch, the whole run at the end."""

    def __init__(self, request: JobRequest, data_source: str) -> None:
        self.request, self.data_source = request, data_source
        self.folder = run_folder(request.runs_dir, request.run_id)

    def summary(self, trainer: Trainer, status: str, result: TrainResult | None = None) -> dict:
        """Return the run's summary.json as it stands."""
        epochs = result.epochs if result else trainer.epochs
        last = epochs[-1] if epochs else None
        return {
            "name": self.request.name,
            "status": status,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "test_accuracy": result.test_accuracy if result else None,
            "test_loss": result.test_loss if result else None,
            "val_accuracy": last.val_accuracy if last else None,
            "seconds": result.seconds if result else trainer.training_seconds(),
            "seconds_per_epoch": result.seconds_per_epoch if result else None,
            "epochs_completed": sum(1 for e in epochs if e.complete),
            "steps": trainer.step,
            "device": trainer.device_name,
            "parameters": parameter_count(self.request.spec),
            "multiply_adds": multiply_adds(self.request.spec),
            "samples_seen": trainer.samples_seen,
            "training_flops": training_flops(
                multiply_adds(self.request.spec), trainer.samples_seen
            ),
            **self.request.race_fields(),
            # who may continue it (core.train.ownership); a run from the command line: anyone
            **({"owner_key": self.request.owner_key} if self.request.owner_key else {}),
            "classes": list(self.request.config.classes),
            "dataset": self.request.config.dataset,
            "data_source": self.data_source,
            "versions": versions(),
            # its temperature, and how honest its confidence was before and after
            **(result.calibration if result else {}),
        }

    def checkpoint(self, trainer: Trainer) -> str:
        """Save the run so far as 'interrupted' with the state to continue it; return the folder."""
        buffer = io.BytesIO()
        torch.save(trainer.checkpoint_state(), buffer)
        save_run(
            self.request.runs_dir,
            self.request.run_id,
            self.request.spec,
            self.request.config,
            trainer.model,
            self.summary(trainer, "interrupted"),
            trainer.steps,
            trainer.epochs,
            checkpoint=buffer.getvalue(),
            replace=True,
            settings_changes=trainer.settings_changes,
            replay=recorded_replay(trainer),
        )
        return str(self.folder)

    def restore(self, trainer: Trainer) -> None:
        """Put the trainer where the folder's checkpoint left off."""
        state, steps, epochs = load_checkpoint(self.folder, trainer.device)
        saved = load_run(self.folder)
        trainer.restore(state, steps, epochs, saved.settings_changes)
        resume_replay(trainer, saved.replay)

    def discard_checkpoint(self) -> None:
        """Delete this job's folder if it holds only a checkpoint of this run."""
        if has_checkpoint(self.folder):
            delete_run(self.folder, self.request.runs_dir)

    def save(self, trainer: Trainer, result: TrainResult) -> str:
        """Save the finished or stopped run in place of any checkpoint; return the folder."""
        save_run(
            self.request.runs_dir,
            self.request.run_id,
            self.request.spec,
            self.request.config,
            result.model,
            self.summary(trainer, result.status, result),
            result.steps,
            result.epochs,
            replace=self.request.resume or self.folder.exists(),
            settings_changes=result.settings_changes,
            replay=recorded_replay(trainer),
        )
        return str(self.folder)


def run_job(
    request: JobRequest,
    emit: Callable[[Event], None],
    control: TrainControl,
    emit_many: Callable[[list[Event]], None] | None = None,
) -> None:
    """Train, checkpoint and save one job, telling emit everything; end with Done or Failed.

    emit_many, when given, receives groups of steps in one call (a worker sends each group as
    one message); otherwise emit receives them one by one.
    """
    writer = None
    try:
        if control.stopped:  # stopped while it waited for a worker
            emit(Done(status="stopped"))
            return
        config = request.config
        mnist = shared_mnist(request.data_dir, config.dataset)
        task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
        task = with_my_digits(
            task,
            config.my_digits,
            config.my_digits_repeat,
            request.data_dir,
            skip=request.skip_digits,
        )
        trainer = Trainer(request.spec, config, task, control, emit, emit_many)
        if request.start_from and not request.resume:
            start_from_run(trainer, request.start_from, request.runs_dir)
        attach_standard_callbacks(trainer, request.probes, request.live)
        writer = RunWriter(request, mnist.source)
        if request.resume:
            writer.restore(trainer)
        Checkpointer(writer.checkpoint, request.checkpoint_seconds).attach(trainer)
        limit = TimeLimit(request.max_seconds)
        limit.attach(trainer)
        result = run_guarded(trainer)
        if result.status == "finished":
            timebudget.record_run(request.runs_dir, request.spec, config, result.seconds)
        run_dir = writer.save(trainer, result) if trainer.step > trainer.start_step else None
        if run_dir is None and request.resume:
            run_dir = str(writer.folder)  # stopped before its first new step: the checkpoint stays
        emit(
            Done(
                status=result.status,
                test_accuracy=result.test_accuracy,
                test_loss=result.test_loss,
                run_dir=run_dir,
                reason=limit.reason,
            )
        )
    except TrainingFailed as exc:
        if writer is not None and not request.resume:
            writer.discard_checkpoint()  # a diverged run did not work: nothing to continue
        emit(Failed(message=str(exc)))
    except (ValueError, RuntimeError, OSError) as exc:
        emit(Failed(message=f"{type(exc).__name__}: {exc}", details=traceback.format_exc()))
    except Exception as exc:  # a job must never die silently: the page shows the message
        emit(
            Failed(
                message=f"unexpected {type(exc).__name__}: {exc}", details=traceback.format_exc()
            )
        )
