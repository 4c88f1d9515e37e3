"""Nothing lost when the server stops: checkpoints after each epoch, interrupted runs, resuming."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from core.events import Checkpointed, Done, Failed, Step
from core.runs.listing import list_runs
from core.runs.store import CHECKPOINT_FILE, has_checkpoint, load_run
from core.spec.presets import get_preset
from core.train.control import TrainControl
from core.train.jobs import JobRegistry
from core.train.outcome import TrainingDiverged
from core.train.run import JobRequest, run_job

REPO = Path(__file__).resolve().parent.parent
# these tests interrupt runs of a few seconds: they need the checkpoint at every epoch's end
pytestmark = pytest.mark.usefixtures("checkpoint_every_epoch")


def small_best_mlp(epochs: int = 3):
    """best-mlp (batch norm, dropout, AdamW, one-cycle): every kind of state a resume must keep."""
    spec, config = get_preset("best-mlp").fresh()
    config.epochs, config.train_fraction, config.device = epochs, 0.1, "cpu"
    return spec, config


class Crash(Exception):
    """Stands in for a killed process: raised by a listener when the first checkpoint lands."""


def crash_after_first_checkpoint(event) -> None:
    if isinstance(event, Checkpointed):
        raise Crash()


def request(run_id: str, data_dir, runs_dir, resume: bool = False) -> JobRequest:
    spec, config = small_best_mlp()
    return JobRequest(run_id, run_id, spec, config, str(data_dir), str(runs_dir), resume=resume)


def test_a_resumed_run_reaches_the_same_weights_as_an_uninterrupted_one(data_dir, tmp_path):
    run_job(request("whole", data_dir, tmp_path), lambda e: None, TrainControl())
    events = []

    def crash_listener(event):
        events.append(event)
        crash_after_first_checkpoint(event)

    run_job(request("halves", data_dir, tmp_path), crash_listener, TrainControl())
    assert isinstance(events[-1], Failed)  # the "crash", after epoch 1's checkpoint
    interrupted = load_run(tmp_path / "halves")
    assert interrupted.summary["status"] == "interrupted"
    assert interrupted.summary["epochs_completed"] == 1 and has_checkpoint(tmp_path / "halves")

    finished = []
    run_job(request("halves", data_dir, tmp_path, resume=True), finished.append, TrainControl())
    assert isinstance(finished[-1], Done) and finished[-1].status == "finished"
    whole, halves = load_run(tmp_path / "whole"), load_run(tmp_path / "halves")
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, halves.model.state_dict()[key]), key
    assert [s.loss for s in halves.steps] == [s.loss for s in whole.steps]
    assert [e.val_accuracy for e in halves.epochs] == [e.val_accuracy for e in whole.epochs]
    assert halves.summary["test_accuracy"] == whole.summary["test_accuracy"]
    assert not (tmp_path / "halves" / CHECKPOINT_FILE).exists()  # a finished run is no checkpoint


def test_a_run_that_diverges_after_a_checkpoint_leaves_nothing_to_continue(data_dir, tmp_path):
    seen = []

    def diverge_in_epoch_two(event) -> None:
        # the trainer raises this from its step log when a loss is NaN; here after epoch 1
        seen.append(event)
        if isinstance(event, Step) and any(isinstance(e, Checkpointed) for e in seen):
            raise TrainingDiverged("the loss became NaN at step 12: training stopped.")

    run_job(request("nan", data_dir, tmp_path), diverge_in_epoch_two, TrainControl())
    assert isinstance(seen[-1], Failed) and "loss became NaN" in seen[-1].message
    assert any(isinstance(e, Checkpointed) for e in seen)
    assert list_runs(tmp_path) == [] and not (tmp_path / "nan").exists()


SERVER = textwrap.dedent(
    """
    import sys, time
    from core.spec.presets import get_preset
    from core.events import Checkpointed
    from core.train.jobs import JobRegistry

    spec, config = get_preset("best-mlp").fresh()
    config.epochs, config.train_fraction, config.device = 40, 0.1, "cpu"
    registry = JobRegistry(executor="local")
    job = registry.submit(spec, config, "killed", data_dir=sys.argv[1], runs_dir=sys.argv[2])
    while not job.events(Checkpointed):
        time.sleep(0.05)
    print(job.run_id, flush=True)
    time.sleep(600)  # training goes on until the test kills this "server"
    """
)


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


@pytest.mark.untimed
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker through /proc")
def test_after_the_server_is_killed_the_run_is_listed_as_interrupted_and_continues(
    data_dir, tmp_path
):
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(data_dir), str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        run_id = server.stdout.readline().strip()
        assert run_id, "the server did not report a checkpoint"
        workers = _children(server.pid)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        server.kill()
    # the orphaned worker notices that nobody listens at its next send, and ends
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}/status").exists() and "zombie" not in
                   Path(f"/proc/{pid}/status").read_text() for pid in workers)  # fmt: skip

    (summary,) = list_runs(tmp_path)  # "the next start": a fresh look at the runs folder
    assert summary["run_id"] == run_id and summary["status"] == "interrupted"
    assert summary["epochs_completed"] >= 1
    run = load_run(summary["path"])  # usable on Evaluate, Draw and Inside like any run
    assert run.predict_proba(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert len(run.epochs) == summary["epochs_completed"] and run.steps

    registry = JobRegistry(executor="thread")
    job = registry.continue_run(summary["path"], data_dir=str(data_dir), runs_dir=tmp_path)
    assert len(job.steps()) == len(run.steps)  # the curves so far come along
    while job.progress()["step"] <= run.summary["steps"]:
        assert job.active, job.error
        time.sleep(0.05)
    job.stop()
    assert job.wait(60) and job.state == "stopped", job.error
    resumed = load_run(summary["path"])
    assert (
        resumed.summary["status"] == "stopped" and resumed.summary["steps"] > run.summary["steps"]
    )
    assert [s.step for s in resumed.steps] == list(range(1, resumed.summary["steps"] + 1))


def test_continuing_a_run_that_is_already_training_is_refused(data_dir, tmp_path):
    run_job(request("twice", data_dir, tmp_path), crash_after_first_checkpoint, TrainControl())
    registry = JobRegistry(executor="thread")
    job = registry.continue_run(tmp_path / "twice", data_dir=str(data_dir), runs_dir=tmp_path)
    try:
        with pytest.raises(ValueError, match="already training"):
            registry.continue_run(tmp_path / "twice", data_dir=str(data_dir), runs_dir=tmp_path)
    finally:
        job.stop()
        job.wait(60)


def test_an_interrupted_run_shows_on_train_and_evaluate_and_continues_from_a_click(
    data_dir, isolated_folders
):
    from streamlit.testing.v1 import AppTest

    from ui.shared import state

    run_job(request("cut-short", data_dir, isolated_folders), crash_after_first_checkpoint,
            TrainControl())  # fmt: skip
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params["job"] = "cut-short"
    at.run().switch_page("views/3_Train.py").run()
    assert not at.exception
    assert any("interrupted at epoch 1" in w.value for w in at.warning)
    at.switch_page("views/4_Evaluate.py").run()
    assert not at.exception
    assert any("interrupted at epoch 1" in c.value for c in at.caption)
    at.button(key="eval-continue").click().run()
    assert not at.exception
    job = state.registry().get("cut-short")
    try:
        assert job is not None and job.active and job.request.resume
        assert job.owner == at.session_state["_session_id"]
        assert len(job.steps()) > 0  # the first epoch's curve, before a new step
    finally:
        job.stop()
        job.wait(60)


def test_a_continued_race_run_stays_in_its_race_and_counts_every_digit_seen(data_dir, tmp_path):
    from core.train.job import Job

    raced = request("raced", data_dir, tmp_path)
    raced.race, raced.variant = "race-0001", "lr=0.003"
    run_job(raced, crash_after_first_checkpoint, TrainControl())
    interrupted = load_run(tmp_path / "raced").summary
    assert interrupted["status"] == "interrupted" and interrupted["race"] == "race-0001"
    one_epoch = interrupted["samples_seen"]
    assert one_epoch > 0

    job = Job.continuing(tmp_path / "raced", str(tmp_path))
    assert (job.request.race, job.request.variant) == ("race-0001", "lr=0.003")
    finished = []
    run_job(job.request, finished.append, TrainControl())
    assert isinstance(finished[-1], Done) and finished[-1].status == "finished"
    summary = load_run(tmp_path / "raced").summary
    assert (summary["race"], summary["variant"]) == ("race-0001", "lr=0.003")
    assert summary["samples_seen"] == 3 * one_epoch  # the checkpoint kept the count
