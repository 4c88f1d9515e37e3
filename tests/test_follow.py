"""Following a drawn digit while the network trains: the trainer sends its weights twice a
second (core.train.follow) and core.draw.follow scores one digit with each new snapshot."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from core.analysis.calibration import temper
from core.analysis.evaluation import predict_proba
from core.draw.follow import DigitFollower, FollowHistory, digit_key, model_at
from core.events import EpochEnded, ModelSnapshot, event_from_dict
from core.runs.store import load_run
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec, build
from core.train.executors import ProcessExecutor
from core.train.follow import MAX_PARAMETERS, MODEL_EVERY_SECONDS, ModelFollower, followable
from core.train.job import Job
from core.train.jobs import JobRegistry

EPOCHS = 3


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": EPOCHS, "train_fraction": 0.05, "batch_size": 16, **changes})


@pytest.fixture(scope="module")
def followed_job(data_dir, tmp_path_factory):
    """A tiny real job trained in a thread, with every event it sent, in order."""
    events = []
    job = Job.create(
        ModelSpec(),
        tiny_config(),
        "follow",
        data_dir=data_dir,
        runs_dir=tmp_path_factory.mktemp("follow-runs"),
        listener=events.append,
    )
    JobRegistry(executor="thread").enqueue(job)
    assert job.wait(300) and job.state == "finished", job.error
    return job, events


@pytest.fixture(scope="module")
def test_digit(mnist):
    """A real test digit, as the Draw page hands it over: (1, 28, 28) floats in [0, 1]."""
    return mnist.test_images[0].float().div(255).unsqueeze(0)


def snapshot_of(model: torch.nn.Module, step: int) -> ModelSnapshot:
    state = {k: v.detach().clone().numpy() for k, v in model.state_dict().items()}
    return ModelSnapshot(step=step, epoch=1, state=state)


def test_a_training_job_sends_its_model_at_most_twice_a_second_and_after_every_epoch(followed_job):
    job, events = followed_job
    snapshots = [e for e in events if isinstance(e, ModelSnapshot)]
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epochs) == EPOCHS
    assert snapshots[0].step == 0  # the untrained network: where the guessing starts
    sent_at = {s.step for s in snapshots}
    assert {e.step for e in epochs} <= sent_at
    steps = [s.step for s in snapshots]
    assert steps == sorted(set(steps)), "one snapshot per step, in order"
    seconds = snapshots[-1].time - snapshots[0].time
    assert len(snapshots) <= seconds / MODEL_EVERY_SECONDS + EPOCHS + 2, (len(snapshots), seconds)
    assert set(snapshots[-1].state) == set(build(job.spec).state_dict())


def test_an_ended_job_lets_go_of_its_model_snapshot(followed_job):
    job, _ = followed_job
    assert job.snapshot(ModelSnapshot) is None  # the saved run has these weights


def test_scoring_a_digit_with_each_snapshot_ends_at_the_saved_runs_probabilities(
    followed_job, test_digit
):
    job, events = followed_job
    follower = DigitFollower()
    follower.follow(job.run_id, job.spec, job.config)
    snapshots = [e for e in events if isinstance(e, ModelSnapshot)]
    for snapshot in snapshots:
        assert follower.update(snapshot, test_digit)
    steps, probabilities = follower.history.as_arrays()
    assert steps.tolist() == [s.step for s in snapshots]
    assert probabilities.shape == (len(snapshots), 10)
    assert np.abs(probabilities[-1] - probabilities[0]).max() > 0.2, "it did not learn"
    moved = np.abs(np.diff(probabilities, axis=0)).max(axis=1) > 1e-4
    assert moved.mean() > 0.5, "most new snapshots should move the probabilities"
    # the live weights' own probabilities end at the saved network's own; the saved run shows
    # them tempered by the calibration fit at the end (core.analysis.calibration)
    run = load_run(job.run_dir)
    raw = predict_proba(
        run.model, test_digit.unsqueeze(0), run.config.normalization, run.spec.output
    )
    np.testing.assert_allclose(probabilities[-1], raw[0].numpy(), atol=1e-5)
    shown = run.predict_proba(test_digit.unsqueeze(0))
    assert torch.allclose(shown, temper(raw, run.summary["temperature"]), atol=1e-6)


def test_the_same_snapshot_and_digit_are_scored_once(followed_job, test_digit):
    job, events = followed_job
    snapshot = next(e for e in events if isinstance(e, ModelSnapshot))
    follower = DigitFollower()
    follower.follow(job.run_id, job.spec, job.config)
    assert follower.update(snapshot, test_digit)
    assert not follower.update(snapshot, test_digit.clone())
    assert len(follower.history) == 1


def test_the_network_is_built_once_and_only_its_weights_change(followed_job, test_digit):
    job, events = followed_job
    snapshots = [e for e in events if isinstance(e, ModelSnapshot)]
    first, last = snapshots[0], snapshots[-1]
    follower = DigitFollower()
    follower.follow(job.run_id, job.spec, job.config)
    follower.update(first, test_digit)
    model = follower.model
    follower.update(last, test_digit)
    assert follower.model is model and follower.step == last.step


def test_a_new_digit_starts_a_new_history_and_a_cleared_canvas_keeps_it(test_digit):
    spec, config = ModelSpec(dense=[DenseLayer(8)]), TrainConfig()
    torch.manual_seed(0)
    models = [build(spec) for _ in range(3)]
    follower = DigitFollower()
    follower.follow("run-a", spec, config)
    follower.update(snapshot_of(models[0], 0), test_digit)
    follower.update(snapshot_of(models[1], 10), test_digit)
    assert follower.history.steps == [0, 10]
    follower.update(snapshot_of(models[2], 20), None)  # the canvas was cleared
    assert follower.history.steps == [0, 10]
    other = torch.flip(test_digit, dims=[-1])
    assert digit_key(other) != digit_key(test_digit)
    assert follower.update(None, other)  # the new digit is scored with the weights at hand
    assert follower.history.steps == [20]


def test_following_another_job_starts_from_nothing(test_digit):
    spec, config = ModelSpec(dense=[DenseLayer(8)]), TrainConfig()
    follower = DigitFollower()
    follower.follow("run-a", spec, config)
    follower.update(snapshot_of(build(spec), 5), test_digit)
    follower.follow("run-b", spec, config)
    assert len(follower.history) == 0 and follower.model is None
    assert not follower.update(None, test_digit)  # no weights of run-b yet


def test_after_the_end_a_new_digit_is_scored_with_the_final_network(test_digit):
    spec, config = ModelSpec(dense=[DenseLayer(8)]), TrainConfig()
    final = build(spec).eval()
    follower = DigitFollower()
    follower.follow("run-a", spec, config)
    follower.update(snapshot_of(build(spec), 5), test_digit)
    follower.finish(7, final)
    assert follower.update(None, torch.flip(test_digit, dims=[-1]))
    assert follower.history.steps == [7]
    expected = torch.softmax(final(torch.flip(test_digit, dims=[-1]).unsqueeze(0)), 1)[0]
    np.testing.assert_allclose(follower.latest, expected.detach().numpy(), atol=1e-6)
    before = [p.clone() for p in final.parameters()]
    follower.update(snapshot_of(build(spec), 9), test_digit)  # the same run id continued
    assert all(torch.equal(a, b) for a, b in zip(before, final.parameters()))


def test_the_history_is_capped_and_keeps_the_start_and_the_newest_point():
    history = FollowHistory(max_points=10)
    for step in range(100):
        history.record(step, np.full(10, step / 100))
    steps, probabilities = history.as_arrays()
    assert len(steps) <= 10 and steps[0] == 0 and steps[-1] == 99
    assert list(steps) == sorted(steps) and probabilities.shape == (len(steps), 10)


def test_a_late_or_repeated_step_does_not_grow_the_history():
    history = FollowHistory()
    history.record(5, np.zeros(10))
    history.record(5, np.ones(10))
    history.record(3, np.zeros(10))
    assert history.steps == [5] and history.probabilities[0].tolist() == [1.0] * 10


def test_model_at_loads_a_snapshot_that_crossed_a_process_boundary_as_a_dict():
    spec = ModelSpec(dense=[DenseLayer(8, batch_norm=True)])
    torch.manual_seed(1)
    trained = build(spec)
    back = event_from_dict(snapshot_of(trained, 3).to_dict())
    assert back.state["2.num_batches_tracked"].dtype == np.int64
    loaded = model_at(spec, back)
    for (name, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_damaged_snapshot_is_refused_with_a_value_error():
    data = snapshot_of(build(ModelSpec(dense=[DenseLayer(8)])), 1).to_dict()
    data["state"]["1.weight"] = {"dtype": "<f4", "shape": [8, 784], "data": "bm90IGVub3VnaA=="}
    with pytest.raises(ValueError, match="1.weight"):
        event_from_dict(data)


def test_a_network_too_big_to_send_is_not_followed():
    big = ModelSpec(dense=[DenseLayer(2048), DenseLayer(1024)])  # ~3.7M parameters
    assert not followable(big) and followable(ModelSpec())

    class Recorder:
        spec, callbacks = big, []

        def add_callback(self, on, callback):
            self.callbacks.append(on)

    recorder = Recorder()
    ModelFollower().attach(recorder)
    assert recorder.callbacks == [] and MAX_PARAMETERS == 2_000_000


def test_snapshots_arrive_from_a_worker_process_while_it_trains(data_dir, tmp_path):
    executor = ProcessExecutor()
    try:
        registry = JobRegistry(executor=executor)
        job = registry.submit(
            ModelSpec(),
            tiny_config(epochs=50),
            "follow-process",
            data_dir=data_dir,
            runs_dir=tmp_path,
        )
        seen: list[ModelSnapshot] = []
        deadline = time.monotonic() + 120
        while len(seen) < 3 and time.monotonic() < deadline:
            snapshot = job.snapshot(ModelSnapshot)
            if snapshot is not None and (not seen or snapshot is not seen[-1]):
                seen.append(snapshot)
            time.sleep(0.05)
        assert len(seen) >= 3, "fewer than three snapshots arrived"
        assert seen[-1].step > seen[0].step
        weights = seen[-1].state["1.weight"]
        assert weights.dtype == np.float32 and weights.shape == (128, 784)
        job.stop()
        assert job.wait(30)
        assert job.snapshot(ModelSnapshot) is None
    finally:
        executor.close()
