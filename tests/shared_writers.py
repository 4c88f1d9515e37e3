"""One writer process for tests/test_shared_runs.py: saves runs, digits or timings into a shared folder.

    python tests/shared_writers.py runs|digits|timings|checkpoints|listings FOLDER COUNT TAG

A writer says "ready" once its imports are done, then waits for a line on stdin: the test
starts every writer's loop at the same moment, so that they write at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.spec.config import TrainConfig  # noqa: E402
from core.spec.models import DenseLayer, ModelSpec, build  # noqa: E402
from tests.test_runs import EPOCHS, STEPS  # noqa: E402  (the tiny run's curves)

SPEC = ModelSpec(dense=[DenseLayer(8)], outputs=10)
CONFIG = TrainConfig(epochs=1)
DIGIT_SET = "shared class"
CHECKPOINTED = "20261201-000000-checkpointed-0001"
# a run that took twice what the constants predict: every record pulls the correction towards 2
SLOWDOWN = 2.0


def save_runs(folder: Path, count: int, tag: str) -> None:
    """Save count small runs with the app's own id and save path (core.runs.store.save_run)."""
    from core.runs.store import new_run_id, save_run

    torch.manual_seed(0)
    model = build(SPEC).eval()
    for i in range(count):
        summary = {"name": f"{tag}-{i}", "status": "finished", "test_accuracy": 0.5}
        save_run(folder, new_run_id(f"{tag}-{i}"), SPEC, CONFIG, model, summary, STEPS, EPOCHS)


def save_digits(folder: Path, count: int, tag: str) -> None:
    """Add count digits to one set of my digits in folder, as the Draw page does."""
    from core.data import mydigits

    os.environ[mydigits.FOLDER_ENV] = str(folder)
    for i in range(count):
        image = np.full((28, 28), i % 256, dtype=np.uint8)
        mydigits.save_digit(DIGIT_SET, label=i % 10, image=image)


def record_timings(folder: Path, count: int, tag: str) -> None:
    """Record count finished runs in the runs folder's time-estimate correction."""
    from core.train import timebudget

    seconds = SLOWDOWN * timebudget.raw_estimate(SPEC, CONFIG)
    for _ in range(count):
        timebudget.record_run(folder, SPEC, CONFIG, seconds)


def save_checkpoints(folder: Path, count: int, tag: str) -> None:
    """Save one run over itself count times, as a training's checkpoints do (replace=True)."""
    from core.runs.store import save_run

    model = build(SPEC).eval()
    summary = {"name": tag, "status": "interrupted"}
    for _ in range(count):
        save_run(folder, CHECKPOINTED, SPEC, CONFIG, model, summary, STEPS, EPOCHS,
                 checkpoint=b"x" * 1000, replace=True)  # fmt: skip


def list_runs_repeatedly(folder: Path, count: int, tag: str) -> None:
    """List the runs count times, as every page of every replica does."""
    from core.runs.listing import list_runs

    for _ in range(count):
        list_runs(folder)


WRITERS = {
    "runs": save_runs,
    "digits": save_digits,
    "timings": record_timings,
    "checkpoints": save_checkpoints,
    "listings": list_runs_repeatedly,
}

if __name__ == "__main__":
    kind, folder, count, tag = sys.argv[1:]
    print("ready", flush=True)
    sys.stdin.readline()
    WRITERS[kind](Path(folder), int(count), tag)
