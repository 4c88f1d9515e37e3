"""How long a run will take, estimated before it starts, and how long a run may take at all.

The estimate times a few steps of the very network on this machine (core.train.steptime) and
multiplies by the run's steps. Where a step is too slow to time before a run, it is steps × a
fixed cost per step + the training's multiply-adds ÷ a rate, both measured on this project's
2-core development machine (below), times a correction that finished runs keep up to date for
this machine (`runs/.throughput.json`). A run above the limit
($DIGITLAB_MAX_TRAIN_MINUTES, default 30) is refused before it starts, with its estimate; a run
that passes the limit anyway (estimates are estimates) is stopped and saved as stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import replace
from pathlib import Path

from core.runs.atomic import write_file
from core.runs.filelock import locked
from core.spec.budget import saved_per_image
from core.spec.config import TrainConfig, env_amount, plan_steps
from core.spec.models import ModelSpec, flat_features, multiply_adds, parameter_count
from core.spec.task import split_sizes

LIMIT_ENV = "DIGITLAB_MAX_TRAIN_MINUTES"
DEFAULT_LIMIT_MINUTES = 30.0
# Fitted to runs on the 2-core development machine with one worker thread: seed-mlp-128 (8,600
# small steps, ~15 s) is mostly the fixed cost of a step; best-mlp's dense layers (~35 s) run
# at about 5e10 multiply-adds a second, small-cnn's convolutions (~250 s) at about 1.3e10.
STEP_SECONDS = 1.2e-3
# and every parameter costs a little each step (the optimizer's update, memory-bound matrices):
# an MLP of 6 × 4,096 units (87M parameters) took 1.58 s a step at batch 64, not 0.33 s
PARAMETER_SECONDS = 5e-9
DENSE_MACS_PER_SECOND = 5.0e10
CONV_MACS_PER_SECOND = 1.3e10
BACKWARD_FACTOR = 3  # forward + backward ≈ three forward passes
# and every number a layer outputs costs its elementwise work (batch norm, activation, pooling)
# whatever the multiply-adds: without it tiny (980 parameters, 84,445 multiply-adds, 27,771
# numbers kept per digit) was estimated at 3.7 ms a step against 14.2 measured (bare steps on one
# thread, 2026-12-02), a quarter, while small-cnn and speedrun were estimated at twice theirs.
# With it the ratios lie within 0.76..2.7 instead of 0.26..2.0; the machine's correction then
# sets the level.
ACTIVATION_SECONDS = 2e-9
# augmentation (core.data.augment), seconds per training digit on one thread of the same machine:
# the warp every augmented digit gets, and what each option adds (measured 2026-12-01 on
# batches of 256; the quick-train's augmentation costs about as much as its network)
AUGMENT_SECONDS = 1.8e-5
ELASTIC_SECONDS = 2.4e-4
THICKNESS_SECONDS = 3e-5
BOLD_SECONDS = 9.4e-5  # per digit made bold
SERIF_SECONDS = 1.5e-5
# a step predicted above this is not timed before a run (the page would wait for it): the
# constants and the correction estimate it instead
MEASURED_STEP_LIMIT = 0.3
# what a run costs beyond its steps (events, probes, replay, checkpoints), from
# `python -m core bench --overhead` on 2026-12-05: 2% to 13% in the app's worker
RUN_OVERHEAD = 0.08
SCORED_PER_EPOCH = 1500  # the live PCA's 1,000 digits and a replay frame's 516
TEST_DIGITS_PER_CLASS = 1000  # MNIST's test set: about 1,000 of each digit
CORRECTION_FILE = ".throughput.json"
LOCK_FILE = ".throughput.lock"  # a file: the runs folder lists only folders
# how fast a finished run moves the correction towards what it measured
LEARNING_WEIGHT = 0.3


def planned_steps_and_samples(config: TrainConfig) -> tuple[int, int]:
    """Return the run's planned steps and the digits it trains on, in all, from the settings."""
    n_train, _ = split_sizes(config.classes, config.train_fraction, config.val_fraction)
    batch, _, steps = plan_steps(max(n_train, 1), config)  # the trainer's own plan
    return steps, steps * batch


def augment_seconds(config: TrainConfig) -> float:
    """Return the seconds augmentation adds per training digit, from the measured costs."""
    augment = config.augment
    if not augment.enabled:
        return 0.0
    return (
        AUGMENT_SECONDS
        + (ELASTIC_SECONDS if augment.elastic else 0.0)
        + (THICKNESS_SECONDS if augment.thickness > 0 else 0.0)
        + BOLD_SECONDS * augment.bold
        + (SERIF_SECONDS if augment.serif > 0 else 0.0)
    )


def raw_estimate(spec: ModelSpec, config: TrainConfig) -> float:
    """Return the training seconds the measured constants predict, before any correction."""
    steps, samples = planned_steps_and_samples(config)
    total = multiply_adds(spec)
    # the convolutions' share: the network without its dense layers, less the output layer
    conv = multiply_adds(replace(spec, dense=[])) - flat_features(spec) * spec.outputs
    per_sample = conv / CONV_MACS_PER_SECOND + (total - conv) / DENSE_MACS_PER_SECOND
    per_sample = per_sample * BACKWARD_FACTOR + saved_per_image(spec) * ACTIVATION_SECONDS
    per_step = STEP_SECONDS + parameter_count(spec) * PARAMETER_SECONDS
    return steps * per_step + (per_sample + augment_seconds(config)) * samples


def _correction_path(runs_dir: str | os.PathLike | None) -> Path | None:
    return Path(runs_dir) / CORRECTION_FILE if runs_dir else None


def correction(runs_dir: str | os.PathLike | None) -> float:
    """Return how much slower (above 1) or faster this machine has trained than the constants."""
    path = _correction_path(runs_dir)
    try:
        value = float(json.loads(path.read_text())["correction"]) if path else 1.0
    except (OSError, ValueError, KeyError, TypeError):
        return 1.0
    return value if math.isfinite(value) and 0.01 <= value <= 100 else 1.0


def measured_estimate(spec: ModelSpec, config: TrainConfig) -> float:
    """Return the training seconds of a run from its step timed on this machine (steptime), at
    the app's worker's threads, plus what scoring digits between steps costs."""
    from core.train.device import worker_threads
    from core.train.steptime import step_seconds

    n_train, n_val = split_sizes(config.classes, config.train_fraction, config.val_fraction)
    steps, _ = planned_steps_and_samples(config)
    batch, _, _ = plan_steps(max(n_train, 1), config)
    per_step = step_seconds(spec, config, n_train, worker_threads())
    # digits scored without training: a forward pass, about a third of a step's work per digit;
    # at each epoch's end the validation digits, the live PCA's and a replay frame's, and the
    # test digits at the end (a full-batch run's are paced by the clock: in RUN_OVERHEAD)
    epochs = 0 if batch >= n_train else math.ceil(steps * batch / n_train)
    scored = epochs * (n_val + SCORED_PER_EPOCH) + TEST_DIGITS_PER_CLASS * len(config.classes)
    return steps * per_step * (1 + RUN_OVERHEAD) + scored * per_step / batch / BACKWARD_FACTOR


def estimate_seconds(
    spec: ModelSpec, config: TrainConfig, runs_dir: str | os.PathLike | None = None
) -> float:
    """Return the estimated training seconds of a run on this machine: from its timed step
    where a step is quick to time, else from the constants and this machine's correction."""
    steps, _ = planned_steps_and_samples(config)
    raw = raw_estimate(spec, config)
    if steps and raw / steps <= MEASURED_STEP_LIMIT:
        with contextlib.suppress(RuntimeError, ValueError, MemoryError):  # e.g. out of memory
            return measured_estimate(spec, config)
    return constants_estimate(spec, config, runs_dir)


def constants_estimate(
    spec: ModelSpec, config: TrainConfig, runs_dir: str | os.PathLike | None = None
) -> float:
    """Return the training seconds the constants predict, times this machine's correction."""
    return raw_estimate(spec, config) * correction(runs_dir)


def record_run(
    runs_dir: str | os.PathLike | None, spec: ModelSpec, config: TrainConfig, seconds: float
) -> None:
    """Move this machine's correction towards what a finished run measured."""
    path = _correction_path(runs_dir)
    predicted = raw_estimate(spec, config)
    if path is None or not seconds > 0 or not predicted > 0:
        return
    measured = math.log(seconds / predicted)
    # a read-only runs folder keeps the constants
    with contextlib.suppress(OSError), locked(path.with_name(LOCK_FILE)):
        # read, update, write under a lock the processes share: replicas (or a worker and the
        # CLI) finishing runs at once moved the correction from the same old value: of two
        # processes' 40 records, 19 were lost (tests/test_shared_runs.py)
        old = math.log(correction(runs_dir))
        updated = math.exp(old + LEARNING_WEIGHT * (measured - old))  # geometric: ratios
        write_file(path, json.dumps({"correction": updated}).encode())


def limit_seconds() -> float | None:
    """Return how long a run may train, from $DIGITLAB_MAX_TRAIN_MINUTES (0: no limit)."""
    minutes = env_amount(LIMIT_ENV, DEFAULT_LIMIT_MINUTES, "minutes", "no limit")
    return minutes * 60 if minutes > 0 else None


def duration_text(seconds: float) -> str:
    """Return a duration for people: '40 s', '12 min', '17 h 10 min'."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def check_time(
    spec: ModelSpec,
    config: TrainConfig,
    runs_dir: str | os.PathLike | None = None,
    estimate: float | None = None,
) -> None:
    """Raise ValueError when the run's estimate (made here unless given) is above the time
    limit, saying what to change."""
    limit = limit_seconds()
    if limit is None:
        return
    if estimate is None:
        estimate = estimate_seconds(spec, config, runs_dir)
    if estimate > limit:
        raise ValueError(
            f"epochs: this run would train for about {duration_text(estimate)} on this "
            f"machine, above the {duration_text(limit)} limit ({LIMIT_ENV}); use fewer epochs "
            "or steps, less training data, or a smaller network"
        )
