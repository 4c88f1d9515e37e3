"""Which settings suit which network: the loss and output head, the classes, and what the
scratch engine can train. Pure checks of a spec and a config (a leaf: it reads no files), used
where settings enter and where a saved run is loaded."""

from __future__ import annotations

from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.quote import quoted

SCRATCH_ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
SCRATCH_SCHEDULES = ("constant", "step", "cosine")


def check_supported(spec: ModelSpec, config: TrainConfig) -> None:
    """Raise ValueError naming the field when the scratch engine cannot train spec with config."""
    check_network_supported(spec)
    if config.optimizer != "sgd":
        raise ValueError(
            f"optimizer: engine 'scratch' requires optimizer 'sgd', not {quoted(config.optimizer)}"
        )
    if config.schedule not in SCRATCH_SCHEDULES:
        raise ValueError(
            f"schedule: {quoted(config.schedule)} is not supported by the scratch engine; "
            "use constant, step or cosine"
        )


def check_network_supported(spec: ModelSpec) -> None:
    """Raise ValueError naming the field when the scratch engine cannot run the network spec."""
    if spec.conv:
        raise ValueError(
            "conv: the scratch engine trains dense networks only; "
            "remove the convolutions or use engine 'autograd'"
        )
    for i, layer in enumerate(spec.dense):
        if layer.activation not in SCRATCH_ACTIVATIONS:
            raise ValueError(
                f"dense[{i}].activation: {quoted(layer.activation)} is not supported by the scratch "
                "engine; use relu, sigmoid, tanh or identity"
            )
        if layer.dropout > 0:
            raise ValueError(
                f"dense[{i}].dropout: dropout is not supported by the scratch engine; "
                "set it to 0 or use engine 'autograd'"
            )
        if layer.batch_norm:
            raise ValueError(
                f"dense[{i}].batch_norm: batch norm is not supported by the scratch engine; "
                "turn it off or use engine 'autograd'"
            )


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
            f"loss: 'cross_entropy' expects raw scores, but output is {quoted(spec.output)}; use 'logits'"
        )
    if config.engine == "scratch":
        check_supported(spec, config)
