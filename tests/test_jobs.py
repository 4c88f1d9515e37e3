"""core.jobs: background training that the UI polls, pauses, stops and reattaches to."""

from __future__ import annotations

import time

from core.config import TrainConfig
from core.jobs import JobRegistry
from core.models import ModelSpec
from core.runs import list_runs, load_run


def quick_config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "train_fraction": 0.05, **changes})


def test_a_finished_job_is_saved_as_a_run(data_dir, tmp_path):
    registry = JobRegistry()
    job = registry.submit(ModelSpec(), quick_config(), "tiny", data_dir=data_dir, runs_dir=tmp_path)
    assert job.wait(120)
    assert job.state == "finished", job.error
    run = load_run(job.run_dir)
    assert run.summary["status"] == "finished" and run.summary["test_accuracy"] > 0.8
    assert [s["run_id"] for s in list_runs(tmp_path)] == [job.run_id]
    assert registry.get(job.run_id) is job
    done = job.events("done")
    assert done and done[0]["run_dir"] == str(job.run_dir)


def test_extra_jobs_queue_with_their_position_and_then_run(data_dir, tmp_path):
    registry = JobRegistry(max_concurrent=1)
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


def test_a_stopped_job_is_saved_as_stopped(data_dir, tmp_path):
    registry = JobRegistry()
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
    job.stop()
    assert job.wait(10)
    assert job.state == "stopped"
    assert load_run(job.run_dir).summary["status"] == "stopped"


def test_a_diverging_job_fails_with_the_message_and_saves_nothing(data_dir, tmp_path):
    registry = JobRegistry()
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
    assert job.events("error")[0]["message"] == job.error
    assert list_runs(tmp_path) == []


def test_progress_reports_eta_and_rate_while_running(data_dir, tmp_path):
    registry = JobRegistry()
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
    events, cursor = job.events_since(0)
    more, cursor2 = job.events_since(cursor)
    assert cursor2 >= cursor and events[0]["type"] == "start"
    job.stop()
    job.wait(10)
