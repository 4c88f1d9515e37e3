"""Training settings: a JSON-friendly dataclass, validated in one place."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from core.augment import AugmentConfig
from core.budget import check_fits
from core.data import ALL_DIGITS, NORMALIZATIONS, split_sizes, validate_classes
from core.models import ModelSpec, _check_choice, strict_from_dict
from core.scratch import check_supported

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "nll", "mse")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
ENGINES = ("autograd", "scratch")


def _check_number(name: str, value, low: float, high: float, integer: bool = False) -> None:
    # NaN fails every comparison, so the range test refuses it (and ±inf) without a special case
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        span = f"{low}..{high}" if integer else f"{low:g}..{high:g}"
        raise ValueError(f"{name}: {value!r} must be {kind} in the allowed range {span}")


@dataclass
class TrainConfig:
    """Everything about how a network is trained; travels from widget to trainer to run folder."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0  # sgd and rmsprop only
    batch_size: int = 64
    full_batch: bool = False  # one step per epoch over the whole training set
    epochs: int = 10
    iterations: int = 0  # when > 0, train for this many steps instead of epochs
    weight_decay: float = 0.0
    loss: str = "cross_entropy"
    schedule: str = "constant"
    step_epochs: int = 1  # "step" schedule: decay every this many epochs
    step_gamma: float = 0.7  # "step" schedule: multiply the rate by this
    seed: int = 0
    device: str = "auto"
    normalization: str = "none"
    classes: list[int] = field(default_factory=lambda: list(ALL_DIGITS))
    train_fraction: float = 1.0
    val_fraction: float = 1 / 12  # held out of the training set: 5,000 of 60,000
    eval_every: int = 0  # extra validation every N steps (0: only at epoch ends)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    engine: str = "autograd"

    def validate(self) -> TrainConfig:
        """Return self if every field is in range, else raise ValueError naming the field."""
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_number("lr", self.lr, 1e-6, 10.0)
        _check_number("momentum", self.momentum, 0.0, 0.999)
        _check_number("batch_size", self.batch_size, 1, 60000, integer=True)
        _check_number("epochs", self.epochs, 1, 500, integer=True)
        _check_number("iterations", self.iterations, 0, 1_000_000, integer=True)
        _check_number("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_number("step_epochs", self.step_epochs, 1, 100, integer=True)
        _check_number("step_gamma", self.step_gamma, 0.01, 1.0)
        _check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        _check_choice("device", self.device, DEVICES)
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        self.classes = list(validate_classes(self.classes))
        _check_number("train_fraction", self.train_fraction, 0.001, 1.0)
        _check_number("val_fraction", self.val_fraction, 0.0, 0.4)
        _check_number("eval_every", self.eval_every, 0, 1_000_000, integer=True)
        _check_choice("engine", self.engine, ENGINES)
        if not isinstance(self.full_batch, bool):
            raise ValueError(f"full_batch: {self.full_batch!r} must be true or false")
        self.augment.validate()
        return self

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build and validate a config from a dict, refusing unknown fields."""
        data = dict(data)
        if "augment" in data:
            data["augment"] = strict_from_dict(AugmentConfig, data["augment"], "augment")
        return strict_from_dict(cls, data, "config").validate()

    def to_json(self) -> str:
        """Return the config as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse and validate a config from JSON text."""
        return cls.from_dict(json.loads(text))


def check_compatible(spec: ModelSpec, config: TrainConfig) -> None:
    """Raise ValueError when the network cannot be trained with this task, loss and engine."""
    n_classes = len(config.classes)
    if spec.outputs == 1:
        if n_classes != 2:
            raise ValueError(
                f"outputs: a single output only separates two digits, but classes has {n_classes}"
            )
        if config.loss != "mse":
            raise ValueError(
                "loss: a single-output network is trained with 'mse' against 1/0 targets"
            )
    elif spec.outputs != n_classes:
        raise ValueError(
            f"outputs: the network has {spec.outputs} outputs but classes {config.classes} has {n_classes} digits"
        )
    if config.loss == "nll" and spec.output != "log_softmax":
        raise ValueError("loss: 'nll' expects log-probabilities; set output to 'log_softmax'")
    if config.loss == "cross_entropy" and spec.output not in ("logits", "log_softmax"):
        raise ValueError(
            f"loss: 'cross_entropy' expects raw scores, but output is {spec.output!r}; use 'logits'"
        )
    if config.engine == "scratch":
        check_supported(spec, config)


def check_batch_size(config: TrainConfig) -> None:
    """Raise ValueError when the batch is larger than the task's training set (full batch is fine)."""
    if config.full_batch:
        return
    n_train, _ = split_sizes(config.classes, config.train_fraction, config.val_fraction)
    if config.batch_size > n_train:
        raise ValueError(
            f"batch_size: {config.batch_size:,} is larger than the {n_train:,} training digits "
            f"of this task; pick 1..{n_train:,} or full batch"
        )


def check_trainable(spec: ModelSpec, config: TrainConfig) -> None:
    """Raise ValueError naming the field when spec cannot be trained with config on this machine.

    Beyond validate() and check_compatible(): the batch must fit in the task's training set and
    the whole run in the memory budget (core.budget). These two are checked only before
    training, not when a saved run is loaded: a run made elsewhere must still open here.
    """
    spec.validate()
    config.validate()
    check_compatible(spec, config)
    check_batch_size(config)
    check_fits(spec, config)
