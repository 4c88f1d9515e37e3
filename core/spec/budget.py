"""Memory a training run needs, estimated from the settings before anything is allocated.

The estimate counts float32 numbers the way the trainer holds them: parameters, their
gradients and the optimizer's state; the training and validation digits on the device (plus
the shuffled copy made every epoch); and the activations autograd keeps for one training batch,
or for one scoring batch of EVAL_BATCH digits when that is larger. It is an estimate, not a
promise: against the peak memory of two Adam steps on the CPU (lenet5 at batch 2048, small-cnn
at 1024, MLPs 512-512 at 8192 and 4096-4096 at 4096) it came out between 10% under and 40% over.

The limit is $DIGITLAB_MEMORY_LIMIT_GB when set, else a quarter of the machine's physical
memory, capped at DEFAULT_LIMIT_CAP_GB: one classroom server runs one training at a time next
to everyone's pages, and a single run must not be able to take the machine down.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from core.spec.config import TrainConfig
from core.spec.image import IMAGE_SIDE, PIXELS
from core.spec.models import ModelSpec
from core.spec.quote import quoted
from core.spec.task import split_sizes

# digits scored at once, by evaluation and by the trainer (counted here). Small enough for a
# convnet's activations to stay in the CPU's caches: 5,000 validation digits through small-cnn
# took 0.50 s at 4,096 a batch, 0.29 s at 512 and 0.20 s at 256 (lenet5 0.094, 0.048, 0.051 s;
# an MLP the same at all four; two threads, 2026-12-06)
EVAL_BATCH = 256

BYTES_PER_NUMBER = 4  # float32
GB = 1e9
LIMIT_ENV = "DIGITLAB_MEMORY_LIMIT_GB"
DEFAULT_LIMIT_CAP_GB = 8.0
FALLBACK_LIMIT_GB = 4.0  # where the physical memory cannot be read (e.g. Windows)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training run needs, by kind, and which setting is behind the largest share."""

    parameters: int  # count of trainable numbers
    parameter_bytes: int  # parameters, gradients and optimizer state
    data_bytes: int  # training and validation digits on the device
    activation_bytes: int  # one training (or scoring) batch through the network
    batch: int  # training batch size (the whole training set for full batch)
    scoring: bool  # the activations of scoring EVAL_BATCH digits outweigh a training batch's
    heaviest_layer: tuple[str, int, str]  # (field, value, unit) of the layer with most parameters
    widest_layer: tuple[str, int, str]  # the same for the layer with the largest activations

    @property
    def total(self) -> int:
        """Return the bytes needed in all."""
        return self.parameter_bytes + self.data_bytes + self.activation_bytes


def optimizer_copies(config: TrainConfig) -> int:
    """Return how many extra copies of the parameters the optimizer keeps."""
    momentum = 1 if config.momentum > 0 else 0
    if config.engine == "scratch":
        return 0  # the hand-written engine does plain w -= lr * grad
    if config.optimizer in ("adam", "adamw"):
        return 2  # first and second moments
    if config.optimizer == "rmsprop":
        return 1 + momentum  # square average, and a momentum buffer when used
    return momentum  # sgd


@dataclass(frozen=True)
class _Stage:
    field: tuple[str, int, str]  # what a message names for this stage
    parameters: int
    saved: int  # numbers per image autograd keeps for the backward pass
    largest: int  # numbers per image in its largest single tensor


def _stages(spec: ModelSpec) -> list[_Stage]:
    """Return every weighted stage of the network with its parameters and activations per image."""
    stages, channels, size = [], 1, IMAGE_SIDE
    for i, layer in enumerate(spec.conv):
        out = size if layer.padding == "same" else size - layer.kernel + 1
        pooled = out // 2 if layer.pool != "none" else out
        conv_out, pool_out = layer.channels * out * out, layer.channels * pooled * pooled
        saved = conv_out * (2 + layer.batch_norm)  # conv, (batch norm,) activation outputs
        if layer.pool != "none":
            saved += pool_out * (3 if layer.pool == "max" else 1)  # max pool keeps int64 indices
        if layer.dropout > 0:
            saved += pool_out
        if layer.separable:  # depthwise k×k (no bias), then a 1×1 mix; its own output is kept too
            weights = channels * layer.kernel**2 + channels * layer.channels + layer.channels
            saved += channels * out * out
        else:
            weights = channels * layer.channels * layer.kernel**2 + layer.channels
        stages.append(
            _Stage(
                (f"conv[{i}].channels", layer.channels, "channels"),
                weights + 2 * layer.channels * layer.batch_norm,
                saved,
                conv_out,
            )
        )
        channels, size = layer.channels, pooled
    features = channels if spec.global_pool else channels * size * size
    for i, layer in enumerate(spec.dense):
        # linear, (batch norm,) activation, (dropout) outputs
        saved = layer.width * (2 + layer.batch_norm + (layer.dropout > 0))
        stages.append(
            _Stage(
                (f"dense[{i}].width", layer.width, "units"),
                features * layer.width + layer.width + 2 * layer.width * layer.batch_norm,
                saved,
                layer.width,
            )
        )
        features = layer.width
    head = 2 if spec.output != "logits" else 1
    stages.append(
        _Stage(
            ("outputs", spec.outputs, "outputs"),
            features * spec.outputs + spec.outputs,
            spec.outputs * head,
            spec.outputs,
        )
    )
    return stages


def saved_per_image(spec: ModelSpec) -> int:
    """Return the numbers per image autograd keeps for the backward pass, over the network."""
    return sum(stage.saved for stage in _stages(spec))


def estimate(spec: ModelSpec, config: TrainConfig) -> MemoryEstimate:
    """Return the memory a training run of spec with config needs, by kind (settings validated)."""
    stages = _stages(spec)
    n_train, n_val = split_sizes(config.classes, config.train_fraction, config.val_fraction)
    batch = n_train if config.full_batch else min(config.batch_size, n_train)
    parameters = sum(stage.parameters for stage in stages)
    largest = max([PIXELS, *(stage.largest for stage in stages)])
    # the gradient flowing back holds about two of the largest tensors at once
    per_training_image = PIXELS + sum(stage.saved for stage in stages) + 2 * largest
    per_scored_image = PIXELS + 2 * largest  # no_grad: a layer's input and output at a time
    training, scoring = batch * per_training_image, EVAL_BATCH * per_scored_image
    shuffled_copy = 0 if batch >= n_train else n_train  # a full batch skips the reordering
    data = (n_train + n_val + shuffled_copy) * PIXELS
    return MemoryEstimate(
        parameters=parameters,
        parameter_bytes=parameters * (2 + optimizer_copies(config)) * BYTES_PER_NUMBER,
        data_bytes=data * BYTES_PER_NUMBER,
        activation_bytes=max(training, scoring) * BYTES_PER_NUMBER,
        batch=batch,
        scoring=scoring > training,
        heaviest_layer=max(stages, key=lambda stage: stage.parameters).field,
        widest_layer=max(stages, key=lambda stage: stage.largest).field,
    )


def estimate_memory(spec: ModelSpec, config: TrainConfig) -> int:
    """Return the bytes a training run of spec with config needs (see estimate for the parts)."""
    return estimate(spec, config).total


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf, or not these names
        return None


def memory_limit() -> int:
    """Return the bytes one training run may use: $DIGITLAB_MEMORY_LIMIT_GB, else RAM/4 capped."""
    text = os.environ.get(LIMIT_ENV)
    if text:
        try:
            limit_gb = float(text)
        except ValueError:
            limit_gb = math.nan
        if not math.isfinite(limit_gb) or limit_gb <= 0:
            raise ValueError(f"{LIMIT_ENV}: {quoted(text)} must be a positive number of gigabytes")
        return int(limit_gb * GB)
    physical = _physical_memory()
    if physical is None:
        return int(FALLBACK_LIMIT_GB * GB)
    return int(min(physical / 4, DEFAULT_LIMIT_CAP_GB * GB))


def loading_bytes(spec: ModelSpec) -> int:
    """Return the bytes loading a saved run of spec and scoring digits with it needs.

    The weights are held twice while they are copied from the file into the network, and
    EVAL_BATCH digits go through it at a time. Training needs more than this for the same
    network, so any run trained within the limit also loads within it.
    """
    stages = _stages(spec)
    parameters = sum(stage.parameters for stage in stages)
    largest = max([PIXELS, *(stage.largest for stage in stages)])
    return (2 * parameters + EVAL_BATCH * (PIXELS + 2 * largest)) * BYTES_PER_NUMBER


def check_loadable(spec: ModelSpec, limit_bytes: int | None = None) -> None:
    """Raise ValueError naming the layer when loading a saved run of spec would not fit in memory."""
    limit = memory_limit() if limit_bytes is None else limit_bytes
    needed = loading_bytes(spec)
    if needed <= limit:
        return
    stages = _stages(spec)
    heaviest = max(stages, key=lambda stage: stage.parameters)
    widest = max(stages, key=lambda stage: stage.largest)
    # the layer behind the larger share: its weights, or its outputs for EVAL_BATCH digits
    weights, outputs = 2 * heaviest.parameters, 2 * EVAL_BATCH * widest.largest
    name, value, unit = heaviest.field if weights >= outputs else widest.field
    raise ValueError(
        f"{name}: {value:,} {unit} need about {format_bytes(needed)} to load the network "
        f"({sum(s.parameters for s in stages):,} parameters) and score digits with it; "
        f"the limit is {format_bytes(limit)}"
    )


def format_bytes(size: float) -> str:
    """Return a size for people: '12.4 GB', '350 MB'."""
    if size >= 0.95 * GB:
        return f"{size / GB:,.1f} GB"
    return f"{max(size / 1e6, 1):,.0f} MB"


def check_fits(spec: ModelSpec, config: TrainConfig, limit_bytes: int | None = None) -> None:
    """Raise ValueError naming the setting to change when training would not fit in memory."""
    limit = memory_limit() if limit_bytes is None else limit_bytes
    needed = estimate(spec, config)
    if needed.total <= limit:
        return
    amount = f"about {format_bytes(needed.total)}"
    limit_text = f"the limit is {format_bytes(limit)}"
    if needed.parameter_bytes >= needed.activation_bytes:
        name, value, unit = needed.heaviest_layer
        raise ValueError(
            f"{name}: {value:,} {unit} need {amount} for parameters and activations "
            f"({needed.parameters:,} parameters) at batch size {needed.batch:,}; {limit_text}"
        )
    if needed.scoring:
        # the batch size is not the cause: scoring runs EVAL_BATCH digits at a time anyway
        name, value, unit = needed.widest_layer
        raise ValueError(
            f"{name}: {value:,} {unit} need {amount} for parameters and activations when "
            f"digits are scored {EVAL_BATCH:,} at a time; {limit_text}"
        )
    if config.full_batch:
        raise ValueError(
            f"full_batch: one batch of all {needed.batch:,} training digits needs {amount} "
            f"for parameters and activations; {limit_text}; pick a batch size instead"
        )
    raise ValueError(
        f"batch_size: {needed.batch:,} images at a time need {amount} for parameters and "
        f"activations with this network; {limit_text}; pick a smaller batch or a smaller network"
    )
