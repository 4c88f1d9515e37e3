"""What hooks into the trainer's loop: step logging, validation, live probes, checkpoints.

Each callback is attached with `attach(trainer)` and reads the trainer's state when called.
Work done at an epoch's end is paced by the clock (core.train.cadence): a full-batch run ends
an epoch at every step, and its cost must follow its seconds, not its number of epochs.
`ProgressBar` is not a callback but an event listener: the CLI's one-line progress display.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import torch

from core.analysis.probes import PROBE_DIGITS, FeatureProjector, grad_every, weight_snapshot
from core.events import (
    Checkpointed,
    EpochEnded,
    Event,
    FeaturesSnapshot,
    Started,
    Step,
    WeightsSnapshot,
)
from core.spec.config import env_amount
from core.train.batches import prepare
from core.train.cadence import MAX_SHARE, Cadence
from core.train.outcome import TrainingDiverged
from core.train.throughput import Throughput
from core.train.trainer import Trainer

# Step events are flushed to listeners in groups: reading a loss forces a device sync.
FLUSH_EVERY_STEPS = 32
FLUSH_EVERY_SECONDS = 0.2
WEIGHTS_EVERY_SECONDS = 1.0  # how often the live first-layer weights are refreshed
# clusters form mostly within the first epoch: the live PCA cannot wait for its end
FEATURES_EVERY_SECONDS = 2.0
# a killed server loses at most this much training; 0 checkpoints at every epoch's end
CHECKPOINT_ENV = "DIGITLAB_CHECKPOINT_SECONDS"
DEFAULT_CHECKPOINT_SECONDS = 30.0


def checkpoint_seconds() -> float:
    """Return the training seconds between checkpoints, from $DIGITLAB_CHECKPOINT_SECONDS (30)."""
    return env_amount(CHECKPOINT_ENV, DEFAULT_CHECKPOINT_SECONDS, "seconds", "every epoch")


class StepLog:
    """Turns steps into Step events, a group at a time, and stops a run whose loss is not finite.

    With gradient norms on, each weighted layer's weight-gradient norm is sampled on step 1
    and then every grad_every(total_steps) steps, so a run has at most 300 samples.
    """

    def __init__(self, grad_norms: bool = True) -> None:
        self.grad_norms = grad_norms
        self.pending: list[tuple[int, int, float, torch.Tensor, torch.Tensor | None]] = []

    def attach(self, trainer: Trainer) -> None:
        trainer.grad_every = grad_every(trainer.total_steps) if self.grad_norms else 0
        trainer.add_callback("on_start", self.on_start)
        trainer.add_callback("on_batch_end", self.on_batch_end)
        trainer.add_callback("before_epoch_end", self.on_epoch_boundary)
        trainer.add_callback("on_flush", self.flush)
        trainer.add_callback("on_end", self.flush)

    def on_epoch_boundary(self, trainer: Trainer) -> None:
        # a stopped or finished run sends everything; otherwise the usual group size or time,
        # so that a full-batch run (an epoch a step) sends groups, not a message a step
        ending = trainer.step >= trainer.total_steps or trainer.control.stopped
        full = len(self.pending) >= FLUSH_EVERY_STEPS
        if ending or full or time.perf_counter() - self.last_time >= FLUSH_EVERY_SECONDS:
            self.flush(trainer)

    def on_start(self, trainer: Trainer) -> None:
        # the rate is the run's throughput: the work between steps (validation, probes) counts,
        # so that the seconds left that the pages derive from it come true
        self.last_time = time.perf_counter()
        self.throughput = Throughput(self.last_time, trainer.step, trainer.paused_seconds)

    def on_batch_end(self, trainer: Trainer) -> None:
        every = trainer.grad_every
        sampled = every and (trainer.step % every == 0 or trainer.step == 1)
        norms = trainer.engine.grad_norms() if sampled else None
        self.pending.append((trainer.step, trainer.epoch, trainer.lr, trainer.loss, norms))
        now = time.perf_counter()
        self.throughput.first_step_done(now, trainer.step, trainer.paused_seconds)
        if len(self.pending) >= FLUSH_EVERY_STEPS or now - self.last_time >= FLUSH_EVERY_SECONDS:
            self.flush(trainer)

    def flush(self, trainer: Trainer) -> None:
        """Emit the steps not yet reported (one device sync for all of them)."""
        if not self.pending:
            return
        losses = torch.stack([p[3] for p in self.pending]).tolist()
        now = time.perf_counter()
        # a pause must not drag the rate down: only training time counts
        step, paused = self.pending[-1][0], trainer.paused_seconds
        rate = self.throughput.add(now, step, paused, trainer.batch_size)
        events = [
            Step(
                step=step,
                epoch=epoch,
                loss=loss,
                lr=lr,
                samples_per_s=rate,
                grad_norms=norms.tolist() if norms is not None else None,
            )
            for (step, epoch, lr, _, norms), loss in zip(self.pending, losses)
        ]
        trainer.steps.extend(events)
        trainer.emit_many(events)
        self.last_time = now
        self.pending.clear()
        bad = next((v for v in losses if not math.isfinite(v)), None)
        if bad is not None:
            what = "NaN" if math.isnan(bad) else "infinite"
            raise TrainingDiverged(
                f"the loss became {what} at step {trainer.steps[-1].step}: training stopped. "
                "Try a smaller learning rate, or batch norm, or a different loss."
            )


class Validation:
    """Scores the validation digits every `every` steps (0: only at each epoch's end)."""

    def __init__(self, every: int = 0) -> None:
        self.every = every

    def attach(self, trainer: Trainer) -> None:
        if self.every:
            trainer.add_callback("on_batch_end", self.on_batch_end)

    def on_batch_end(self, trainer: Trainer) -> None:
        if trainer.step % self.every == 0:
            trainer.validate()


class LiveProbes:
    """Emits the first layer's weights about once a second and a 2-D PCA of test digits'
    last hidden features every few seconds (more rarely where the PCA is slow), both also at
    the start, at each epoch's end (when due, where an epoch is a step) and at the end."""

    def attach(self, trainer: Trainer) -> None:
        self.projector = None
        test = trainer.task.test
        if len(test):
            images = prepare(test.images[:PROBE_DIGITS], trainer.config, trainer.device, True)
            self.projector = FeatureProjector(images, test.labels[:PROBE_DIGITS])
        self.weights = Cadence(WEIGHTS_EVERY_SECONDS, MAX_SHARE["weights"])
        self.features = Cadence(FEATURES_EVERY_SECONDS, MAX_SHARE["features"])
        trainer.add_callback("on_start", self.show_all)
        trainer.add_callback("on_batch_end", self.on_batch_end)
        trainer.add_callback("on_epoch_end", self.on_epoch_end)
        trainer.add_callback("on_end", self.on_end)
        self.shown_step = -1  # the step the last show_all showed

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.epoch_is_a_step:
            self.on_batch_end(trainer)
        elif not trainer.end_is_near:  # else the run's end, a few steps later, shows it
            self.show_all(trainer)

    def on_end(self, trainer: Trainer) -> None:
        if trainer.step != self.shown_step:  # the last epoch's end may have shown this step
            self.show_all(trainer)

    def show_all(self, trainer: Trainer) -> None:
        self.shown_step = trainer.step
        self.weights.run(self.show_weights, trainer)
        if self.projector is not None:
            self.features.run(self.show_features, trainer)

    def on_batch_end(self, trainer: Trainer) -> None:
        if self.weights.due():
            self.weights.run(self.show_weights, trainer)
        if self.projector is not None and self.features.due():
            self.features.run(self.show_features, trainer)

    def show_weights(self, trainer: Trainer) -> None:
        weights = weight_snapshot(trainer.model, trainer.spec).numpy()
        trainer.emit(WeightsSnapshot(step=trainer.step, epoch=trainer.epoch, weights=weights))

    def show_features(self, trainer: Trainer) -> None:
        projected = self.projector.project(trainer.model)
        if projected is None:
            return  # the weights are no longer finite: the step log ends the run at its flush
        coords, explained = projected
        trainer.emit(
            FeaturesSnapshot(
                step=trainer.step,
                epoch=trainer.epoch,
                coords=coords.numpy(),
                explained=explained.numpy(),
                labels=self.projector.labels.numpy(),
            )
        )


class Checkpointer:
    """Hands the trainer to save(trainer) -> folder at an epoch's end once `every_seconds` of
    training have passed since the last checkpoint (0: at every epoch's end), and reports it.

    The run's end is saved whole by its job, so a killed server loses at most every_seconds
    of training (or 100 times a checkpoint's cost, where that is more: a checkpoint rewrites
    the metrics of every step so far, and may take at most 1% of the time), and a short run
    writes no checkpoint at all.
    """

    def __init__(self, save: Callable[[Trainer], str], every_seconds: float | None = None) -> None:
        self.save = save
        self.every_seconds = checkpoint_seconds() if every_seconds is None else every_seconds
        self.saved = 0  # how many checkpoints this run wrote

    def attach(self, trainer: Trainer) -> None:
        share = MAX_SHARE["checkpoint"] if self.every_seconds > 0 else None
        self.cadence = Cadence(self.every_seconds, share, clock=trainer.training_seconds)
        trainer.add_callback("on_start", self.on_start)
        trainer.add_callback("on_epoch_end", self.on_epoch_end)

    def on_start(self, trainer: Trainer) -> None:
        # the first checkpoint after every_seconds of training (a resumed run counts from here)
        self.cadence.next_time = trainer.training_seconds() + self.every_seconds

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.step >= trainer.total_steps or trainer.control.stopped:
            return  # the run is about to be saved whole
        if not self.cadence.due():
            return
        trainer.trigger("on_flush")  # the checkpoint holds every step so far
        started = self.cadence.clock()
        folder = self.save(trainer)
        self.cadence.ran(started)
        self.saved += 1
        trainer.emit(Checkpointed(epoch=trainer.epoch, step=trainer.step, run_dir=str(folder)))


class TimeLimit:
    """Stops a run once it has trained for max_seconds (pauses excluded); None: no limit."""

    def __init__(self, max_seconds: float | None) -> None:
        self.max_seconds, self.reason = max_seconds, None

    def attach(self, trainer: Trainer) -> None:
        if self.max_seconds is not None:
            trainer.add_callback("on_batch_end", self.on_batch_end)

    def on_batch_end(self, trainer: Trainer) -> None:
        if self.reason is None and trainer.training_seconds() > self.max_seconds:
            minutes = self.max_seconds / 60
            self.reason = (
                f"it trained for its limit of {minutes:g} minutes (DIGITLAB_MAX_TRAIN_MINUTES) "
                "and was stopped there"
            )
            trainer.control.stop()


def _fraction_text(value: float) -> str:
    return f"{value:.4f}" if value == value else "n/a"  # NaN: not measured at that epoch


EPOCH_LINE_SECONDS = 1.0  # the CLI prints an epoch's line at most this often, and the last


class ProgressBar:
    """An event listener that draws a one-line progress bar (the CLI's) on a stream."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.last, self.last_epoch = 1, 0.0, 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self.total = event.total_steps
            print(
                f"training on {event.device}: {event.n_train} train, {event.n_val} validation, "
                f"{event.total_steps} steps",
                file=self.stream,
            )
        elif isinstance(event, Step):
            now = time.monotonic()
            if now - self.last < 0.2 and event.step != self.total:
                return
            self.last = now
            done = event.step / self.total
            print(
                f"\r[{'#' * int(done * 30):<30}] {done:6.1%} epoch {event.epoch} "
                f"loss {event.loss:.4f} {event.samples_per_s:,.0f} samples/s",
                end="",
                file=self.stream,
                flush=True,
            )
        elif isinstance(event, EpochEnded):
            # a line an epoch, but a full-batch run ends one at every step: a line a second, of
            # an epoch it scored (the others have no accuracy to print)
            now = time.monotonic()
            scored = event.train_accuracy == event.train_accuracy
            due = now - self.last_epoch >= EPOCH_LINE_SECONDS and scored
            if not due and event.step != self.total:
                return
            self.last_epoch = now
            train, val = (_fraction_text(a) for a in (event.train_accuracy, event.val_accuracy))
            print(
                f"\repoch {event.epoch}: train loss {event.train_loss:.4f}, train acc "
                f"{train}, val acc {val}, {event.seconds:.1f} s" + " " * 20,
                file=self.stream,
            )
