"""What a training ends with: a TrainResult, or a TrainingFailed that says why it stopped early."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from core.events import EpochEnded, SettingsChanged, StepColumns


@dataclass
class TrainResult:
    """What a finished or stopped training produced."""

    model: nn.Module  # on the CPU, in eval mode
    status: str  # "finished" or "stopped"
    steps: StepColumns = field(default_factory=StepColumns)  # read like a list of Step
    epochs: list[EpochEnded] = field(default_factory=list)
    seconds: float = 0.0  # training time, pauses excluded
    seconds_per_epoch: float | None = None
    device: str = "cpu"
    test_loss: float | None = None
    test_accuracy: float | None = None
    settings_changes: list[SettingsChanged] = field(default_factory=list)
    # its temperature and calibration errors (core.analysis.calibration); empty if not scored
    calibration: dict = field(default_factory=dict)


class TrainingFailed(RuntimeError):
    """Training ended early for a reason the user can act on; the message says which."""


class TrainingDiverged(TrainingFailed):
    """The loss became NaN or infinite."""


class OutOfMemory(TrainingFailed):
    """The device ran out of memory; what the job held has been freed."""
