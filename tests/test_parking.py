"""A paused job gives up its training slot when others wait, and resumes exactly where it
stopped, before the queue, once a slot is free (issue 28, point 3)."""

from __future__ import annotations

import time

import pytest

from core.events import Done
from core.runs.store import load_run
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec
from core.train.executors import ProcessExecutor
from core.train.jobs import JobRegistry
from core.train.parking import MAX_PARKED, PARK_ENV, park_seconds
from tests.conftest import wait_for
from tests.test_fairness import StartsNothing


def fake_registry(park_after: float = 0.0, parks: bool = True) -> JobRegistry:
    executor = StartsNothing()
    executor.parks = parks
    return JobRegistry(orphan_timeout=3600, executor=executor, park_after=park_after)


def submit(registry: JobRegistry, owner: str, tmp_path):
    config = TrainConfig(epochs=1, train_fraction=0.05)
    return registry.submit(ModelSpec(), config, owner, runs_dir=tmp_path, owner=owner)


def finish(job) -> None:
    job.publish(Done(status="finished"))


def test_a_paused_job_keeps_its_slot_while_nobody_waits(tmp_path):
    registry = fake_registry()
    a = submit(registry, "a", tmp_path)
    a.pause()
    assert registry.park_idle() == [] and not a.parked
    assert registry.running_count() == 1


def test_a_job_paused_while_another_waits_gives_up_its_slot_and_resumes_before_the_queue(
    tmp_path,
):
    registry = fake_registry()
    started = registry.executor.started
    a = submit(registry, "a", tmp_path)
    a.pause()
    b = submit(registry, "b", tmp_path)  # waits: a is parked, b takes the slot
    assert a.parked and a.state == "paused" and started == [a, b]
    assert registry.running_count() == 1 and b.state == "running"
    c = submit(registry, "c", tmp_path)
    registry.resume(a)  # b trains: a waits for the slot, still paused
    assert a.state == "paused" and a.resume_wanted and a.control.paused
    finish(b)
    # a had started: it goes on before c, in its own worker (not started again)
    assert a.state == "running" and not a.parked and not a.resume_wanted
    assert started == [a, b] and c.state == "queued" and registry.running_count() == 1
    finish(a)
    assert started == [a, b, c]


def test_a_parked_job_resumes_at_once_when_a_slot_is_free(tmp_path):
    registry = fake_registry()
    a = submit(registry, "a", tmp_path)
    a.pause()
    b = submit(registry, "b", tmp_path)
    finish(b)  # the slot is free, a stays paused until its owner says so
    assert a.parked and a.state == "paused" and registry.running_count() == 0
    registry.resume(a)
    assert a.state == "running" and not a.parked and registry.running_count() == 1


def test_a_job_is_parked_only_after_its_time_and_only_where_the_executor_can(tmp_path):
    registry = fake_registry(park_after=0.3)
    a = submit(registry, "a", tmp_path)
    a.pause()
    b = submit(registry, "b", tmp_path)
    assert not a.parked and b.state == "queued"  # paused a moment ago: it keeps the slot
    wait_for(lambda: a.parked, 5)  # the registry's watchdog parks it
    assert b.state == "running" and registry.running_count() == 1

    ray_like = fake_registry(parks=False)  # a Ray actor holds its CPU while paused
    c = submit(ray_like, "c", tmp_path)
    c.pause()
    d = submit(ray_like, "d", tmp_path)
    time.sleep(0.2)
    assert ray_like.park_idle() == [] and not c.parked and d.state == "queued"


def test_at_most_a_few_jobs_are_parked_and_a_stopped_one_leaves_no_trace(tmp_path):
    registry = fake_registry()
    jobs = []
    for owner in "abcd":  # each pauses as soon as it starts, and the next one waits
        jobs.append(submit(registry, owner, tmp_path))
        if jobs[-1].state == "running":
            jobs[-1].pause()
    parked = [job for job in jobs if job.parked]
    assert len(parked) == MAX_PARKED == 2  # each keeps a worker process in memory
    holder = jobs[MAX_PARKED]
    assert holder.state == "paused" and not holder.parked and jobs[-1].state == "queued"
    parked[0].stop()  # the owner stops a parked job: it ends in its worker
    finish(parked[0])
    registry.park_idle()  # (or the watchdog first) a place is free: the holder is parked
    assert holder.parked and jobs[-1].state == "running"


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_bad_park_setting_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(PARK_ENV, value)
    with pytest.raises(ValueError, match=PARK_ENV):
        park_seconds()


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_parked_training_goes_on_from_the_very_step_after_another_trained(
    executor, data_dir, tmp_path
):
    executor = "thread" if executor == "thread" else ProcessExecutor()
    registry = JobRegistry(orphan_timeout=3600, executor=executor, park_after=0.2)
    spec = ModelSpec(dense=[DenseLayer(32)], outputs=2)
    config = TrainConfig(
        epochs=200, train_fraction=0.05, batch_size=32, classes=[3, 7], device="cpu"
    )
    try:
        a = registry.submit(spec, config, "a", data_dir=data_dir, runs_dir=tmp_path, owner="a")
        wait_for(lambda: a.step_count() >= 3, 120)
        a.pause()
        paused_at = a.step_count()
        short = TrainConfig(epochs=1, train_fraction=0.02, classes=[3, 7], device="cpu")
        b = registry.submit(spec, short, "b", data_dir=data_dir, runs_dir=tmp_path, owner="b")
        wait_for(lambda: a.parked, 120)  # the watchdog parks it after 0.2 s
        registry.resume(a)  # while b trains, or at once if b has already ended
        assert b.wait(120) and b.state == "finished", b.error
        wait_for(lambda: a.state == "running", 120)
        a.stop()
        assert a.wait(120) and a.state == "stopped", a.error
        steps = [s.step for s in load_run(a.run_dir).steps]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) > paused_at
        if isinstance(executor, ProcessExecutor):  # b's worker was not kept idle beside a's
            wait_for(lambda: len([w for w in executor.workers() if not w.busy]) <= 1, 120)
    finally:
        registry.close()
