"""core.train.jobs: training in worker processes that the UI polls, pauses, stops and reattaches to."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from core.events import Done, Failed, Orphaned, Started
from core.runs.listing import list_runs
from core.runs.store import load_run
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.presets import get_preset
from core.train.control import TrainControl
from core.train.executors import ProcessExecutor
from core.train.job import Job
from core.train.jobs import JobRegistry
from tests.conftest import wait_for, wait_until_settled


def quick_config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "train_fraction": 0.05, **changes})


@pytest.fixture(scope="module")
def workers():
    """One pool of worker processes for the module: each test's registry reuses its worker."""
    executor = ProcessExecutor()
    yield executor
    executor.close()


def test_a_finished_job_is_saved_as_a_run(data_dir, tmp_path, workers):
    registry = JobRegistry(executor=workers)
    job = registry.submit(ModelSpec(), quick_config(), "tiny", data_dir=data_dir, runs_dir=tmp_path)
    assert job.wait(120)
    assert job.state == "finished", job.error
    run = load_run(job.run_dir)
    assert run.summary["status"] == "finished" and run.summary["test_accuracy"] > 0.8
    assert [s["run_id"] for s in list_runs(tmp_path)] == [job.run_id]
    assert registry.get(job.run_id) is job
    done = job.events(Done)
    assert done and done[0].run_dir == str(job.run_dir)
    assert workers.workers()[0].process.pid != os.getpid()  # it trained in another process


def test_extra_jobs_queue_with_their_position_and_then_run(data_dir, tmp_path, workers):
    registry = JobRegistry(max_concurrent=1, executor=workers)
    first = registry.submit(
        ModelSpec(), quick_config(epochs=3), "first", data_dir=data_dir, runs_dir=tmp_path
    )
    second = registry.submit(
        ModelSpec(), quick_config(), "second", data_dir=data_dir, runs_dir=tmp_path
    )
    third = registry.submit(
        ModelSpec(), quick_config(), "third", data_dir=data_dir, runs_dir=tmp_path
    )
    assert second.state == "queued" and registry.queue_position(second) == 1
    assert registry.queue_position(third) == 2
    assert [j.run_id for j in registry.active()][:1] == [first.run_id]
    assert third.wait(240)
    assert first.state == second.state == third.state == "finished"


def test_a_stopped_job_is_saved_as_stopped(data_dir, tmp_path, workers):
    registry = JobRegistry(executor=workers)
    job = registry.submit(
        ModelSpec(),
        quick_config(epochs=100, batch_size=16),
        "long",
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    while job.progress()["step"] < 5:
        time.sleep(0.02)
    job.pause()
    assert job.state == "paused"
    # the steps sent before the pause may arrive late on a starved core: wait for the count to
    # settle (the paused loop reports every step it took), then see it stay
    settled = wait_until_settled(lambda: job.progress()["step"])
    time.sleep(1.0)
    assert job.progress()["step"] == settled  # nothing trains while paused
    job.stop()
    assert job.wait(10)
    assert job.state == "stopped"
    run = load_run(job.run_dir)
    assert run.summary["status"] == "stopped"
    assert run.steps[-1].step == settled  # the page showed the step the run paused at


def test_a_diverging_job_fails_with_the_message_and_saves_nothing(data_dir, tmp_path, workers):
    registry = JobRegistry(executor=workers)
    job = registry.submit(
        ModelSpec(),
        quick_config(optimizer="sgd", lr=10.0, loss="mse", epochs=3),
        "nan",
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    assert job.wait(60)
    assert job.state == "failed"
    assert "loss became" in job.error
    assert job.events(Failed)[0].message == job.error
    assert list_runs(tmp_path) == []


def test_progress_reports_eta_and_rate_while_running(data_dir, tmp_path, workers):
    registry = JobRegistry(executor=workers)
    job = registry.submit(
        ModelSpec(),
        quick_config(epochs=30, batch_size=16),
        "eta",
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    while job.progress()["step"] < 50:
        time.sleep(0.02)
    progress = job.progress()
    assert progress["state"] == "running" and progress["samples_per_s"] > 0
    assert progress["eta_seconds"] is not None and progress["eta_seconds"] > 0
    assert 0 < progress["fraction"] < 1
    assert isinstance(job.events()[0], Started) and job.plan.total_steps == progress["total_steps"]
    job.stop()
    job.wait(10)


# --- robust under a classroom: stop latency, orphaned jobs, a bounded registry -------------


class TimedControl(TrainControl):
    """A TrainControl that notes when the training loop first sees the stop: it steps no more."""

    def __init__(self) -> None:
        super().__init__()
        self.stop_seen_at: float | None = None

    @property
    def stopped(self) -> bool:
        stopped = super().stopped
        if stopped and self.stop_seen_at is None:
            self.stop_seen_at = time.perf_counter()
        return stopped


def measure_stop(preset: str, data_dir, runs_dir) -> dict:
    """Train a preset on the full MNIST, stop it mid-epoch; return the seconds until each effect."""
    spec, config = get_preset(preset).fresh()
    config.device = "cpu"
    ended_at: list[float] = []

    def note_the_end(event) -> None:
        if isinstance(event, Done):
            ended_at.append(time.perf_counter())

    job = Job.create(spec, config, preset, data_dir, runs_dir, listener=note_the_end)
    job.control = TimedControl()
    threading.Thread(target=job.run, daemon=True).start()
    while job.progress()["step"] < 40:
        time.sleep(0.01)
    assert job.progress()["step"] < job.progress()["total_steps"] / job.config.epochs  # mid-epoch
    asked = time.perf_counter()
    job.stop()
    assert job.wait(60)
    return {
        "state": job.state,
        "stepping_ended": job.control.stop_seen_at - asked,
        "saved": ended_at[0] - asked,
    }


# Stopping takes effect when the loop steps no more: within a second for any network. The job
# then scores the model on the validation and test sets and saves it, and only then reads
# "stopped": for an MLP that is fast too, for a CNN on two CPU cores it is ~10-20 s of scoring.
# The one-second target is measured (printed here, reported in docs/reliability.md) on a quiet machine;
# the bounds below only catch a stop that is ignored, since a busy CI machine slows every step.
@pytest.mark.parametrize(("preset", "saved_within"), [("seed-mlp-128", 10.0), ("small-cnn", 120.0)])
def test_stopping_a_job_ends_its_training_loop_promptly(preset, saved_within, data_dir, tmp_path):
    measured = measure_stop(preset, data_dir, tmp_path)
    print(
        f"\nstop latency {preset} (cpu): training loop ended after "
        f"{measured['stepping_ended'] * 1000:.0f} ms, tested and saved as 'stopped' after "
        f"{measured['saved'] * 1000:.0f} ms"
    )
    assert measured["state"] == "stopped"
    assert measured["stepping_ended"] < 5.0
    assert measured["saved"] < saved_within


def test_a_running_job_of_a_closed_tab_is_stopped_after_the_timeout(data_dir, tmp_path, workers):
    registry = JobRegistry(orphan_timeout=1.0, executor=workers)
    job = registry.submit(
        ModelSpec(),
        quick_config(epochs=100, batch_size=16),
        "closed-tab",
        data_dir=data_dir,
        runs_dir=tmp_path,
        owner="tab-1",
    )

    # the tab stays open until the job trains (alone, a worker's start outlasted the timeout
    # and the job was stopped before its first step, with nothing to save), then closes
    def open_tab_sees_it_train() -> bool:
        job.touch()
        return job.progress()["step"] > 0

    wait_for(open_tab_sees_it_train, timeout=60)
    closed = time.monotonic()
    assert job.wait(30)
    assert job.state == "stopped"
    assert job.events(Orphaned)[0].unseen_seconds > 1.0
    assert time.monotonic() - closed < 10
    assert load_run(job.run_dir).summary["status"] == "stopped"


def test_a_job_its_session_keeps_touching_runs_past_the_timeout(data_dir, tmp_path, workers):
    registry = JobRegistry(orphan_timeout=0.5, executor=workers)
    job = registry.submit(
        ModelSpec(),
        quick_config(epochs=100, batch_size=16),
        "open-tab",
        data_dir=data_dir,
        runs_dir=tmp_path,
        owner="tab-1",
    )
    for _ in range(15):  # 1.5 s: three timeouts
        job.touch()
        time.sleep(0.1)
    assert job.state == "running" and not job.events(Orphaned)
    job.stop()
    assert job.wait(30)


def test_a_queued_job_of_a_closed_tab_leaves_the_queue_and_cli_jobs_never_expire(tmp_path):
    registry = JobRegistry(
        max_concurrent=0, orphan_timeout=0.3, executor="thread"
    )  # nothing starts: all queue
    closed_tab = registry.submit(ModelSpec(), quick_config(), "tab", runs_dir=tmp_path, owner="a")
    from_cli = registry.submit(ModelSpec(), quick_config(), "cli", runs_dir=tmp_path)
    deadline = time.monotonic() + 5
    while closed_tab.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert closed_tab.state == "stopped" and registry.queue_position(closed_tab) is None
    assert closed_tab.events(Orphaned) and closed_tab.events(Done)[0].status == "stopped"
    assert from_cli.state == "queued" and registry.queue_position(from_cli) == 1
    assert not registry.stop_orphans()


def test_the_watchdog_thread_ends_when_no_session_job_is_active(tmp_path):
    registry = JobRegistry(max_concurrent=0, orphan_timeout=0.2, executor="thread")
    job = registry.submit(ModelSpec(), quick_config(), "tab", runs_dir=tmp_path, owner="a")
    watchdog = registry._watchdog
    assert watchdog is not None and watchdog.is_alive()
    watchdog.join(5)
    assert not watchdog.is_alive() and registry._watchdog is None and job.state == "stopped"


def test_only_the_newest_ended_jobs_stay_in_the_registry(tmp_path):
    registry = JobRegistry(max_concurrent=0, keep_finished=2, executor="thread")
    ended = []
    for number in range(4):
        job = registry.submit(ModelSpec(), quick_config(), f"old{number}", runs_dir=tmp_path)
        registry.cancel_queued(job)
        ended.append(job)
    waiting = registry.submit(ModelSpec(), quick_config(), "waiting", runs_dir=tmp_path)
    kept = {job.run_id for job in registry.jobs()}
    assert kept == {ended[2].run_id, ended[3].run_id, waiting.run_id}


def test_two_jobs_that_draw_the_same_run_id_both_stay(tmp_path, monkeypatch):
    from core.train import job as core_job
    from core.train import jobs as core_jobs

    ids = iter(["same-id", "same-id", "other-id"])
    monkeypatch.setattr(core_job, "new_run_id", lambda name: next(ids))  # Job.create draws
    monkeypatch.setattr(core_jobs, "new_run_id", lambda name: next(ids))  # the registry redraws
    registry = JobRegistry(max_concurrent=0, executor="thread")
    first = registry.submit(ModelSpec(), quick_config(), "a", runs_dir=tmp_path)
    second = registry.submit(ModelSpec(), quick_config(), "b", runs_dir=tmp_path)
    assert first.run_id != second.run_id
    assert registry.get(first.run_id) is first and registry.get(second.run_id) is second


# --- worker processes: a dead worker fails its job, the next job gets a fresh one ----------


def test_a_killed_worker_fails_its_job_keeps_the_curves_and_the_next_job_gets_a_new_one(
    data_dir, tmp_path, workers
):
    registry = JobRegistry(executor=workers)
    job = registry.submit(
        ModelSpec(), quick_config(epochs=100, batch_size=16), "doomed", data_dir, tmp_path
    )
    while job.progress()["step"] < 30:
        time.sleep(0.02)
    victim = workers.workers()[0].process
    os.kill(victim.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    assert job.wait(20)
    assert job.state == "failed"
    assert "training process ended unexpectedly" in job.error and "SIGKILL" in job.error
    assert len(job.steps()) >= 30  # the curves drawn so far stay
    after = registry.submit(ModelSpec(), quick_config(), "after", data_dir, tmp_path)
    assert after.wait(120) and after.state == "finished", after.error
    assert [w.process.pid for w in workers.workers()] != [victim.pid]


def test_stop_takes_effect_in_the_worker_and_is_saved(data_dir, tmp_path, workers):
    registry = JobRegistry(executor=workers)
    spec, config = get_preset("seed-mlp-128").fresh()
    job = registry.submit(spec, config, "stop-me", data_dir, tmp_path)
    while job.progress()["step"] < 100:
        time.sleep(0.01)
    asked = time.perf_counter()
    job.stop()
    steps_then = job.progress()["step"]
    assert job.wait(30)
    latency = time.perf_counter() - asked
    print(
        f"\nstop in a worker process (seed-mlp-128): saved as stopped after {latency * 1000:.0f} ms"
    )
    run = load_run(job.run_dir)
    assert job.state == "stopped" and run.summary["status"] == "stopped"
    # it stopped mid-epoch, within a few flushes of the click: not at the end of the run
    assert run.summary["steps"] < steps_then + 200 < job.plan.total_steps


def test_the_left_counter_prices_the_runs_end_by_its_own_scoring_and_counts_it_down(tmp_path):
    # issue 22: small-cnn's counter read 21% short; after the last step it scores 16,000
    # digits (validation, test), which a third of its training rate made far too cheap
    from core.events import Step, Validated

    job = Job.create(ModelSpec(), TrainConfig(epochs=1), "eta", runs_dir=tmp_path, live=False)
    job.state = "running"
    plan = dict(steps_per_epoch=100, epochs=1, batch_size=10, device="cpu", n_val=1000)
    job.publish(Started(total_steps=100, **plan, n_test=3000, scoring_seconds_per_digit=0.001))
    job.publish(Step(step=50, epoch=1, loss=1.0, lr=0.1, samples_per_s=100.0))
    # 50 steps of 10 digits at 100 a second, then 4,000 digits at 1 ms: 5 s + 4 s
    assert job.progress()["eta_seconds"] == pytest.approx(9.0)
    job.publish(Validated(step=50, epoch=1, val_loss=1.0, val_accuracy=0.5, seconds=2.0))
    assert job.progress()["eta_seconds"] == pytest.approx(5.0 + 8.0)  # scored: 2 ms a digit
    job.publish(
        Step(step=100, epoch=1, loss=1.0, lr=0.1, samples_per_s=100.0, time=time.time() - 3)
    )
    assert job.progress()["eta_seconds"] == pytest.approx(5.0, abs=0.1)  # 3 s of its 8 gone
