"""What may be trained: a network with settings, on a task, on this machine.

Called once where settings enter (Job.create, a saved run's loader); the trainer itself trusts
what it is given.
"""

from __future__ import annotations

from core.budget import check_fits
from core.config import TrainConfig
from core.data import split_sizes
from core.models import ModelSpec
from core.scratch import check_supported


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
