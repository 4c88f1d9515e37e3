"""Follow a drawn digit while a network trains: score it with each new weight snapshot.

The trainer sends the whole network twice a second (core.train.follow); `DigitFollower` builds
the job's network once and copies each new snapshot's weights into it, scores the digit, and
keeps the probabilities step by step in a `FollowHistory`, which starts again for a new digit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.analysis.evaluation import predict_proba
from core.events import ModelSnapshot
from core.spec.config import TrainConfig
from core.spec.image import IMAGE_SIDE
from core.spec.models import ModelSpec, build

# a point per snapshot, two a second: 2,000 points is over 15 minutes of training
MAX_HISTORY = 2000


def digit_key(digit: torch.Tensor | np.ndarray) -> str:
    """Return a short hash of a 28×28 digit: the same drawing gives the same key."""
    pixels = np.ascontiguousarray(
        np.asarray(digit, dtype=np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE)
    )
    return hashlib.blake2b(pixels.tobytes(), digest_size=8).hexdigest()


def model_at(spec: ModelSpec, snapshot: ModelSnapshot, model: nn.Module | None = None) -> nn.Module:
    """Return the network with the snapshot's weights, in eval mode; into model when given,
    which is then only copied into, not built again."""
    model = build(spec) if model is None else model
    state = {name: torch.from_numpy(np.asarray(array)) for name, array in snapshot.state.items()}
    model.load_state_dict(state)
    return model.eval()


@dataclass
class FollowHistory:
    """One digit's probabilities at each scored step, oldest first, at most max_points of them.

    Past the cap every other point is dropped, so the chart keeps the whole run, less finely.
    """

    max_points: int = MAX_HISTORY
    steps: list[int] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)

    def clear(self) -> None:
        """Forget every point."""
        self.steps.clear()
        self.probabilities.clear()

    def record(self, step: int, probabilities: np.ndarray) -> None:
        """Add the probabilities at step; a step already recorded last is replaced."""
        values = np.asarray(probabilities, dtype=np.float32)
        if self.steps and step <= self.steps[-1]:
            if step == self.steps[-1]:
                self.probabilities[-1] = values
            return  # an older snapshot arriving late adds nothing
        self.steps.append(int(step))
        self.probabilities.append(values)
        if len(self.steps) > self.max_points:
            # keep the first and the newest; thin out the rest
            self.steps[:-1] = self.steps[:-1:2]
            self.probabilities[:-1] = self.probabilities[:-1:2]

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (steps (n,), probabilities (n, classes))."""
        if not self.steps:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self.steps), np.stack(self.probabilities)


class DigitFollower:
    """Scores one drawn digit with each new snapshot of one job; keeps the history.

    The network is built once per job; a new snapshot only copies its weights in, so a score
    costs one forward pass of one digit. When the job ends, `finish` hands over the saved run's
    network (the last snapshot's weights), so a digit drawn afterwards is still scored.
    """

    def __init__(self, max_points: int = MAX_HISTORY) -> None:
        self.run_id: str | None = None
        self.spec: ModelSpec | None = None
        self.config: TrainConfig | None = None
        self.history = FollowHistory(max_points)
        self._reset()

    def _reset(self) -> None:
        self.digit: str | None = None  # digit_key of the digit the history is of
        self.model: nn.Module | None = None
        self.snapshot: ModelSnapshot | None = None
        self.step: int | None = None  # the step of the weights in model
        self.finished_step: int | None = None
        self.latest: np.ndarray | None = None  # the newest probabilities
        self._borrowed = False  # model is the saved run's: never copy weights into it
        self._stale = False
        self.history.clear()

    def follow(self, run_id: str, spec: ModelSpec, config: TrainConfig) -> None:
        """Follow the job run_id (a different one starts from nothing)."""
        if run_id != self.run_id:
            self.run_id, self.spec, self.config = run_id, spec, config
            self._reset()

    def update(self, snapshot: ModelSnapshot | None, digit: torch.Tensor | None) -> bool:
        """Score digit (1, 28, 28) with snapshot if either is new; return whether it scored.

        A different digit starts a new history; no digit (a cleared canvas) keeps the old one.
        """
        if self.run_id is None:
            raise ValueError("follow(run_id, spec, config) first: no job is followed")
        if snapshot is not None and snapshot is not self.snapshot:
            self.model = model_at(self.spec, snapshot, None if self._borrowed else self.model)
            self.snapshot, self.step, self._borrowed, self._stale = (
                snapshot,
                snapshot.step,
                False,
                True,
            )
        key = digit_key(digit) if digit is not None else None
        if key is not None and key != self.digit:
            self.digit, self._stale = key, True
            self.history.clear()
        if digit is None or self.model is None or not self._stale:
            return False
        self._stale = False
        self.latest = score_digit(self.model, digit, self.spec, self.config)
        self.history.record(self.step, self.latest)
        return True

    def finish(self, step: int, model: nn.Module) -> None:
        """The job ended at step with this network (the saved run's): score with it from now on."""
        if self.finished_step == step:
            return
        self.finished_step, self.model, self.step = step, model, step
        self._borrowed = self._stale = True


def score_digit(
    model: nn.Module, digit: torch.Tensor, spec: ModelSpec, config: TrainConfig
) -> np.ndarray:
    """Return one digit's probabilities (classes,) from a network trained with spec and config."""
    images = torch.as_tensor(digit, dtype=torch.float32).reshape(1, 1, IMAGE_SIDE, IMAGE_SIDE)
    return predict_proba(model, images, config.normalization, spec.output)[0].numpy()
