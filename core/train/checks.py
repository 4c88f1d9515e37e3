"""What may be trained: a network with settings, on a task, on this machine.

Called once where settings enter (Job.create, a saved run's loader); the trainer itself trusts
what it is given.
"""

from __future__ import annotations

from core.spec.budget import check_fits
from core.spec.compatible import check_compatible
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.task import split_sizes


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
    the whole run in the memory budget (core.spec.budget). These two are checked only before
    training, not when a saved run is loaded: a run made elsewhere must still open here.
    """
    spec.validate()
    config.validate()
    check_compatible(spec, config)
    check_batch_size(config)
    check_fits(spec, config)
