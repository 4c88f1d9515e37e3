"""core.train.rayexec: jobs trained as Ray tasks on a local Ray, as the local workers train them.

One local Ray (2 CPUs) for the module: starting it and loading torch in its first worker takes
about 15 s, every later job a fraction of a second.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.events import (
    Checkpointed,
    Done,
    EpochEnded,
    ModelSnapshot,
    OneBatchReport,
    Orphaned,
    SettingsChanged,
    Started,
)
from core.runs.store import load_run
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train.executors import ProcessExecutor, make_executor
from core.train.jobs import JobRegistry
from tests.conftest import wait_until_settled

ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
from core.train.rayexec import WORKER_BASE_BYTES, RayExecutor, RayUnavailable  # noqa: E402

pytestmark = [pytest.mark.timeout(300)]


def quick_config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "train_fraction": 0.05, **changes})


def long_config() -> TrainConfig:
    return quick_config(epochs=100, batch_size=16)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray of two CPUs, one job per CPU, for the whole module."""
    executor = RayExecutor(threads=1)
    executor._connect()
    yield executor
    executor.close()


def wait_for_steps(job, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while job.progress()["step"] < count:
        assert job.active, job.error
        assert time.monotonic() < deadline, f"no {count} steps within {timeout} s"
        time.sleep(0.02)


def test_a_job_on_ray_streams_its_events_while_it_trains_and_is_saved(data_dir, tmp_path, cluster):
    registry = JobRegistry(executor=cluster)
    job = registry.submit(ModelSpec(), quick_config(epochs=3), "on-ray", data_dir, tmp_path)
    wait_for_steps(job, 5)
    assert job.active  # steps arrive while it trains, not all at the end
    assert job.wait(120) and job.state == "finished", job.error
    assert job.plan is not None and isinstance(job.plan, Started)
    assert len(job.epochs()) == 3 and all(isinstance(e, EpochEnded) for e in job.epochs())
    assert job.steps()[-1].step == job.plan.total_steps
    assert job.events(Done)[0].run_dir == str(job.run_dir)
    run = load_run(job.run_dir)
    assert run.summary["status"] == "finished" and run.summary["test_accuracy"] > 0.8


def test_jobs_fan_out_to_the_clusters_room_and_the_rest_queue(data_dir, tmp_path, cluster):
    registry = JobRegistry(executor=cluster)
    assert registry.max_concurrent == 2  # two CPUs, one per job
    jobs = [
        registry.submit(ModelSpec(), long_config(), f"fan-{i}", data_dir, tmp_path)
        for i in range(3)
    ]
    try:
        for job in jobs[:2]:
            wait_for_steps(job, 10)  # two train at once
        assert registry.running_count() == 2 and registry.queued_count() == 1
        assert jobs[2].state == "queued" and registry.queue_position(jobs[2]) == 1
    finally:
        for job in jobs:
            job.stop()
        assert all(job.wait(60) for job in jobs)


def test_pause_resume_steer_and_stop_reach_the_task(data_dir, tmp_path, cluster):
    registry = JobRegistry(executor=cluster)
    job = registry.submit(ModelSpec(), long_config(), "steered", data_dir, tmp_path)
    wait_for_steps(job, 20)
    job.pause()
    # the pause reaches the task within a pump (0.1 s), but the steps it sent before arrive
    # with the relay's polls: on the low-priority lane they came later than 0.5 s (160, then
    # 192 after 0.6 s more, 2026-12-07), so wait for the count to settle, then see it stay
    paused_at = wait_until_settled(lambda: job.progress()["step"])
    time.sleep(1.0)
    assert job.progress()["step"] == paused_at  # nothing trains while paused
    assert job.state == "paused"  # settled because it paused, not because it ended
    job.steer(lr=0.005)
    job.resume()
    wait_for_steps(job, paused_at + 20)
    changes = job.events(SettingsChanged)
    assert changes and changes[-1].lr == pytest.approx(0.005)
    job.stop()
    assert job.wait(30) and job.state == "stopped"
    assert load_run(job.run_dir).summary["status"] == "stopped"


def _train_task_pids(run_id: str) -> list[int]:
    """Return the pids of Ray workers running this run's training task now (named after it).

    Only this run's: another test may train on Ray at the same time (test.sh runs the browser
    tests beside these; CI once found two tasks here, 2026-12-07).
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if title.split()[:2] == [b"ray::train", run_id.encode()]:  # "train RUN_ID"
                pids.append(int(entry.name))
    return pids


def test_a_cancelled_task_fails_its_job_with_a_message_and_keeps_the_curves(
    data_dir, tmp_path, cluster
):
    registry = JobRegistry(executor=cluster)
    job = registry.submit(ModelSpec(), long_config(), "cancelled", data_dir, tmp_path)
    wait_for_steps(job, 30)
    ray.cancel(cluster.running_tasks()[job.run_id], force=True)
    assert job.wait(60) and job.state == "failed"
    assert "ended unexpectedly" in job.error and "cancelled" in job.error, job.error
    assert len(job.steps()) >= 30


@pytest.mark.skipif(sys.platform != "linux", reason="finds the worker's process in /proc")
def test_a_killed_worker_fails_its_job_and_the_next_job_still_trains(data_dir, tmp_path, cluster):
    registry = JobRegistry(executor=cluster)
    job = registry.submit(ModelSpec(), long_config(), "killed", data_dir, tmp_path)
    wait_for_steps(job, 30)
    (pid,) = _train_task_pids(job.run_id)
    os.kill(pid, signal.SIGKILL)  # what the out-of-memory killer, or a lost node, does to it
    assert job.wait(60) and job.state == "failed"
    assert "ended unexpectedly" in job.error and "died" in job.error, job.error
    after = registry.submit(ModelSpec(), quick_config(), "after", data_dir, tmp_path)
    assert after.wait(120) and after.state == "finished", after.error


def _run_files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


def test_the_same_seed_writes_the_same_run_on_ray_as_in_a_local_worker(data_dir, tmp_path, cluster):
    config = quick_config(epochs=2, seed=3)
    folders = {}
    local = ProcessExecutor(threads=1)
    try:
        for name, executor in (("local", local), ("ray", cluster)):
            registry = JobRegistry(executor=executor)
            job = registry.submit(ModelSpec(), config, "same", data_dir, tmp_path / name)
            assert job.wait(120) and job.state == "finished", job.error
            folders[name] = job.run_dir
    finally:
        local.close()
    local_files, ray_files = _run_files(folders["local"]), _run_files(folders["ray"])
    assert sorted(local_files) == sorted(ray_files)
    assert local_files["model.safetensors"] == ray_files["model.safetensors"]  # bit for bit
    local_run, ray_run = load_run(folders["local"]), load_run(folders["ray"])
    assert [s.loss for s in local_run.steps] == [s.loss for s in ray_run.steps]
    assert [e.val_accuracy for e in local_run.epochs] == [e.val_accuracy for e in ray_run.epochs]
    assert json.loads(local_files["config.json"]) == json.loads(ray_files["config.json"])
    # its id, when and how fast differ, nothing else
    timing = {"run_id", "created", "seconds", "seconds_per_epoch"}
    local_summary, ray_summary = local_run.summary, ray_run.summary
    assert {k: v for k, v in local_summary.items() if k not in timing} == {
        k: v for k, v in ray_summary.items() if k not in timing
    }
    assert np.isfinite(ray_summary["seconds"])


def test_without_ray_the_choice_says_how_to_install_it_and_the_server_trains_locally(
    monkeypatch,
):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(RayUnavailable, match="pip install -r requirements-ray.txt"):
        make_executor("ray")
    monkeypatch.setenv("DIGITLAB_EXECUTOR", "ray")
    registry = JobRegistry()
    assert isinstance(registry.executor, ProcessExecutor)
    assert "requirements-ray.txt" in registry.executor_problem
    assert "this machine instead" in registry.executor_problem
    registry.close()


def test_the_cli_races_seeds_on_ray_and_reports_the_wall_time(data_dir, tmp_path, cluster, capsys):
    from core.cli import main

    code = main(["--data", str(data_dir), "--runs", str(tmp_path), "race", "--preset", "seed-mlp-128",
                 "--seeds", "2", "--set", "epochs=1", "--set", "train_fraction=0.05",
                 "--executor", "ray"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["executor"] == "ray" and result["wall_seconds"] > 0
    (variant,) = result["variants"]
    assert len(variant["accuracies"]) == 2 and all(a > 0.7 for a in variant["accuracies"])
    assert len(list(Path(tmp_path).iterdir())) >= 2


def test_the_memory_budget_and_the_orphan_timeout_apply_on_ray(
    data_dir, tmp_path, cluster, monkeypatch
):
    monkeypatch.setenv("DIGITLAB_MEMORY_LIMIT_GB", "1")
    registry = JobRegistry(executor=cluster, orphan_timeout=1.0)
    too_wide = ModelSpec.from_dict(
        {"conv": [{"channels": 256, "pool": "none"}], "dense": [{"width": 4096}, {"width": 4096}]}
    )
    with pytest.raises(ValueError, match="the limit is 1.0 GB"):
        registry.submit(too_wide, quick_config(), "too-wide", data_dir, tmp_path)
    assert registry.active() == []  # refused before anything reached the cluster
    # Ray is told what a run needs: its estimate plus the worker's own share
    job = registry.submit(ModelSpec(), long_config(), "orphan", data_dir, tmp_path, owner="tab")
    options = cluster._task_options(job.request)
    assert options["memory"] > WORKER_BASE_BYTES and options["num_cpus"] == 1
    assert job.wait(60), "a job its tab stopped touching kept training"
    assert job.state == "stopped" and job.events(Orphaned)


def test_one_batch_and_the_live_model_travel_through_the_hub(data_dir, tmp_path, cluster):
    registry = JobRegistry(executor=cluster)
    # plain SGD: one step on a batch lowers that batch's loss; Adam's momentum may not
    config = quick_config(epochs=100, batch_size=16, optimizer="sgd", lr=0.05)
    job = registry.submit(ModelSpec(), config, "one-batch", data_dir, tmp_path)
    wait_for_steps(job, 20)
    deadline = time.monotonic() + 30
    while job.snapshot(ModelSnapshot) is None:  # what the Draw page scores drawings with
        assert time.monotonic() < deadline, "no snapshot of the model arrived"
        time.sleep(0.05)
    job.pause()
    time.sleep(0.5)
    job.one_batch()
    while job.snapshot(OneBatchReport) is None:
        assert time.monotonic() < deadline + 30, "no report of the one batch arrived"
        time.sleep(0.05)
    report = job.snapshot(OneBatchReport)
    assert report.batch_size == 16 and report.loss_after < report.loss_before
    job.stop()
    assert job.wait(30) and job.state == "stopped"


@pytest.mark.usefixtures("checkpoint_every_epoch")
def test_a_run_cut_off_on_ray_continues_on_ray_from_its_checkpoint(data_dir, tmp_path, cluster):
    registry = JobRegistry(executor=cluster)
    job = registry.submit(ModelSpec(), quick_config(epochs=30), "cut-off", data_dir, tmp_path)
    deadline = time.monotonic() + 60
    while not job.events(Checkpointed):
        assert job.active and time.monotonic() < deadline, job.error
        time.sleep(0.02)
    ray.cancel(cluster.running_tasks()[job.run_id], force=True)
    assert job.wait(60) and job.state == "failed"
    folder = tmp_path / job.run_id
    assert load_run(folder).summary["status"] == "interrupted"
    again = registry.continue_run(folder, data_dir=str(data_dir), runs_dir=tmp_path)
    assert again.wait(120) and again.state == "finished", again.error
    run = load_run(folder)
    assert run.summary["status"] == "finished" and run.summary["epochs_completed"] == 30


def test_an_unreachable_cluster_fails_the_job_and_the_sidebar_says_why(
    data_dir, tmp_path, cluster, monkeypatch
):
    from core.train import rayexec
    from ui.shared.sidebar import where_training_runs

    monkeypatch.setattr(rayexec, "CONNECT_TIMEOUT", 0.5)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh server
    hang = threading.Event()
    monkeypatch.setattr(ray, "init", lambda **options: hang.wait(30))  # never answers
    executor = RayExecutor(address="nowhere:6379")
    registry = JobRegistry(executor=executor)
    try:
        job = registry.submit(ModelSpec(), quick_config(), "unreachable", data_dir, tmp_path)
        assert job.wait(30) and job.state == "failed"
        assert "could not reach nowhere:6379 within 0 s" in job.error, job.error
        monkeypatch.setattr("ui.shared.state.registry", lambda: registry)
        assert where_training_runs().startswith(":red[Training cannot reach the Ray cluster at")
    finally:
        hang.set()
