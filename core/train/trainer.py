"""The trainer: one network, one task, one loop; logging, validation and probes hook in.

The whole training set sits on the device as one tensor, shuffled by index once per epoch and
sliced into batches (core.train.batches): no DataLoader, no per-sample transforms. The loop
takes its pause, stop and steering requests from a TrainControl (core.train.control) and ends
with a TrainResult or a TrainingFailed (core.train.outcome). `Trainer.run()` is the loop;
everything else is a callback (core.train.callbacks) that reads the trainer's state
(`step`, `epoch`, `loss`, …), in the manner of minGPT's trainer.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn

from core.analysis.calibration import calibrate_run
from core.analysis.evaluation import output_probabilities, predicted_class, tallied_scores
from core.analysis.probes import layer_labels, weighted_layers
from core.data.mnist import Task
from core.events import EpochEnded, Event, SettingsChanged, Started, Step, StepColumns, Validated
from core.spec.budget import EVAL_BATCH
from core.spec.config import TrainConfig, plan_steps  # plan_steps: also read from here
from core.spec.models import ModelSpec, build
from core.train.batches import batches, prepare
from core.train.cadence import MAX_SHARE, VALIDATION_EVERY_SECONDS, Cadence
from core.train.checkpoint import checkpoint_state, restore_state
from core.train.control import TrainControl
from core.train.device import choose_device, device_label
from core.train.engines import (
    ENGINES,
    LEAN_STEP,
    StepSettings,
    flush_denormals,
    score,
    scoring_seconds_per_digit,
)
from core.train.outcome import TrainResult
from core.train.steering import BatchProbe, ChangeSettings, OneBatch, check_settings

CALLBACK_POINTS = (
    "on_start",
    "on_epoch_start",
    "on_batch_end",
    "before_epoch_end",
    "on_epoch_end",
    "on_end",
    "on_flush",  # send the steps not yet reported (before a checkpoint, on a pause)
)


def _has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class Trainer:
    """Trains spec on task with config; the settings are trusted (checked where they entered)."""

    def __init__(
        self,
        spec: ModelSpec,
        config: TrainConfig,
        task: Task,
        control: TrainControl | None = None,
        emit: Callable[[Event], None] | None = None,
        emit_many: Callable[[list[Event]], None] | None = None,
        step: StepSettings = LEAN_STEP,
    ) -> None:
        self.spec, self.config, self.task = spec, config, task
        self.step_settings = step
        self.control = control or TrainControl()
        self.emit = emit or (lambda event: None)
        # a group of steps at once: a worker sends it as one message, not one per step
        self.emit_many = emit_many or (lambda events: [self.emit(e) for e in events])
        self.device, self.notice = choose_device(config.device)
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        cpu = self.device.type == "cpu"
        self.device_generator = (
            self.generator if cpu else torch.Generator(self.device).manual_seed(config.seed)
        )
        # oneDNN's native layout on the CPU: measured, it halves a small convnet's training
        # step (the pooling and the convolutions' backward gain most); a dense net has no images
        self.memory_format = (
            torch.channels_last
            if spec.conv and cpu and step.channels_last
            else torch.contiguous_format
        )
        self.model = build(spec).to(self.device, memory_format=self.memory_format)
        # without augmentation the whole training set is normalised once, up front
        self.augmenting = config.augment.enabled
        self.x_train = prepare(task.train.images, config, self.device, not self.augmenting)
        self.y_train = task.train.labels.to(self.device)
        self.x_val = prepare(task.val.images, config, self.device, normalized=True)
        self.y_val = task.val.labels.to(self.device)
        self.n_train = len(self.y_train)
        self.batch_size, self.steps_per_epoch, self.total_steps = plan_steps(self.n_train, config)
        self.engine = ENGINES[config.engine](
            self.model, spec, config, self.total_steps, self.steps_per_epoch, step
        )
        self.skip_single = _has_batch_norm(self.model)  # batch norm cannot train on one digit
        self.callbacks: dict[str, list[Callable[[Trainer], None]]] = defaultdict(list)
        # the loop's state, read by callbacks
        self.step = self.epoch = 0
        self.samples_seen = 0  # over the whole run: what its training FLOPs are counted from
        self.loss: torch.Tensor | None = None  # the last batch's, detached, on the device
        self.outputs: torch.Tensor | None = None
        self.lr = config.lr
        self.steps = StepColumns()
        self.epochs: list[EpochEnded] = []
        self.settings_changes: list[SettingsChanged] = []
        self.last_val: Validated | None = None
        self.val_outputs: list[torch.Tensor] = []  # last_val's outputs, a batch at a time
        self.scoring_seconds_per_digit = 0.0
        self.stepping_seconds: float | None = None  # training_seconds() at the last step
        self.seconds_before = 0.0  # training seconds of the run before a resume
        self.paused_seconds = 0.0
        self.started = time.perf_counter()
        self.start_step = 0
        self.grad_every = 0  # gradient norms every this many steps (set by StepLog); 0: none
        self.validation = Cadence(VALIDATION_EVERY_SECONDS, MAX_SHARE["validation"])

    def add_callback(self, on: str, callback: Callable[[Trainer], None]) -> None:
        """Call callback(trainer) at a point of the loop: one of CALLBACK_POINTS."""
        if on not in CALLBACK_POINTS:
            raise ValueError(f"on: {on!r} is not one of {CALLBACK_POINTS}")
        self.callbacks[on].append(callback)

    def trigger(self, on: str) -> None:
        """Run the callbacks registered for a point of the loop."""
        for callback in self.callbacks[on]:
            callback(self)

    @property
    def epoch_is_a_step(self) -> bool:
        """Return whether every epoch is one step (full batch): work done at an epoch's end then
        waits until it is due by the clock (core.train.cadence), as it would after any step."""
        return self.steps_per_epoch == 1

    @property
    def end_is_near(self) -> bool:
        """Return whether the run ends within a tenth of an epoch from here: work done at this
        epoch's end would be done again moments later at the run's end, so it waits for that."""
        left = self.total_steps - self.step
        return not self.control.stopped and 0 < left <= self.steps_per_epoch // 10

    @property
    def device_name(self) -> str:
        return device_label(self.device)

    def run(self) -> TrainResult:
        """Train until the planned steps are done or a stop is asked for; return the result."""
        flush_denormals()
        # the left counter prices the run's end with it (a few tens of ms for a convnet)
        self.scoring_seconds_per_digit = scoring_seconds_per_digit(self.model, self.x_val[:1024])
        self.started = time.perf_counter()  # the clock of training_seconds() starts here
        self.emit(self.plan())
        self.trigger("on_start")
        while self.step < self.total_steps and not self.control.stopped:
            self.epoch += 1
            self._begin_epoch()
            self.trigger("on_epoch_start")
            for xb, yb in batches(self):
                one_batch = self._wait_and_steer()
                if self.control.stopped:
                    break
                probe = BatchProbe(self, xb, yb) if one_batch else None
                self.loss, self.outputs, self.lr = self.engine.step(xb, yb)
                self.step += 1
                self._tally(yb)
                self.trigger("on_batch_end")
                if probe is not None:
                    self.emit(probe.report(self))
            self.trigger("before_epoch_end")
            if self.seen == 0:
                break
            self._end_epoch()
            self.trigger("on_epoch_end")
        self.trigger("on_end")
        return self._result()

    def _wait_and_steer(self) -> bool:
        """Take the requests sent since the last step, waiting while paused; return True when
        the paused loop is asked to train one batch (it stays paused after it)."""
        one_batch, waited, reported = False, 0.0, False
        while (request := self.control.next_request()) is not None or self.control.paused:
            if request is None:
                if not reported:  # a paused run shows every step it took, not the last group's
                    self.trigger("on_flush")
                    reported = True
                waited += self.control.wait_while_paused(timeout=0.05)
            elif isinstance(request, ChangeSettings):
                self.change_settings(request.lr, request.momentum)
            elif isinstance(request, OneBatch) and self.control.paused:
                one_batch = True
                break
        self.paused_seconds += waited
        self.epoch_paused += waited
        return one_batch

    def change_settings(
        self, lr: float | None = None, momentum: float | None = None
    ) -> SettingsChanged:
        """Train at lr and momentum (None: as they are) from the next step on; emit the change.

        The schedule ends here: the run keeps these values until the next change (see
        core.train.steering). momentum is Adam's and AdamW's β₁.
        """
        check_settings(self.config.optimizer, lr, momentum)
        previous_lr, previous_momentum = self.engine.settings()
        self.engine.change_settings(lr, momentum)
        now_lr, now_momentum = self.engine.settings()
        change = SettingsChanged(
            step=self.step,
            lr=float(now_lr),
            momentum=float(now_momentum),
            previous_lr=float(previous_lr),
            previous_momentum=float(previous_momentum),
        )
        self.settings_changes.append(change)
        self.emit(change)
        return change

    def plan(self) -> Started:
        """Return the start event: what this run will do."""
        return Started(
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            epochs=math.ceil(self.total_steps / self.steps_per_epoch),
            batch_size=self.batch_size,
            device=self.device_name,
            notice=self.notice,
            n_train=self.n_train,
            n_val=len(self.y_val),
            n_test=len(self.task.test),
            layers=layer_labels(self.model),
            first_layer_units=weighted_layers(self.model)[0].weight.shape[0],
            grad_every=self.grad_every,
            start_step=self.start_step,
            scoring_seconds_per_digit=self.scoring_seconds_per_digit,
        )

    def validate(self) -> Validated:
        """Score the validation digits now, emit and remember the result."""
        started = time.perf_counter()
        self.val_outputs = []  # the calibration at the run's end reads the last ones
        val_loss, val_accuracy = score(
            self.model, self.x_val, self.y_val, self.config, self.spec.outputs, self.val_outputs
        )
        self.last_val = Validated(
            step=self.step,
            epoch=self.epoch,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            seconds=time.perf_counter() - started,
        )
        self.emit(self.last_val)
        self.validation.ran(started)
        return self.last_val

    def _begin_epoch(self) -> None:
        self.epoch_started = time.perf_counter()
        self.epoch_paused = 0.0
        if not self.model.training:  # a full-batch run begins an epoch at every step
            self.model.train()
        self.seen = 0
        self.tallied: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def _tally(self, labels: torch.Tensor) -> None:
        self.seen += len(labels)
        self.samples_seen += len(labels)
        if self.epoch_is_a_step:
            self.batch_labels = labels  # its one batch is its epoch: scored at its end, no sums
            return
        # kept on the device and scored once, at the epoch's end: no op a step, where five
        # small ones cost a sub-millisecond step about 5% (python -m core bench --overhead)
        self.tallied.append((self.loss, self.outputs, labels))

    def _end_epoch(self) -> None:
        val = self.last_val if self.last_val and self.last_val.step == self.step else None
        last = self.step >= self.total_steps or self.control.stopped
        if last:
            # the run's seconds end with its last step: scoring the final model on the
            # validation digits, as on the test digits, is the run's end, not its training
            self.stepping_seconds = self.training_seconds()
        # an epoch of one step (full batch) is scored when due; longer ones always, unless
        # the run ends a few steps later and is scored there
        due = self.validation.due() if self.epoch_is_a_step else not self.end_is_near
        if val is None and (last or due):
            val = self.validate()
        scored = val is not None
        # not due: this epoch has no validation score of its own (the charts skip it)
        val = val or Validated(
            step=self.step, epoch=self.epoch, val_loss=math.nan, val_accuracy=math.nan
        )
        if not self.epoch_is_a_step:
            train_loss, train_accuracy = tallied_scores(self.tallied)
            self.tallied = []
        else:
            # its one batch is the step's: the loss is known; the accuracy, a few passes over
            # the whole set (5% of a small step), is counted when the validation is, or NaN
            train_loss, train_accuracy = float(self.loss), math.nan
            if scored:
                predicted = predicted_class(self.outputs)
                train_accuracy = int(torch.eq(predicted, self.batch_labels).sum()) / self.seen
        event = EpochEnded(
            epoch=self.epoch,
            step=self.step,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            val_loss=val.val_loss,
            val_accuracy=val.val_accuracy,
            seconds=time.perf_counter() - self.epoch_started - self.epoch_paused,
            complete=self.seen >= self.n_train - (1 if self.skip_single else 0),
        )
        self.epochs.append(event)
        self.emit(event)

    def training_seconds(self) -> float:
        """Return the seconds spent training so far, pauses excluded (resumed runs included)."""
        return self.seconds_before + time.perf_counter() - self.started - self.paused_seconds

    def _result(self) -> TrainResult:
        seconds = self.stepping_seconds
        if seconds is None:  # stopped before its first step
            seconds = self.training_seconds()
        complete = [e for e in self.epochs if e.complete]
        x_test = prepare(self.task.test.images, self.config, self.device, normalized=True)
        test_outputs: list[torch.Tensor] = []
        test_loss, test_accuracy = score(
            self.model,
            x_test,
            self.task.test.labels.to(self.device),
            self.config,
            self.spec.outputs,
            kept=test_outputs,
        )
        calibration = self._calibration(test_outputs)
        return TrainResult(
            model=self.model.to("cpu", memory_format=torch.contiguous_format).eval(),
            status="stopped" if self.control.stopped else "finished",
            steps=self.steps,
            epochs=self.epochs,
            seconds=seconds,
            seconds_per_epoch=(
                sum(e.seconds for e in complete) / len(complete) if complete else None
            ),
            device=self.device_name,
            test_loss=test_loss,
            test_accuracy=test_accuracy,
            settings_changes=self.settings_changes,
            calibration=calibration,
        )

    @torch.no_grad()
    def _calibration(self, test_outputs: list[torch.Tensor]) -> dict:
        # a temperature fit on the validation digits, else on half of the test digits
        if not test_outputs:
            return {}
        head, fit = self.spec.output, None
        test = output_probabilities(torch.cat(test_outputs), head).cpu()
        if len(self.y_val):
            parts = self.val_outputs  # the last validation's, when it was of these weights
            if not (self.last_val and self.last_val.step == self.step and parts):
                self.model.eval()
                parts = [
                    self.model(self.x_val[i : i + EVAL_BATCH])
                    for i in range(0, len(self.y_val), EVAL_BATCH)
                ]
            fit = output_probabilities(torch.cat(parts), head).cpu()
        return calibrate_run(fit, self.y_val.cpu(), test, self.task.test.labels)

    def release(self) -> None:
        """Drop every tensor the trainer holds (after running out of memory)."""
        self.model = self.engine = self.loss = self.outputs = None
        self.val_outputs = []
        self.x_train = self.y_train = self.x_val = self.y_val = None
        self.callbacks.clear()

    # checkpoints: everything needed to continue as if the run had never stopped
    # (core.train.checkpoint)
    def checkpoint_state(self) -> dict:
        """Return the loop's state after an epoch: weights, engine, random generators, counters."""
        return checkpoint_state(self)

    def restore(
        self,
        state: dict,
        steps: list[Step],
        epochs: list[EpochEnded],
        settings_changes: list[SettingsChanged] = (),
    ) -> None:
        """Continue from checkpoint_state() and the metrics saved with it."""
        restore_state(self, state, steps, epochs, settings_changes)
