"""Steering a running job: new settings and single batches, sent from the page to the loop.

The page (or a notebook) sends a request through the job's TrainControl; the training loop
takes the requests between steps, so a change applies to the very next step. The requests
travel in a Mailbox: a queue with two counters beside it, so that the loop's check between
steps is one read of a shared integer, not a system call (an empty multiprocessing queue costs
about 4 µs to ask, the counter 0.1 µs).

What a change does to a schedule: it ends it. From the next step on the run trains at the rate
and momentum it was given, held constant until the next change, whatever the schedule would
have done (PyTorch's OneCycleLR sets the rate from scratch at every step, so "scale the
schedule from the new rate" could not mean the same thing for every schedule). The rate
curve and the run's settings_changes say exactly what was used.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from core.analysis.evaluation import predicted_class
from core.analysis.probes import layer_labels, weighted_layers
from core.events import OneBatchReport
from core.spec.config import (  # core.spec.config.LIMITS: the one table of limits
    TrainConfig,
    check_limit,
)
from core.spec.image import IMAGE_SIDE
from core.spec.models import ModelSpec
from core.spec.task import NORMALIZATIONS
from core.train.engines import loss_fn


class Trainer(Protocol):
    """What a batch probe reads of the trainer (a Protocol: the trainer imports this module)."""

    model: nn.Module
    config: TrainConfig
    spec: ModelSpec
    step: int
    epoch: int
    lr: float


SHOWN_DIGITS = 32  # a single batch's digits that travel back to the page
ADAM_LIKE = ("adam", "adamw")  # the optimizers whose momentum is β₁


@dataclass(frozen=True)
class ChangeSettings:
    """Train at lr and momentum from the next step on; None keeps a value as it is."""

    lr: float | None = None
    momentum: float | None = None  # SGD's and RMSprop's momentum, Adam's and AdamW's β₁


@dataclass(frozen=True)
class OneBatch:
    """While paused: train exactly one batch and report on it (a OneBatchReport event)."""


def momentum_field(optimizer: str) -> str:
    """Return the config field that plays momentum's part for an optimizer: 'momentum' or 'beta1'."""
    return "beta1" if optimizer in ADAM_LIKE else "momentum"


def check_settings(optimizer: str, lr: float | None, momentum: float | None) -> None:
    """Raise ValueError naming the field unless lr and momentum are in core.spec.config.LIMITS."""
    if lr is None and momentum is None:
        raise ValueError("lr: give a learning rate or a momentum to change")
    if lr is not None:
        check_limit("lr", lr)
    if momentum is not None:
        check_limit(momentum_field(optimizer), momentum)


class _Count:
    """An integer with .value, like multiprocessing's RawValue, for a loop in a thread."""

    def __init__(self) -> None:
        self.value = 0


class Mailbox:
    """Requests from whoever steers to one training loop, in order.

    sent and taken count the requests put in and taken out: the loop reads the queue only when
    they differ. Only one side takes at a time (the loop while a job runs, reset() between jobs),
    so the counts need no lock on that side; senders hold one.
    """

    def __init__(self, context=None) -> None:
        if context is None:  # a loop in a thread of this process
            self._queue, self._sent, self._taken = queue.SimpleQueue(), _Count(), _Count()
        else:  # a loop in a worker process: handed over when the process starts
            self._queue = context.Queue()
            self._sent, self._taken = context.RawValue("q", 0), context.RawValue("q", 0)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        # a lock does not cross processes: the child makes its own (it only takes, never sends)
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def send(self, request: ChangeSettings | OneBatch) -> None:
        """Put a request in for the loop."""
        with self._lock:
            self._queue.put(request)
            self._sent.value += 1

    def take(self) -> ChangeSettings | OneBatch | None:
        """Return the oldest request not yet taken, or None."""
        if self._taken.value >= self._sent.value:
            return None
        try:
            # counted, so it is on its way: a process queue's feeder thread may still hold it
            request = self._queue.get(timeout=5.0)
        except queue.Empty:  # lost with a sender that died: counted, so as not to wait again
            request = None
        self._taken.value += 1
        return request

    def clear(self) -> None:
        """Drop every request not taken (a job's leftovers, before the next job)."""
        while self.take() is not None:
            pass

    def close(self) -> None:
        """Let this process exit without waiting to deliver requests nobody will take."""
        cancel = getattr(self._queue, "cancel_join_thread", None)
        if cancel is not None:
            cancel()


def parameter_labels(model: nn.Sequential) -> list[str]:
    """Return a name per parameter tensor: 'dense 1 weight', 'dense 1 bias', 'norm 2 weight'…"""
    named = dict(zip(map(id, weighted_layers(model)), layer_labels(model)))
    labels = []
    for position, module in enumerate(model):
        layer = named.get(id(module), f"{type(module).__name__.lower()} {position}")
        labels += [f"{layer} {name}" for name, _ in module.named_parameters(recurse=False)]
    return labels


def batch_pixels(xb: torch.Tensor, normalization: str, count: int = SHOWN_DIGITS) -> torch.Tensor:
    """Return a prepared batch's first digits as uint8 (count, 28, 28) on the CPU, as trained."""
    mean, std = NORMALIZATIONS[normalization]
    pixels = xb[:count].detach().float().reshape(-1, IMAGE_SIDE, IMAGE_SIDE) * std + mean
    return pixels.clamp(0, 1).mul(255).round().to(torch.uint8).cpu()


class BatchProbe:
    """One batch watched through its update: the loss before and after, and how far each tensor
    moved. Both losses are measured in eval mode, which draws no random numbers and leaves batch
    norm's statistics alone: the run goes on exactly as if nobody had looked."""

    def __init__(self, trainer: Trainer, xb: torch.Tensor, yb: torch.Tensor) -> None:
        self.xb, self.yb = xb, yb
        self.before = [p.detach().clone() for p in trainer.model.parameters()]
        self.loss_before, _ = self._eval(trainer)

    @torch.no_grad()
    def _eval(self, trainer: Trainer) -> tuple[float, torch.Tensor]:
        model = trainer.model
        was_training = model.training
        model.eval()
        outputs = model(self.xb)
        loss = loss_fn(outputs, self.yb, trainer.config.loss, trainer.spec.outputs)
        model.train(was_training)
        return float(loss), outputs

    @torch.no_grad()
    def report(self, trainer: Trainer) -> OneBatchReport:
        """Return the event for the batch, once the trainer has taken its step."""
        loss_after, outputs = self._eval(trainer)
        after = list(trainer.model.parameters())
        moves = torch.stack([(a - b).norm() for a, b in zip(after, self.before)]).tolist()
        norms = torch.stack([b.norm() for b in self.before]).tolist()
        classes = list(trainer.config.classes)
        shown = slice(0, SHOWN_DIGITS)
        return OneBatchReport(
            step=trainer.step,
            epoch=trainer.epoch,
            lr=float(trainer.lr),
            batch_size=len(self.yb),
            loss_before=self.loss_before,
            loss_after=loss_after,
            images=batch_pixels(self.xb, trainer.config.normalization).numpy(),
            labels=[classes[i] for i in self.yb[shown].tolist()],
            predicted=[classes[i] for i in predicted_class(outputs[shown]).tolist()],
            parameters=parameter_labels(trainer.model),
            update_norms=moves,
            weight_norms=norms,
        )
