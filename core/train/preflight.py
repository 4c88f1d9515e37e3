"""What a click on Start checks, in one place: the run's name, the settings, the memory and
the time the run would take; with the estimate the page shows under the button.

The Train page asks it to show the estimate or the problem; Job.create asks it before it
makes a job (a run started from the command line or a race is checked the same way).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.runs.schema import check_run_name
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train import timebudget
from core.train.checks import check_trainable


@dataclass(frozen=True)
class Preflight:
    """The answer: the estimated training seconds (None where the settings are refused before
    an estimate) and the problem that stops the run from starting (None: it may start)."""

    estimate: float | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """Return whether the run may start."""
        return self.problem is None


def preflight(
    spec: ModelSpec, config: TrainConfig, name: str, runs_dir: str | os.PathLike | None = None
) -> Preflight:
    """Check everything a run needs before it starts; return the estimate and the problem."""
    estimate = None
    try:
        check_run_name(name)  # a name the summary cannot hold would be found only at the end
        check_trainable(spec, config)  # also refuses a batch or a network that cannot fit
        estimate = timebudget.estimate_seconds(spec, config, runs_dir)
        timebudget.check_time(spec, config, runs_dir, estimate)  # and a run of hours
    except ValueError as exc:
        return Preflight(estimate, str(exc))
    return Preflight(estimate, None)
