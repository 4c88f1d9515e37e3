"""Writer processes for tests/test_shared_runs.py: save runs, digits or timings into a shared folder.

    python tests/shared_writers.py FOLDER COUNT KIND:TAG [KIND:TAG ...]

KIND is runs, digits, timings, checkpoints or listings. The process imports torch and the app
once, then forks one writer process per KIND:TAG; the writers wait until every one of them is
there and start their loops at the same moment, so that they write at once. The exit status is
0 only if every writer's was (each writer's traceback goes to stderr).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.data import mydigits  # noqa: E402
from core.runs.listing import list_runs  # noqa: E402
from core.runs.store import new_run_id, save_run  # noqa: E402
from core.spec.config import TrainConfig  # noqa: E402
from core.spec.models import DenseLayer, ModelSpec, build  # noqa: E402
from core.train import timebudget  # noqa: E402
from tests.test_runs import EPOCHS, STEPS  # noqa: E402  (the tiny run's curves)

SPEC = ModelSpec(dense=[DenseLayer(8)], outputs=10)
CONFIG = TrainConfig(epochs=1)
DIGIT_SET = "shared class"
CHECKPOINTED = "20261201-000000-checkpointed-0001"
# a run that took twice what the constants predict: every record pulls the correction towards 2
SLOWDOWN = 2.0


def save_runs(folder: Path, count: int, tag: str) -> None:
    """Save count small runs with the app's own id and save path (core.runs.store.save_run)."""
    torch.manual_seed(0)
    model = build(SPEC).eval()
    for i in range(count):
        summary = {"name": f"{tag}-{i}", "status": "finished", "test_accuracy": 0.5}
        save_run(folder, new_run_id(f"{tag}-{i}"), SPEC, CONFIG, model, summary, STEPS, EPOCHS)


def save_digits(folder: Path, count: int, tag: str) -> None:
    """Add count digits to one set of my digits in folder, as the Draw page does."""
    os.environ[mydigits.FOLDER_ENV] = str(folder)
    for i in range(count):
        image = np.full((28, 28), i % 256, dtype=np.uint8)
        mydigits.save_digit(DIGIT_SET, label=i % 10, image=image)


def record_timings(folder: Path, count: int, tag: str) -> None:
    """Record count finished runs in the runs folder's time-estimate correction."""
    seconds = SLOWDOWN * timebudget.raw_estimate(SPEC, CONFIG)
    for _ in range(count):
        timebudget.record_run(folder, SPEC, CONFIG, seconds)


def save_checkpoints(folder: Path, count: int, tag: str) -> None:
    """Save one run over itself count times, as a training's checkpoints do (replace=True)."""
    model = build(SPEC).eval()
    summary = {"name": tag, "status": "interrupted"}
    for _ in range(count):
        save_run(folder, CHECKPOINTED, SPEC, CONFIG, model, summary, STEPS, EPOCHS,
                 checkpoint=b"x" * 1000, replace=True)  # fmt: skip


def list_runs_repeatedly(folder: Path, count: int, tag: str) -> None:
    """List the runs count times, as every page of every replica does."""
    for _ in range(count):
        list_runs(folder)


WRITERS = {
    "runs": save_runs,
    "digits": save_digits,
    "timings": record_timings,
    "checkpoints": save_checkpoints,
    "listings": list_runs_repeatedly,
}


def fork_writers(folder: Path, count: int, writers: list[str]) -> int:
    """Fork a process per "kind:tag", start them together; return 0 if every one succeeded."""
    torch.set_num_threads(1)  # no thread pool exists when the writers fork
    start_read, start_write = os.pipe()
    children = []
    for writer in writers:
        kind, tag = writer.split(":")
        pid = os.fork()
        if pid == 0:
            os.close(start_write)
            os.read(start_read, 1)  # returns when the parent closes its end: all start at once
            status = 1
            try:
                WRITERS[kind](folder, count, tag)
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children.append(pid)
    os.close(start_read)
    os.close(start_write)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    return 0 if all(status == 0 for status in statuses) else 1


if __name__ == "__main__":
    sys.exit(fork_writers(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]))
