"""Checkpoints: everything needed to continue as if the run had never stopped.

After an epoch the loop's state (weights, the engine's optimizer and schedule, the random
generators and the counters) is taken whole; a new trainer of the same run is put back there,
so that the steps after a resume are the very steps the run would have taken.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from core.events import EpochEnded, SettingsChanged, Step, StepColumns


class Trainer(Protocol):
    """What a checkpoint reads and restores of the trainer (a Protocol: the trainer imports this
    module)."""

    model: nn.Module
    engine: Any  # an engine of core.train.engines: it has state_dict() and load_state_dict()
    device: torch.device
    generator: torch.Generator
    device_generator: torch.Generator
    batch_size: int
    step: int
    start_step: int
    epoch: int
    samples_seen: int
    seconds_before: float
    steps: StepColumns
    epochs: list[EpochEnded]
    settings_changes: list[SettingsChanged]

    def training_seconds(self) -> float: ...


def checkpoint_state(trainer: Trainer) -> dict:
    """Return the loop's state after an epoch: weights, engine, random generators, counters."""
    state = {
        "model": {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()},
        "engine": trainer.engine.state_dict(),
        "step": trainer.step,
        "epoch": trainer.epoch,
        "samples_seen": trainer.samples_seen,
        "seconds": trainer.training_seconds(),
        "generator": trainer.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    if trainer.device_generator is not trainer.generator:
        state["device_generator"] = trainer.device_generator.get_state()
    if trainer.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(trainer.device)
    return state


def restore_state(
    trainer: Trainer,
    state: dict,
    steps: list[Step],
    epochs: list[EpochEnded],
    settings_changes: list[SettingsChanged] = (),
) -> None:
    """Put the trainer where checkpoint_state() left it, with the metrics saved beside it."""
    trainer.model.load_state_dict(state["model"])
    trainer.engine.load_state_dict(state["engine"])
    trainer.step = trainer.start_step = int(state["step"])
    trainer.epoch = int(state["epoch"])
    # checkpoints written before the count was kept: every step was a whole batch
    trainer.samples_seen = int(state.get("samples_seen", trainer.step * trainer.batch_size))
    trainer.seconds_before = float(state["seconds"])
    trainer.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if "device_generator" in state and trainer.device_generator is not trainer.generator:
        trainer.device_generator.set_state(state["device_generator"])
    if "cuda_rng" in state and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], trainer.device)
    trainer.steps, trainer.epochs = StepColumns(steps), list(epochs)
    trainer.settings_changes = list(settings_changes)
