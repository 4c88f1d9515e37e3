"""A run's replay: snapshots of the network taken while it trained, kept in its run folder.

`ReplayRecorder` is a trainer callback. Before the first step, after a few early steps
(EARLY_STEPS) and at the end of each epoch (thinned evenly past MAX_FRAMES; a full-batch run
skips those that would take more than its MAX_SHARE of its training time) it runs a fixed
set of test digits through the network in eval mode, without gradients, and keeps:
- the first layer's weights (its first 64 units), each tile stored as int8 of ±its largest value;
- a 2-D PCA of the last hidden layer for PROBE_POINTS test digits;
- the confusion matrix of the network's answers on those same digits;
- the probabilities it gives REPLAY_DIGITS other test digits.
The digits are drawn once with their own seed from the task's test set, so every frame, and
every run of the same digits, shows the same ones; nothing here draws from the training's
random generators, so a run trains exactly as it would without its replay.

PCA's axes are only defined up to sign and order, and drift as the features change. So that
points move between frames instead of flipping, each frame is centred, scaled to unit spread,
and turned (orthogonal Procrustes: a rotation or reflection) to best match the frame after it,
from the last frame backwards: the last frame keeps its own PCA axes, and every earlier one
is the turn of its own PCA closest to its successor. It is done whenever a replay is saved.

On disk: core.runs.replay_files (replay.json and replay.safetensors); runs saved before replays
were recorded simply have none (Run.replay is None).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch

from core.analysis import inside
from core.analysis.evaluation import output_probabilities, predicted_class
from core.analysis.probes import weight_snapshot
from core.data.mnist import normalize, to_float
from core.runs.replay_files import WEIGHT_LEVELS, Replay
from core.runs.schema import MAX_REPLAY_FRAMES
from core.train.cadence import MAX_SHARE, Cadence

if TYPE_CHECKING:
    from core.train.trainer import Trainer

EARLY_STEPS = (0, 10, 25, 50, 100, 200, 400)  # clusters form mostly within the first epoch
MAX_FRAMES = MAX_REPLAY_FRAMES
PROBE_POINTS = 500  # test digits projected (and scored for the confusion matrix) per frame
REPLAY_DIGITS = 16  # test digits whose probabilities are kept per frame
REPLAY_SEED = 0  # the digits' own seed: the same digits for every run of the same classes
# frames may take at most this share of the training time: a full-batch run of a few seconds
# (seed-3v7) spent 12% of it on 32 planned frames; it keeps fewer, its first and last always


class Frame(NamedTuple):
    """One snapshot, as the recorder keeps it until the replay is saved."""

    step: int
    epoch: int
    weights: torch.Tensor
    weight_scales: torch.Tensor
    coords: torch.Tensor
    explained: torch.Tensor
    confusion: torch.Tensor
    probabilities: torch.Tensor


# --- which digits, which steps ---------------------------------------------------------------


def choose_digits(labels: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the rows of the projected digits and of the replay digits (a class each in turn)."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(REPLAY_SEED))
    probes = order[:PROBE_POINTS]
    by_class = [order[labels[order] == c] for c in range(classes)]
    turns = [rows[rank] for rank in range(REPLAY_DIGITS) for rows in by_class if rank < len(rows)]
    return probes, torch.stack(turns[:REPLAY_DIGITS])


def plan_frames(total_steps: int, steps_per_epoch: int) -> tuple[frozenset, frozenset]:
    """Return the early steps and the epochs whose ends are recorded, at most MAX_FRAMES in all.

    One frame is left spare for a run stopped between planned frames.
    """
    early = frozenset(s for s in EARLY_STEPS if s < total_steps)
    epochs = math.ceil(total_steps / max(steps_per_epoch, 1))
    room = MAX_FRAMES - len(early) - 1
    if epochs <= room:
        return early, frozenset(range(1, epochs + 1))
    # evenly thinned, the last epoch always among them
    return early, frozenset(round(1 + i * (epochs - 1) / (room - 1)) for i in range(room))


def align_frames(coords: torch.Tensor) -> torch.Tensor:
    """Return (F, N, 2) coords centred, scaled to unit spread and turned to match the next frame.

    The last frame keeps its axes; each earlier one takes the rotation or reflection of its own
    (orthogonal Procrustes) that lies closest to the frame after it.
    """
    frames = []
    for frame in coords.to(torch.float64):
        centred = frame - frame.mean(0, keepdim=True)
        spread = centred.pow(2).sum(1).mean().sqrt()
        frames.append(centred / spread if spread > 0 else centred)
    for i in range(len(frames) - 2, -1, -1):
        left, _, right = torch.linalg.svd(frames[i].T @ frames[i + 1])
        frames[i] = frames[i] @ (left @ right)
    return torch.stack(frames).to(torch.float32)


# --- the callback ----------------------------------------------------------------------------


def _two_columns(values: torch.Tensor) -> torch.Tensor:
    # a network whose last hidden layer has one unit has one principal axis
    missing = 2 - values.shape[-1]
    return torch.nn.functional.pad(values, (0, missing)) if missing > 0 else values


class ReplayRecorder:
    """Snapshots the network at the planned steps; `replay()` returns what it has so far."""

    def attach(self, trainer: Trainer) -> None:
        self.frames: list[Frame] = []
        self.classes = len(trainer.config.classes)
        test = trainer.task.test
        if len(test) < 2:
            return  # nothing to project
        self.probe_rows, self.digit_rows = choose_digits(test.labels, self.classes)
        rows = torch.cat([self.probe_rows, self.digit_rows])
        pixels = to_float(test.images[rows]).to(trainer.device)
        self.images = normalize(pixels, trainer.config.normalization)
        self.labels = test.labels[self.probe_rows].clone()
        self.digits = test.images[self.digit_rows].clone()
        self.digit_labels = test.labels[self.digit_rows].clone()
        self.probe_indices = test.indices[self.probe_rows].tolist()
        self.digit_indices = test.indices[self.digit_rows].tolist()
        self.early, self.epochs = plan_frames(trainer.total_steps, trainer.steps_per_epoch)
        self.head = inside.last_linear_index(trainer.model)
        self.cadence = Cadence(0.0, MAX_SHARE["replay"])
        trainer.add_callback("on_start", self.record)
        trainer.add_callback("on_batch_end", self.on_batch_end)
        trainer.add_callback("on_epoch_end", self.on_epoch_end)

    @staticmethod
    def of(trainer: Trainer) -> ReplayRecorder | None:
        """Return the recorder attached to a trainer, or None."""
        for callback in trainer.callbacks.get("on_epoch_end", ()):
            if isinstance(getattr(callback, "__self__", None), ReplayRecorder):
                return callback.__self__
        return None

    def _due(self, trainer: Trainer) -> bool:
        # epochs of many steps keep every planned frame (the same frames for a resumed run);
        # an epoch of one step (full batch) takes its planned frames while they are cheap
        return not trainer.epoch_is_a_step or self.cadence.due()

    def on_batch_end(self, trainer: Trainer) -> None:
        if trainer.step in self.early and self._due(trainer):
            self.record(trainer)

    def on_epoch_end(self, trainer: Trainer) -> None:
        last = trainer.step >= trainer.total_steps or trainer.control.stopped
        if last or (trainer.epoch in self.epochs and self._due(trainer)):
            self.record(trainer)

    def record(self, trainer: Trainer) -> None:
        """Take a frame of the network as it is now (once per step)."""
        if any(frame.step == trainer.step for frame in self.frames):
            return
        started = self.cadence.clock()
        frame = self.snapshot(trainer)
        self.cadence.ran(started)
        if frame is None:
            return  # the weights are no longer finite: the step log ends the run
        if len(self.frames) >= MAX_FRAMES:
            self.frames.pop()  # never past the cap: the newest frame replaces the one before
        self.frames.append(frame)

    @torch.no_grad()
    def snapshot(self, trainer: Trainer) -> Frame | None:
        """Return a frame of the network now, or None if its features are not finite."""
        model, points = trainer.model, len(self.labels)
        training = model.training
        model.eval()  # dropout off and batch norm's running statistics left alone
        try:
            features = model[: self.head](self.images).flatten(1)
            outputs = model[self.head :](features)
        finally:
            model.train(training)
        features, outputs = features.cpu(), outputs.cpu().to(torch.float32)
        if not (torch.isfinite(features).all() and torch.isfinite(outputs).all()):
            return None
        coords, explained = inside.principal_axes(features[:points])
        predicted = predicted_class(outputs[:points])
        k = self.classes
        confusion = torch.bincount(self.labels * k + predicted, minlength=k * k).reshape(k, k)
        weights = weight_snapshot(model, trainer.spec).to(torch.float32)
        scales = weights.flatten(1).abs().amax(1)
        steps = (weights / scales.clamp_min(1e-30)[:, None, None] * WEIGHT_LEVELS).round()
        return Frame(
            step=trainer.step,
            epoch=trainer.epoch,
            weights=steps.to(torch.int8),
            weight_scales=scales,
            coords=_two_columns(coords),
            explained=_two_columns(explained),
            confusion=confusion.to(torch.int32),
            probabilities=output_probabilities(outputs[points:], trainer.spec.output),
        )

    def resume(self, replay: Replay | None) -> None:
        """Continue the frames of a replay saved by a checkpoint of the same run."""
        if replay is None or not hasattr(self, "probe_indices"):
            return
        if replay.probe_indices != self.probe_indices or replay.labels.shape != self.labels.shape:
            return  # other digits: its frames would not line up with the new ones
        self.frames = [
            Frame(
                step,
                epoch,
                replay.weights[i],
                replay.weight_scales[i],
                replay.coords[i].to(torch.float32),
                replay.explained[i],
                replay.confusion[i],
                replay.probabilities[i].to(torch.float32),
            )
            for i, (step, epoch) in enumerate(zip(replay.steps, replay.epochs))
        ]

    def replay(self, tiles_total: int) -> Replay | None:
        """Return the frames so far as a Replay (coords aligned), or None if there are none."""
        if not self.frames:
            return None
        frames = self.frames

        def stacked(name: str) -> torch.Tensor:
            return torch.stack([getattr(frame, name) for frame in frames])

        return Replay(
            steps=[frame.step for frame in frames],
            epochs=[frame.epoch for frame in frames],
            weights=stacked("weights"),
            weight_scales=stacked("weight_scales").to(torch.float32),
            coords=align_frames(stacked("coords")).to(torch.float16),
            explained=stacked("explained").to(torch.float32),
            labels=self.labels,
            confusion=stacked("confusion"),
            probabilities=stacked("probabilities").to(torch.float16),
            digits=self.digits,
            digit_labels=self.digit_labels,
            probe_indices=self.probe_indices,
            digit_indices=self.digit_indices,
            tiles_total=tiles_total,
        )


def recorded_replay(trainer: Trainer) -> Replay | None:
    """Return the replay a trainer's recorder holds so far, or None if it has no recorder."""
    recorder = ReplayRecorder.of(trainer)
    if recorder is None:
        return None
    return recorder.replay(inside.first_layer_weights(trainer.model, trainer.spec).shape[0])


def resume_replay(trainer: Trainer, replay: Replay | None) -> None:
    """Give a resumed trainer's recorder the frames its checkpoint saved."""
    recorder = ReplayRecorder.of(trainer)
    if recorder is not None:
        recorder.resume(replay)
