"""Replicas share one folder (DIGITLAB_RUNS, DIGITLAB_MY_DIGITS): writers in two processes at once lose nothing.

Each test has two real processes (forked by tests/shared_writers.py) write through the app's
own functions into one folder at the same moment, then reads the folder back.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from core.data import mydigits
from core.runs.listing import list_damaged_runs, list_runs
from core.runs.store import load_run
from core.train import timebudget
from tests import shared_writers

WRITER = Path(shared_writers.__file__)


def write_at_once(kind: str, folder: Path, count: int, writers: int = 2, also: str = "") -> None:
    """Run writers processes of one kind on folder, each count times, started together (and
    one process of kind also beside them)."""
    kinds = [kind] * writers + ([also] if also else [])
    # one process imports torch and the app, then forks the writers (tests/shared_writers.py):
    # forked, they are as separate as started ones, and the imports (4-5 CPU-s) are paid once
    done = subprocess.run(
        [sys.executable, str(WRITER), str(folder), str(count)]
        + [f"{kind}:writer{n}" for n, kind in enumerate(kinds)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_two_processes_saving_runs_at_once_lose_none(tmp_path):
    runs = tmp_path / "runs"
    write_at_once("runs", runs, count=6)
    listed = list_runs(runs)
    assert list_damaged_runs(runs) == []
    assert sorted(s["name"] for s in listed) == sorted(
        f"writer{n}-{i}" for n in range(2) for i in range(6)
    )
    for summary in listed:
        assert load_run(summary["path"]).summary["status"] == "finished"


def test_checkpoints_saved_while_another_process_lists_the_runs_never_fail(tmp_path):
    # a listing puts back the folder of a save killed mid-swap; it used to do so between a live
    # swap's two renames too, and that checkpoint save failed (2 of 400 here before the lock)
    runs = tmp_path / "runs"
    write_at_once("checkpoints", runs, count=400, writers=1, also="listings")
    assert [s["run_id"] for s in list_runs(runs)] == [shared_writers.CHECKPOINTED]
    assert list_damaged_runs(runs) == []


def test_two_processes_adding_digits_to_one_set_lose_none(tmp_path, monkeypatch):
    folder = tmp_path / "my-digits"
    write_at_once("digits", folder, count=25)
    monkeypatch.setenv(mydigits.FOLDER_ENV, str(folder))
    digit_set = mydigits.load_set(shared_writers.DIGIT_SET)
    assert len(digit_set) == 50
    images, _ = digit_set.tensors()
    assert images.shape == (50, 28, 28)
    # a lost update leaves its images on disk, listed nowhere
    on_disk = {p.name.removesuffix(".png") for p in digit_set.folder.glob("d*.png")}
    assert on_disk == {d.id for d in digit_set.digits}


def test_two_processes_recording_timings_lose_no_update(tmp_path):
    runs = tmp_path / "runs"
    write_at_once("timings", runs, count=20)
    # the same arithmetic as record_run, 40 times: every record moves the correction towards 2,
    # so one record lost leaves it measurably short (by 1e-7 at the 40th, far above rounding)
    target, expected = math.log(shared_writers.SLOWDOWN), 1.0
    for _ in range(40):
        old = math.log(expected)
        expected = math.exp(old + timebudget.LEARNING_WEIGHT * (target - old))
    assert math.isclose(timebudget.correction(runs), expected, rel_tol=1e-12)
