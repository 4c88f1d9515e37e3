"""How long a network's training step takes on this machine, measured on a few random digits.

The estimate from constants (core.train.timebudget.raw_estimate) is off by a factor that
depends on the network: measured on 2026-12-05 (`python -m core bench --overhead`) it read from
0.6× (seed-3v7) to 4.3× (speedrun) of the time the app then trained, which one correction per
machine cannot fix. Timing a few real steps of the very network, at the batch size and with the
augmentation it will train with, on random pixels (the time of a step does not depend on what
the digits show), costs a fraction of a second and is right to within the run's overhead.

`time_steps` is also the bench's "bare steps": the trainer's own batches through forward,
backward and update, and nothing else.
"""

from __future__ import annotations

import copy
import statistics
import threading
import time
from collections import OrderedDict

import torch

from core.data.mnist import Split, Task
from core.spec.config import TrainConfig
from core.spec.image import IMAGE_SIDE
from core.spec.models import ModelSpec
from core.train.batches import batches
from core.train.engines import flush_denormals
from core.train.trainer import Trainer, plan_steps

MEASURE_SECONDS = 0.3  # steps are timed for about this long, at least MIN_STEPS of them
MIN_STEPS = 8
WARM_UP_STEPS = 2  # timed but not counted: allocation, oneDNN preparing each kernel
CACHED = 64  # settings remembered, so that a page's reruns measure once
_cache: OrderedDict[str, float] = OrderedDict()
_lock = threading.Lock()  # one measurement at a time: torch's thread count is process-wide


def time_steps(trainer: Trainer, steps: int) -> float:
    """Return the seconds of `steps` bare training steps (the trainer's step count restarts)."""
    flush_denormals()  # as Trainer.run() does
    trainer.model.train()
    done, loss = 0, None
    started = time.perf_counter()
    while done < steps:
        for xb, yb in batches(trainer):
            loss, _, _ = trainer.engine.step(xb, yb)
            done += 1
            trainer.step = done
            if done >= steps:
                break
    float(loss.detach())  # wait for the device: the time includes the last step
    return time.perf_counter() - started


def random_task(n_train: int, classes: int) -> Task:
    """Return a task of random digits: n_train to train on, two each to validate and test."""
    generator = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        images = torch.randint(
            0, 256, (n, IMAGE_SIDE, IMAGE_SIDE), dtype=torch.uint8, generator=generator
        )
        labels = torch.arange(n) % classes
        return Split(images, labels, torch.arange(n))

    return Task(tuple(range(classes)), split(n_train), split(2), split(2))


def typical_step(times: list[float]) -> float:
    """Return the lower quartile of timed steps: what a step costs when nothing else runs."""
    # A busy moment only ever slows a step, and a process's first steps run slow for a while
    # (small-cnn's first measurement in a fresh process read up to 1.36x its later ones, a
    # median of the later half then still 1.2x: the Train page's estimate +29% on 2026-12-06).
    # A run averages such moments out over its length, a few timed steps do not.
    return statistics.quantiles(times, n=4, method="inclusive")[0]


def forget() -> None:
    """Forget every measured step, so that the next estimate times its step afresh."""
    with _lock:
        _cache.clear()


def _key(spec: ModelSpec, config: TrainConfig, n_train: int, threads: int) -> str:
    # what a step's time depends on; epochs, rate and seed do not change it
    settings = config.to_dict()
    for name in ("epochs", "iterations", "lr", "seed", "eval_every", "schedule"):
        settings.pop(name, None)
    return f"{spec.to_json()}|{settings}|{n_train}|{threads}"


def step_seconds(spec: ModelSpec, config: TrainConfig, n_train: int, threads: int) -> float:
    """Return the measured seconds of one training step of spec with config's batch, engine,
    optimizer and augmentation, on `threads` torch threads (remembered per settings)."""
    key = _key(spec, config, n_train, threads)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        batch, _, _ = plan_steps(n_train, config)
        probe = copy.deepcopy(config)
        probe.iterations = 1000  # room for the timed steps in a schedule planned for the run
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            trainer = Trainer(spec, probe, random_task(batch, len(config.classes)))
            times: list[float] = []
            while len(times) < MIN_STEPS or sum(times) < MEASURE_SECONDS:
                trainer.step = 0  # time_steps counts from the trainer's step
                times.append(time_steps(trainer, 1))
        finally:
            torch.set_num_threads(before)
        _cache[key] = typical_step(times[WARM_UP_STEPS:])
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
        return _cache[key]
