"""The training set on the device, and the batches an epoch takes from it.

The whole training set sits on the device as one tensor, shuffled by index once per epoch and
sliced into batches: no DataLoader, no per-sample transforms. With augmentation on, the set is
kept as pixels and each batch is distorted and normalised on the device as it is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch

from core.data.augment import augment_batch
from core.data.mnist import normalize, to_float
from core.spec.config import TrainConfig
from core.train.engines import StepSettings


class Trainer(Protocol):
    """What the batches read of the trainer (a Protocol: the trainer imports this module)."""

    config: TrainConfig
    device: torch.device
    step_settings: StepSettings
    x_train: torch.Tensor
    y_train: torch.Tensor
    n_train: int
    batch_size: int
    step: int
    total_steps: int
    skip_single: bool
    augmenting: bool
    generator: torch.Generator
    device_generator: torch.Generator


def prepare(
    images_uint8: torch.Tensor, config: TrainConfig, device: torch.device, normalized: bool
) -> torch.Tensor:
    """Return uint8 digits as float (N, 1, 28, 28) on the device, normalised if asked."""
    pixels = to_float(images_uint8).to(device)
    return normalize(pixels, config.normalization) if normalized else pixels


def batches(trainer: Trainer) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield one epoch's (images, labels) batches in a new order, until the run's last step."""
    order = None
    if trainer.batch_size >= trainer.n_train:
        x, y = trainer.x_train, trainer.y_train  # a full batch's gradient ignores order: no copy
    else:
        order = torch.randperm(trainer.n_train, generator=trainer.generator).to(trainer.device)
        if not trainer.step_settings.gather_batches:
            x, y = trainer.x_train[order], trainer.y_train[order]
            order = None
    for start in range(0, trainer.n_train, trainer.batch_size):
        if trainer.step >= trainer.total_steps:
            return
        if order is not None:
            # the same batches as copying the shuffled set, without writing all of it out
            # index_select, not x[rows]: the same rows, a quarter of the time (18 → 4 µs a
            # batch of 64 here), as advanced indexing takes a general path
            rows = order[start : start + trainer.batch_size]
            xb = trainer.x_train.index_select(0, rows)
            yb = trainer.y_train.index_select(0, rows)
        else:
            xb = x[start : start + trainer.batch_size]
            yb = y[start : start + trainer.batch_size]
        if trainer.skip_single and len(yb) == 1:
            continue
        if trainer.augmenting:
            xb = augment_batch(xb, trainer.config.augment, trainer.device_generator)
            xb = normalize(xb, trainer.config.normalization)
        yield xb, yb
