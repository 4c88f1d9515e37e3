"""One training step behind one interface: PyTorch's autograd, or the hand-written scratch engine.

An engine takes a batch and returns (loss, outputs, learning rate used), detached; it can report
its layers' gradient norms and give and take the state a checkpoint needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.analysis.evaluation import predicted_class
from core.analysis.probes import weight_grad_norms, weighted_layers
from core.spec.budget import EVAL_BATCH
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train.scratch import ScratchEngine


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


@dataclass(frozen=True)
class StepSettings:
    """How a training step is carried out, not what it computes; `python -m core bench --step`
    times each against the plain way (all False)."""

    fused_optimizer: bool = True  # one kernel per tensor for the update, not a dozen
    gather_batches: bool = True  # each batch gathered by index, not the whole set copied
    channels_last: bool = True  # a convnet on the CPU in oneDNN's layout


LEAN_STEP = StepSettings()  # what every training uses
PLAIN_STEP = StepSettings(fused_optimizer=False, gather_batches=False, channels_last=False)
FUSED_OPTIMIZERS = ("sgd", "adam", "adamw")  # PyTorch has no fused RMSprop


def make_optimizer(
    model: nn.Module, config: TrainConfig, fused: bool = False
) -> torch.optim.Optimizer:
    """Return the configured optimizer over the model's parameters (fused where PyTorch has one)."""
    params, lr, wd = list(model.parameters()), config.lr, config.weight_decay
    betas = (config.beta1, config.beta2)
    # the fused update is the same arithmetic in one pass per tensor (bench --step times it)
    extra = {"fused": True} if fused and _can_fuse(params, config) else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd, **extra)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd, **extra)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd, **extra)
    return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)


def _can_fuse(params: list[torch.Tensor], config: TrainConfig) -> bool:
    return (
        config.optimizer in FUSED_OPTIMIZERS
        and bool(params)
        and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    )


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
        optimizer,
        max_lr=config.lr,
        total_steps=max(2, total_steps),
        cycle_momentum=config.cycle_momentum,
    )


class AutogradEngine:
    """The step for engine 'autograd': model(x), loss.backward(), optimizer.step()."""

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        config: TrainConfig,
        total_steps: int,
        steps_per_epoch: int,
        step: StepSettings = LEAN_STEP,
    ) -> None:
        self.model, self.loss, self.outputs = model, config.loss, spec.outputs
        self.layers = weighted_layers(model)
        self.optimizer = make_optimizer(model, config, fused=step.fused_optimizer)
        self.scheduler = make_schedule(self.optimizer, config, total_steps, steps_per_epoch)
        self.schedule_ended = False  # by a change of settings while training

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

    def settings(self) -> tuple[float, float]:
        """Return the (rate, momentum) the next step will use; Adam's momentum is its β₁."""
        group = self.optimizer.param_groups[0]
        return group["lr"], group["betas"][0] if "betas" in group else group["momentum"]

    def change_settings(self, lr: float | None, momentum: float | None) -> None:
        """Use lr and momentum (None: as they are) from the next step on; the schedule ends here.

        The optimizer reads its groups' values at every step: fused or not, SGD's momentum
        buffer is made at the first step with momentum, as at a run's start.
        """
        for group in self.optimizer.param_groups:
            if lr is not None:
                group["lr"] = lr
            if momentum is not None and "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            elif momentum is not None:
                group["momentum"] = momentum
        self.scheduler, self.schedule_ended = None, True

    def state_dict(self) -> dict:
        """Return the optimizer's and the schedule's state, for a checkpoint."""
        return {
            "optimizer": self.optimizer.state_dict(),  # its groups hold the rate and momentum
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "schedule_ended": self.schedule_ended,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's state_dict()."""
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("schedule_ended"):
            self.scheduler, self.schedule_ended = None, True
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])


ENGINES = {"autograd": AutogradEngine, "scratch": ScratchEngine}


def flush_denormals() -> None:
    """Treat denormal floats as zero in this thread's CPU arithmetic.

    Adam's running averages of pixels that are rarely inked decay into denormals, which the CPU
    handles about 50 times slower: seed-mlp-512's step went from 2.5 to 3.9 ms between its
    300th and 3,000th step, and stays at 2.6 ms with them flushed (one thread, 2026-12-05).
    The values flushed are below 1e-38. The setting is the calling thread's: a run on several
    threads keeps part of the slowdown.
    """
    torch.set_flush_denormal(True)


@torch.no_grad()
def scoring_seconds_per_digit(model: nn.Module, images: torch.Tensor) -> float:
    """Return a forward pass's seconds per digit in eval mode, timed on prepared images in
    EVAL_BATCH chunks as score() runs them (a first small call, untimed, pays for allocation
    and the kernels' choice)."""
    if not len(images):
        return 0.0
    was_training = model.training
    model.eval()
    float(model(images[:16]).sum())
    started = time.perf_counter()
    for start in range(0, len(images), EVAL_BATCH):
        float(model(images[start : start + EVAL_BATCH]).sum())  # float(): waits for a GPU
    model.train(was_training)
    return (time.perf_counter() - started) / len(images)


@torch.no_grad()
def score(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    outputs: int,
    kept: list[torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Return (mean loss, accuracy) of the model in eval mode on prepared images; its raw
    outputs are appended to kept, if given, a batch at a time (the calibration reads them)."""
    if len(labels) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), EVAL_BATCH):
        x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
        out = model(x)
        if kept is not None:
            kept.append(out.detach())
        total_loss += float(loss_fn(out, y, config.loss, outputs)) * len(y)
        correct += int((predicted_class(out) == y).sum())
    model.train(was_training)
    return total_loss / len(labels), correct / len(labels)
