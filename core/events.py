"""The one vocabulary of training events: small dataclasses that cross processes as plain dicts.

The trainer emits them, a worker process sends them to the server as `to_dict()`, the job
registry keeps them, the CLI's progress bar prints them and the pages draw them. Arrays
(weights, 2-D coordinates) are numpy inside an event and lists in its dict, so the dict is JSON.
"""

from __future__ import annotations

import base64
import time
from array import array
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened in a training job; `time` is when (seconds since the epoch)."""

    kind: ClassVar[str] = "event"
    arrays: ClassVar[tuple[str, ...]] = ()  # fields that hold numpy arrays
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict: the event's fields and its 'type'."""
        data: dict = {"type": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return data

    @staticmethod
    def from_dict(data: dict) -> Event:
        """Return the event a dict from to_dict() describes; raise ValueError for anything else."""
        if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
            kind = data.get("type") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"type: {kind!r} is not a training event")
        cls = EVENT_TYPES[data["type"]]
        values = {k: v for k, v in data.items() if k != "type"}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{cls.kind}: unknown fields {sorted(unknown)}")
        for name in cls.arrays:
            if values.get(name) is not None:
                values[name] = np.asarray(values[name], dtype=np.float32)
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class Started(Event):
    """Training has begun (or resumed at start_step): the plan the pages show progress against."""

    kind: ClassVar[str] = "start"
    total_steps: int
    steps_per_epoch: int
    epochs: int
    batch_size: int
    device: str
    notice: str | None = None  # e.g. "no GPU: training on the CPU instead"
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    layers: list[str] = field(default_factory=list)  # 'conv 1', 'dense 1', …, 'output'
    first_layer_units: int = 0
    grad_every: int = 1  # gradient norms are sampled every this many steps
    start_step: int = 0  # above 0 when a checkpoint was resumed
    # a forward pass's seconds per digit, timed on a few validation digits before the first
    # step: what scoring the validation and test digits at the run's end will cost
    scoring_seconds_per_digit: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Step(Event):
    """One optimizer step: the batch's loss, the rate it used and how fast training goes."""

    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    loss: float
    lr: float
    samples_per_s: float = 0.0
    grad_norms: list[float] | None = None  # per weighted layer, on sampled steps only


@dataclass(frozen=True, kw_only=True)
class Validated(Event):
    """The validation digits were scored."""

    kind: ClassVar[str] = "val"
    step: int
    epoch: int
    val_loss: float
    val_accuracy: float
    seconds: float = 0.0  # the scoring's: the "left" counter prices the run's end by it


@dataclass(frozen=True, kw_only=True)
class EpochEnded(Event):
    """An epoch ended: its training and validation scores and its seconds (pauses excluded)."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    complete: bool = True  # False when stopped or cut short by an iteration count


@dataclass(frozen=True, kw_only=True)
class WeightsSnapshot(Event):
    """The first layer's weights as images (at most 64), for the live view."""

    kind: ClassVar[str] = "weights"
    arrays: ClassVar[tuple[str, ...]] = ("weights",)
    step: int
    epoch: int
    weights: np.ndarray  # (units, height, width)


@dataclass(frozen=True, kw_only=True)
class FeaturesSnapshot(Event):
    """Test digits' last-hidden-layer features projected to 2-D, for the live view."""

    kind: ClassVar[str] = "features"
    arrays: ClassVar[tuple[str, ...]] = ("coords", "explained", "labels")
    step: int
    epoch: int
    coords: np.ndarray  # (N, 2)
    explained: np.ndarray  # (2,) share of the variance each axis explains
    labels: np.ndarray  # (N,) class index of each digit


def _encode_array(array: np.ndarray) -> dict:
    data = base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": data}


def _decode_array(data: dict) -> np.ndarray:
    raw = base64.b64decode(data["data"])
    return np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(data["shape"]).copy()


@dataclass(frozen=True, kw_only=True)
class ModelSnapshot(Event):
    """Every weight of the network (its state_dict as numpy arrays), to score a drawn digit live.

    In the dict each array is {"dtype", "shape", "data": base64 of its bytes}, not a list of
    numbers: measured for 1.3M parameters, 43 ms through a pipe instead of 170 ms, 7 MB not 12.
    """

    kind: ClassVar[str] = "model"
    step: int
    epoch: int
    state: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        if not any(isinstance(value, dict) for value in self.state.values()):
            return
        decoded = {}  # from to_dict(): the arrays are base64 text
        for name, value in self.state.items():
            try:
                decoded[name] = _decode_array(value)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"model: state {name!r} is not an encoded array ({exc})") from None
        object.__setattr__(self, "state", decoded)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict, each array of the state as base64 text."""
        data = super().to_dict()
        data["state"] = {name: _encode_array(value) for name, value in self.state.items()}
        return data


@dataclass(frozen=True, kw_only=True)
class SettingsChanged(Event):
    """The rate or momentum was changed while training: used from step + 1 on, the schedule ended.

    momentum is SGD's and RMSprop's momentum, Adam's and AdamW's β₁; previous_* are what the
    next step would have used (None in a run that did not record them).
    """

    kind: ClassVar[str] = "settings"
    step: int  # the steps done when it was applied
    lr: float
    momentum: float
    previous_lr: float | None = None
    previous_momentum: float | None = None


@dataclass(frozen=True, kw_only=True)
class OneBatchReport(Event):
    """A paused job trained exactly one batch: its loss before and after, and each tensor's move.

    Both losses are of this batch with the network in eval mode (no dropout, batch norm's running
    statistics), so that they differ by the update alone.
    """

    kind: ClassVar[str] = "one_batch"
    arrays: ClassVar[tuple[str, ...]] = ("images",)
    step: int  # the step it was
    epoch: int
    lr: float
    batch_size: int
    loss_before: float
    loss_after: float
    images: np.ndarray  # (n, 28, 28) pixels 0..255: the batch's first digits, as trained
    labels: list[int]  # their digits
    predicted: list[int]  # the digits the network gives them after the update
    parameters: list[str]  # one name per parameter tensor: 'dense 1 weight', 'dense 1 bias', …
    update_norms: list[float]  # ‖ΔW‖ of each
    weight_norms: list[float]  # ‖W‖ of each, before the update


@dataclass(frozen=True, kw_only=True)
class Checkpointed(Event):
    """The run was saved after an epoch, so a crash or a killed server loses at most one epoch."""

    kind: ClassVar[str] = "checkpoint"
    epoch: int
    step: int
    run_dir: str


@dataclass(frozen=True, kw_only=True)
class Done(Event):
    """The job ended normally, finished or stopped; run_dir is None when nothing was saved."""

    kind: ClassVar[str] = "done"
    status: str  # "finished" or "stopped"
    test_accuracy: float | None = None
    test_loss: float | None = None
    run_dir: str | None = None
    reason: str | None = None  # why a run stopped by itself, e.g. past the time limit


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    """The job ended with an error; message is for the page, details (a traceback) for the log."""

    kind: ClassVar[str] = "error"
    message: str
    details: str | None = None


@dataclass(frozen=True, kw_only=True)
class Orphaned(Event):
    """The tab that owned the job stopped touching it, so the registry stopped the job."""

    kind: ClassVar[str] = "orphaned"
    unseen_seconds: float


TERMINAL = (Done, Failed)
# only the newest of each kind is kept
SNAPSHOTS = (WeightsSnapshot, FeaturesSnapshot, OneBatchReport, ModelSnapshot)
EVENT_TYPES: dict[str, type] = {
    cls.kind: cls
    for cls in (
        Started,
        Step,
        Validated,
        EpochEnded,
        WeightsSnapshot,
        FeaturesSnapshot,
        ModelSnapshot,
        SettingsChanged,
        OneBatchReport,
        Checkpointed,
        Done,
        Failed,
        Orphaned,
    )
}


def event_from_dict(data: dict) -> Event:
    """Return the event a dict from to_dict() describes (ValueError for anything else)."""
    return Event.from_dict(data)


def step_from_row(row: dict) -> Step:
    """Return a Step from a saved metrics row (the run store's columns, no 'type')."""
    return event_from_dict({"type": Step.kind, "time": 0.0, **row})


def epoch_from_row(row: dict) -> EpochEnded:
    """Return an EpochEnded from a saved metrics row."""
    return event_from_dict({"type": EpochEnded.kind, "time": 0.0, **row})


def settings_change_from_row(row: dict) -> SettingsChanged:
    """Return a SettingsChanged from a saved settings_changes row."""
    return event_from_dict({"type": SettingsChanged.kind, "time": 0.0, **row})


class StepColumns:
    """Steps kept as columns of numbers, not as objects: read back as Step objects, from any
    position, only when asked.

    A run may take 1,000,000 steps, and the trainer, the job (twenty kept) and a loaded run each
    hold its steps. As Step objects a step took about 250 bytes; as columns it takes about 50
    (issue 23, defect 2). It reads like the list it replaces: len, [i], [a:b], iteration.
    """

    FIELDS = ("step", "epoch", "loss", "lr", "samples_per_s", "time")

    def __init__(self, steps=()) -> None:
        self.step, self.epoch = array("q"), array("q")
        self.loss, self.lr = array("d"), array("d")
        self.samples_per_s, self.time = array("d"), array("d")
        self.grad_norms: dict[int, list[float]] = {}  # by position: sampled steps only
        self.extend(steps)

    @classmethod
    def from_columns(cls, columns: dict[str, list]) -> StepColumns:
        """Return the steps of metrics.json's "steps" columns (checked by the run schema)."""
        kept = cls()
        for name in cls.FIELDS:
            if name in columns:
                getattr(kept, name).extend(columns[name])
        # the trainer's losses and gradient norms are float32 numbers, saved in their shortest
        # form: through float32 again they are exactly the numbers it computed
        kept.loss = array("d", np.asarray(kept.loss, dtype=np.float32).astype(np.float64))
        if "time" not in columns:  # not saved: when the run was trained is in its summary
            kept.time.extend([0.0] * len(kept.step))
        if "samples_per_s" not in columns:
            kept.samples_per_s.extend([0.0] * len(kept.step))
        norms = columns.get("grad_norms") or []
        kept.grad_norms = {
            i: np.asarray(v, dtype=np.float32).astype(np.float64).tolist()
            for i, v in enumerate(norms)
            if v is not None
        }
        return kept

    def append(self, step: Step) -> None:
        """Keep one step."""
        if step.grad_norms is not None:
            self.grad_norms[len(self.step)] = step.grad_norms
        self.step.append(step.step)
        self.epoch.append(step.epoch)
        self.loss.append(step.loss)
        self.lr.append(step.lr)
        self.samples_per_s.append(step.samples_per_s)
        self.time.append(step.time)

    def extend(self, steps) -> None:
        """Keep each of steps, in order."""
        for step in steps:
            self.append(step)

    def __len__(self) -> int:
        return len(self.step)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.at(i) for i in range(*index.indices(len(self.step)))]
        return self.at(index)

    def __iter__(self):
        return (self.at(i) for i in range(len(self.step)))

    def __add__(self, other) -> list:
        return [*self, *other]

    def __radd__(self, other) -> list:
        return [*other, *self]

    def since(self, start: int = 0) -> list[Step]:
        """Return the steps from position start on (a negative start counts from the end)."""
        return self[start:]

    def last(self) -> Step | None:
        """Return the newest step, or None before the first."""
        return self.at(-1) if len(self.step) else None

    def at(self, i: int) -> Step:
        """Return the step at position i (negative counts from the end)."""
        if i < 0:
            i += len(self.step)
        if not 0 <= i < len(self.step):
            raise IndexError("step position out of range")
        return Step(
            step=self.step[i],
            epoch=self.epoch[i],
            loss=self.loss[i],
            lr=self.lr[i],
            samples_per_s=self.samples_per_s[i],
            grad_norms=self.grad_norms.get(i),
            time=self.time[i],
        )

    def columns(self, keys: tuple[str, ...]) -> dict[str, list]:
        """Return the named columns as lists (metrics.json's "steps")."""
        out = {}
        for key in keys:
            if key == "grad_norms":
                out[key] = [self.grad_norms.get(i) for i in range(len(self.step))]
            else:
                out[key] = getattr(self, key).tolist()
        return out
