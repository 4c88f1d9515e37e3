"""The Draw page's one-click model: a small CNN with light augmentation, trained once and reused."""

from __future__ import annotations

import os

from core.data.augment import AugmentConfig
from core.runs.listing import list_runs
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.presets import SPEEDRUN_TRAINING, speedrun_spec

QUICK_NAME = "quick-draw"
# The speedrun's network, two epochs. Measured on seeds 0, 1 and 2 (2 CPU threads): 99.19,
# 99.04 and 98.84% on the MNIST test set, 98.3, 98.1 and 98.3% of the drawing bench, 94.9, 94.3
# and 94.6% of UCI optdigits (bench --optdigits) in 18–20 s; the earlier quick-train (12 and 24
# channels, 3×3, 96 units) gave 98.5%, 95.7% and 84.1% in 22 s (seed 0). The Draw page states
# the time from this machine's estimate.
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
    """Return the network and settings of the quick-train: seconds on a CPU, fine for drawings.

    The speedrun's network and training, for QUICK_EPOCHS epochs with light augmentation.
    """
    config = TrainConfig(**SPEEDRUN_TRAINING, epochs=QUICK_EPOCHS, augment=quick_augment())
    return speedrun_spec(), config


def find_quick_run(runs_dir: str | os.PathLike | None = None) -> dict | None:
    """Return the summary of the newest finished quick-train run, or None if there is none."""
    for summary in list_runs(runs_dir):
        if summary.get("name") == QUICK_NAME and summary.get("status") == "finished":
            return summary
    return None
