"""Training settings: a JSON-friendly dataclass, validated in one place.

A leaf: it imports no trainer code. What may be trained with which network (and on this
machine) is core.train.checks; the ranges below are the one table that validation and the
Train page's widgets both read.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields

from core.data.augment import AugmentConfig
from core.data.datasets import DEFAULT_DATASET, get_dataset
from core.spec.models import check_choice, strict_from_dict
from core.spec.names import check_set_name
from core.spec.quote import quoted
from core.spec.task import ALL_DIGITS, NORMALIZATIONS, validate_classes

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "nll", "mse")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
ENGINES = ("autograd", "scratch")


# field -> (lowest, highest) allowed; integers where both ends are ints
LIMITS: dict[str, tuple[float, float]] = {
    "lr": (1e-6, 10.0),
    "momentum": (0.0, 0.999),
    "beta1": (0.0, 0.999),
    "beta2": (0.0, 0.9999),
    "batch_size": (1, 60000),
    "epochs": (1, 500),
    "iterations": (0, 1_000_000),
    "weight_decay": (0.0, 1.0),
    "step_epochs": (1, 100),
    "step_gamma": (0.01, 1.0),
    "seed": (0, 2**31 - 1),
    "train_fraction": (0.001, 1.0),
    "val_fraction": (0.0, 0.4),
    "eval_every": (0, 1_000_000),
    "my_digits_repeat": (1, 1000),
}


def check_limit(name: str, value) -> None:
    """Raise ValueError naming the field when value is outside LIMITS[name] (the one table)."""
    low, high = LIMITS[name]
    _check_number(name, value, low, high, integer=isinstance(low, int) and isinstance(high, int))


def _check_number(name: str, value, low: float, high: float, integer: bool = False) -> None:
    # NaN fails every comparison, so the range test refuses it (and ±inf) without a special case
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        span = f"{low}..{high}" if integer else f"{low:g}..{high:g}"
        raise ValueError(f"{name}: {quoted(value)} must be {kind} in the allowed range {span}")


@dataclass
class TrainConfig:
    """Everything about how a network is trained; travels from widget to trainer to run folder."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0  # sgd and rmsprop only
    beta1: float = 0.9  # adam and adamw: the decay of the gradient's running mean
    beta2: float = 0.999  # adam and adamw: the decay of the squared gradient's running mean
    batch_size: int = 64
    full_batch: bool = False  # one step per epoch over the whole training set
    epochs: int = 10
    iterations: int = 0  # when > 0, train for this many steps instead of epochs
    weight_decay: float = 0.0
    loss: str = "cross_entropy"
    schedule: str = "constant"
    step_epochs: int = 1  # "step" schedule: decay every this many epochs
    step_gamma: float = 0.7  # "step" schedule: multiply the rate by this
    # "onecycle": also cycle momentum (adam's β₁) 0.95 → 0.85 → 0.95 against the rate, as
    # PyTorch does by default; off, the optimizer keeps its own momentum or β₁ throughout
    cycle_momentum: bool = True
    seed: int = 0
    device: str = "auto"
    normalization: str = "none"
    classes: list[int] = field(default_factory=lambda: list(ALL_DIGITS))
    train_fraction: float = 1.0
    val_fraction: float = 1 / 12  # held out of the training set: 5,000 of 60,000
    eval_every: int = 0  # extra validation every N steps (0: only at epoch ends)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    engine: str = "autograd"
    # a set of my digits (core.data.mydigits) added to the training digits, "" for none; each of
    # them appears my_digits_repeat times an epoch, so a few dozen are not lost among 55,000
    my_digits: str = ""
    my_digits_repeat: int = 20
    dataset: str = DEFAULT_DATASET  # "mnist" or "fashion-mnist" (core.data.datasets)

    def validate(self) -> TrainConfig:
        """Return self if every field is in range, else raise ValueError naming the field."""
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_limit("lr", self.lr)
        check_limit("momentum", self.momentum)
        check_limit("beta1", self.beta1)
        check_limit("beta2", self.beta2)
        check_limit("batch_size", self.batch_size)
        check_limit("epochs", self.epochs)
        check_limit("iterations", self.iterations)
        check_limit("weight_decay", self.weight_decay)
        check_choice("loss", self.loss, LOSSES)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_limit("step_epochs", self.step_epochs)
        check_limit("step_gamma", self.step_gamma)
        check_limit("seed", self.seed)
        check_choice("device", self.device, DEVICES)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        self.classes = list(validate_classes(self.classes))
        check_limit("train_fraction", self.train_fraction)
        check_limit("val_fraction", self.val_fraction)
        check_limit("eval_every", self.eval_every)
        check_choice("engine", self.engine, ENGINES)
        if self.my_digits != "":
            self.my_digits = check_set_name(self.my_digits, "my_digits")
        check_limit("my_digits_repeat", self.my_digits_repeat)
        get_dataset(self.dataset)
        if self.my_digits and self.dataset != DEFAULT_DATASET:
            raise ValueError(
                "my_digits: your own digits train with MNIST only, not with " + self.dataset
            )
        for name in ("full_batch", "cycle_momentum"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: {quoted(getattr(self, name))} must be true or false")
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


def parse_field_text(name: str, text: str, kind: str):
    """Return text (from a link or a command line) read as a field of kind, or raise ValueError naming it."""
    try:
        if kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "list[int]":
            if not text.isdigit():
                raise ValueError
            return [int(digit) for digit in text]
    except ValueError:
        raise ValueError(f"{name}: {quoted(text)} is not a valid {kind}") from None
    return text


def field_kinds(cls) -> dict[str, str]:
    """Return each field of dataclass cls with its annotated type as text ('int', 'list[int]')."""
    # annotations are strings here (from __future__ import annotations in core)
    return {f.name: str(f.type) for f in fields(cls)}


def plan_steps(n_train: int, config: TrainConfig) -> tuple[int, int, int]:
    """Return (batch size, steps per epoch, total steps) for a training set of n_train."""
    batch = n_train if config.full_batch else min(config.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch)
    total = config.iterations if config.iterations > 0 else steps_per_epoch * config.epochs
    return batch, steps_per_epoch, total


def env_amount(name: str, default: float, unit: str, zero_means: str) -> float:
    """Return a non-negative number of `unit` from environment variable `name` (default when
    unset); ValueError naming the variable otherwise. 0 means zero_means (said in the message)."""
    text = os.environ.get(name)
    try:
        value = default if not text else float(text)
    except ValueError:
        raise ValueError(f"{name} must be {unit}, got {quoted(text)}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be 0 ({zero_means}) or more {unit}, got {quoted(text)}")
    return value
