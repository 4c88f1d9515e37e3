"""The fast trainer: whole dataset as one tensor on the device, events for whoever is watching."""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.augment import augment_batch
from core.config import TrainConfig, check_compatible
from core.data import Task, normalize, to_float
from core.models import ModelSpec, build
from core.probes import (
    PROBE_DIGITS,
    FeatureProjector,
    grad_every,
    layer_labels,
    weight_grad_norms,
    weight_snapshot,
    weighted_layers,
)
from core.scratch import ScratchEngine

__all__ = [
    "TrainConfig",
    "TrainControl",
    "TrainResult",
    "TrainingDiverged",
    "TrainingFailed",
    "OutOfMemory",
    "choose_device",
    "resolve_device",
    "train",
]

Event = dict
EmitFn = Callable[[Event], None]

# Step events are flushed to listeners in groups: reading a loss forces a device sync.
FLUSH_EVERY_STEPS = 32
FLUSH_EVERY_SECONDS = 0.2
EVAL_BATCH = 4096
WEIGHTS_EVERY_SECONDS = 1.0  # how often the live first-layer weights are refreshed
# clusters form mostly within the first epoch: the live PCA cannot wait for its end
FEATURES_EVERY_SECONDS = 2.0


class TrainingFailed(RuntimeError):
    """Training ended early for a reason the user can act on; the message says which."""


class TrainingDiverged(TrainingFailed):
    """The loss became NaN or infinite."""


class OutOfMemory(TrainingFailed):
    """The device ran out of memory; what the job held has been freed."""


def resolve_device(name: str = "auto") -> torch.device:
    """Return the device to train on: 'auto' picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: 'cuda' was chosen but no CUDA GPU is available; use 'auto' or 'cpu'"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(
            "device: 'mps' was chosen but Apple's GPU is not available; use 'auto' or 'cpu'"
        )
    return torch.device(name)


def choose_device(name: str = "auto") -> tuple[torch.device, str | None]:
    """Return the device to train on and a notice when the one asked for is missing (then CPU)."""
    try:
        return resolve_device(name), None
    except ValueError:
        return torch.device("cpu"), (
            f"No {'CUDA' if name == 'cuda' else 'Apple'} GPU is available on this machine: "
            "training on the CPU instead."
        )


def device_label(device: torch.device) -> str:
    """Return a human name for a device, e.g. 'cuda (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


class TrainControl:
    """Pause, resume and stop flags shared between a training loop and the code watching it."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        """Ask the loop to stop after the current step."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Ask the loop to wait after the current step."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused loop go on."""
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set() and not self._stop.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        started = time.perf_counter()
        while not self._running.wait(0.05):
            pass
        return time.perf_counter() - started


@dataclass
class TrainResult:
    """What a finished or stopped training produced."""

    model: nn.Module  # on the CPU, in eval mode
    status: str  # "finished" or "stopped"
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_epoch: float | None = None
    device: str = "cpu"
    test_loss: float | None = None
    test_accuracy: float | None = None


def loss_fn(
    outputs: torch.Tensor, labels: torch.Tensor, loss: str, outputs_per_sample: int
) -> torch.Tensor:
    """Return the mean loss of a batch; labels are class indices."""
    if loss == "cross_entropy":
        return F.cross_entropy(outputs, labels)
    if loss == "nll":
        return F.nll_loss(outputs, labels)
    if outputs_per_sample == 1:
        # a single output is the score of the task's first digit: target 1 for it, 0 otherwise
        target = (labels == 0).to(outputs.dtype).unsqueeze(1)
    else:
        target = F.one_hot(labels, outputs_per_sample).to(outputs.dtype)
    return F.mse_loss(outputs, target)


def predicted_class(outputs: torch.Tensor) -> torch.Tensor:
    """Return class indices from network outputs (a single output above 0.5 means class 0)."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] < 0.5).to(torch.int64)
    return outputs.argmax(dim=1)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Return the configured optimizer over the model's parameters."""
    params, lr, wd = model.parameters(), config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)


def make_schedule(optimizer, config: TrainConfig, total_steps: int, steps_per_epoch: int):
    """Return a per-step learning-rate scheduler, or None for a constant rate."""
    if config.schedule == "constant":
        return None
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=config.step_epochs * steps_per_epoch, gamma=config.step_gamma
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=max(2, total_steps)
    )


class AutogradEngine:
    """The trainer's step for engine 'autograd': model(x), loss.backward(), optimizer.step()."""

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        config: TrainConfig,
        total_steps: int,
        steps_per_epoch: int,
    ) -> None:
        self.model, self.loss, self.outputs = model, config.loss, spec.outputs
        self.layers = weighted_layers(model)
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_schedule(self.optimizer, config, total_steps, steps_per_epoch)

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Train on one batch; return (loss, outputs, learning rate used), detached."""
        outputs = self.model(xb)
        loss = loss_fn(outputs, yb, self.loss, self.outputs)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach(), outputs.detach(), lr

    def grad_norms(self) -> torch.Tensor:
        """Return each weighted layer's weight-gradient norm from the last step."""
        return weight_grad_norms(self.layers)


ENGINE_CLASSES = {"autograd": AutogradEngine, "scratch": ScratchEngine}


@torch.no_grad()
def score(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, outputs: int
) -> tuple[float, float]:
    """Return (mean loss, accuracy) of an eval-mode model on prepared images."""
    if len(labels) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), EVAL_BATCH):
        x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
        out = model(x)
        total_loss += float(loss_fn(out, y, config.loss, outputs)) * len(y)
        correct += int((predicted_class(out) == y).sum())
    model.train(was_training)
    return total_loss / len(labels), correct / len(labels)


def prepare(
    images_uint8: torch.Tensor, config: TrainConfig, device: torch.device, normalized: bool
) -> torch.Tensor:
    """Return uint8 digits as float (N, 1, 28, 28) on the device, normalised if asked."""
    pixels = to_float(images_uint8).to(device)
    return normalize(pixels, config.normalization) if normalized else pixels


def _has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def plan_steps(n_train: int, config: TrainConfig) -> tuple[int, int, int]:
    """Return (batch size, steps per epoch, total steps) for a training set of n_train."""
    batch = n_train if config.full_batch else min(config.batch_size, n_train)
    steps_per_epoch = math.ceil(n_train / batch)
    total = config.iterations if config.iterations > 0 else steps_per_epoch * config.epochs
    return batch, steps_per_epoch, total


def _is_out_of_memory(exc: BaseException) -> bool:
    # CUDA raises its own type; the CPU and MPS allocators raise a RuntimeError saying so
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in str(exc) or "can't allocate memory" in str(exc))
    )


def train(
    spec: ModelSpec,
    config: TrainConfig,
    task: Task,
    emit: EmitFn | None = None,
    control: TrainControl | None = None,
    probes: bool = True,
) -> TrainResult:
    """Train spec on task with config; emit events as it goes; return the model and metrics.

    With probes, it also emits gradient norms on some steps, the first layer's weights about
    once a second ('weights') and a 2-D projection of test digits' features every few seconds
    and at each epoch's end ('features'), for the live views.
    """
    spec.validate()
    config.validate()
    check_compatible(spec, config)
    emit = emit or (lambda event: None)
    last_step = {"step": 0, "device": "cpu"}  # where _train was, for the out-of-memory message
    failure = None
    try:
        return _train(spec, config, task, emit, control or TrainControl(), probes, last_step)
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not _is_out_of_memory(exc) or isinstance(exc, TrainingFailed):
            raise
        failure = str(exc).splitlines()[0][:200]
    # outside the except block the traceback, and with it every tensor of the run, is released
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    raise OutOfMemory(
        f"the {last_step['device']} ran out of memory after {last_step['step']} steps "
        f"(batch size {config.batch_size}): training stopped and its memory was freed. "
        f"Try a smaller batch size or a smaller network. ({failure})"
    )


def _train(
    spec: ModelSpec,
    config: TrainConfig,
    task: Task,
    emit: EmitFn,
    control: TrainControl,
    probes: bool,
    where: dict,
) -> TrainResult:
    device, notice = choose_device(config.device)
    where["device"] = device_label(device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device_generator = (
        generator if device.type == "cpu" else torch.Generator(device).manual_seed(config.seed)
    )

    model = build(spec).to(device)
    augmenting = config.augment.enabled
    # without augmentation the whole training set is normalised once, up front
    x_train = prepare(task.train.images, config, device, normalized=not augmenting)
    y_train = task.train.labels.to(device)
    x_val = prepare(task.val.images, config, device, normalized=True)
    y_val = task.val.labels.to(device)
    n_train = len(y_train)
    batch, steps_per_epoch, total_steps = plan_steps(n_train, config)
    epochs_planned = math.ceil(total_steps / steps_per_epoch)
    engine = ENGINE_CLASSES[config.engine](model, spec, config, total_steps, steps_per_epoch)
    skip_single = _has_batch_norm(model)  # batch norm cannot train on a batch of one
    sample_grads_every = grad_every(total_steps)
    result = TrainResult(model=model, status="finished", device=device_label(device))
    emit(
        {
            "type": "start",
            "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "epochs": epochs_planned,
            "batch_size": batch,
            "device": result.device,
            "notice": notice,
            "n_train": n_train,
            "n_val": len(y_val),
            "n_test": len(task.test),
            "layers": layer_labels(model),
            "first_layer_units": weighted_layers(model)[0].weight.shape[0],
            "grad_every": sample_grads_every,
        }
    )

    step, paused_seconds = 0, 0.0
    started = time.perf_counter()
    # (step, epoch, lr, loss, gradient norms or None), read back in one sync per flush
    pending: list[tuple[int, int, float, torch.Tensor, torch.Tensor | None]] = []
    last_flush_time, last_flush_step = started, 0
    last_weights_time = last_features_time = started
    projector = None
    if probes and len(task.test):
        probe = task.test.images[:PROBE_DIGITS]
        projector = FeatureProjector(
            prepare(probe, config, device, normalized=True), task.test.labels[:PROBE_DIGITS]
        )

    def show_weights(epoch: int) -> None:
        nonlocal last_weights_time
        last_weights_time = time.perf_counter()
        weights = weight_snapshot(model, spec)
        emit({"type": "weights", "step": step, "epoch": epoch, "weights": weights})

    def show_features(epoch: int) -> None:
        nonlocal last_features_time
        last_features_time = time.perf_counter()
        coords, explained = projector.project(model)
        emit(
            {
                "type": "features",
                "step": step,
                "epoch": epoch,
                "coords": coords,
                "explained": explained,
                "labels": projector.labels,
            }
        )

    def flush() -> None:
        nonlocal last_flush_time, last_flush_step
        if not pending:
            return
        losses = torch.stack([p[3] for p in pending]).tolist()
        norms = [p[4].tolist() if p[4] is not None else None for p in pending]
        now = time.perf_counter()
        elapsed = max(now - last_flush_time, 1e-9)
        rate = (pending[-1][0] - last_flush_step) * batch / elapsed
        for (s, e, lr, _, _), value, grad_norms in zip(pending, losses, norms):
            event = {
                "type": "step",
                "step": s,
                "epoch": e,
                "loss": value,
                "lr": lr,
                "samples_per_s": rate,
            }
            if grad_norms is not None:
                event["grad_norms"] = grad_norms
            result.steps.append(event)
            emit(event)
        last_flush_time, last_flush_step = now, pending[-1][0]
        pending.clear()
        bad = next((v for v in losses if not math.isfinite(v)), None)
        if bad is not None:
            what = "NaN" if math.isnan(bad) else "infinite"
            raise TrainingDiverged(
                f"the loss became {what} at step {result.steps[-1]['step']}: training stopped. "
                "Try a smaller learning rate, or batch norm, or a different loss."
            )

    def validate(epoch: int) -> dict:
        val_loss, val_accuracy = score(model, x_val, y_val, config, spec.outputs)
        event = {
            "type": "val",
            "step": step,
            "epoch": epoch,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        emit(event)
        return event

    if probes:
        show_weights(0)
        if projector is not None:
            show_features(0)
    epoch = 0
    last_val: dict | None = None
    while step < total_steps and not control.stopped:
        epoch += 1
        epoch_started = time.perf_counter()
        model.train()
        if batch >= n_train:
            # a full batch's gradient ignores order: skip the copy
            x_epoch, y_epoch = x_train, y_train
        else:
            order = torch.randperm(n_train, generator=generator).to(device)
            x_epoch, y_epoch = x_train[order], y_train[order]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        for start in range(0, n_train, batch):
            if step >= total_steps:
                break
            waited = control.wait_while_paused()
            paused_seconds += waited
            last_flush_time += waited  # a pause must not drag down samples/s
            if control.stopped:
                break
            xb, yb = x_epoch[start : start + batch], y_epoch[start : start + batch]
            if skip_single and len(yb) == 1:
                continue
            if augmenting:
                xb = normalize(
                    augment_batch(xb, config.augment, device_generator), config.normalization
                )
            detached, outputs, lr = engine.step(xb, yb)
            step += 1
            where["step"] = step
            loss_sum += detached * len(yb)
            correct += (predicted_class(outputs) == yb).sum()
            seen += len(yb)
            sampled = probes and (step % sample_grads_every == 0 or step == 1)
            pending.append((step, epoch, lr, detached, engine.grad_norms() if sampled else None))
            now = time.perf_counter()
            if len(pending) >= FLUSH_EVERY_STEPS or now - last_flush_time >= FLUSH_EVERY_SECONDS:
                flush()
                if probes and now - last_weights_time >= WEIGHTS_EVERY_SECONDS:
                    show_weights(epoch)
                if projector is not None and now - last_features_time >= FEATURES_EVERY_SECONDS:
                    show_features(epoch)
            if config.eval_every and step % config.eval_every == 0:
                last_val = validate(epoch)
        flush()
        if seen == 0:
            break
        if last_val is None or last_val["step"] != step:
            last_val = validate(epoch)
        epoch_event = {
            "type": "epoch",
            "epoch": epoch,
            "step": step,
            "train_loss": float(loss_sum) / seen,
            "train_accuracy": int(correct) / seen,
            "val_loss": last_val["val_loss"],
            "val_accuracy": last_val["val_accuracy"],
            "seconds": time.perf_counter() - epoch_started,
            "complete": seen >= n_train - (1 if skip_single else 0),
        }
        result.epochs.append(epoch_event)
        emit(epoch_event)
        if probes:
            show_weights(epoch)
            if projector is not None:
                show_features(epoch)

    result.seconds = time.perf_counter() - started - paused_seconds
    complete = [e for e in result.epochs if e["complete"]]
    if complete:
        result.seconds_per_epoch = sum(e["seconds"] for e in complete) / len(complete)
    if control.stopped:
        result.status = "stopped"
    x_test = prepare(task.test.images, config, device, normalized=True)
    result.test_loss, result.test_accuracy = score(
        model, x_test, task.test.labels.to(device), config, spec.outputs
    )
    result.model = model.to("cpu").eval()
    return result
