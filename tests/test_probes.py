"""core.analysis.probes and the trainer's live events: gradient norms, weight snapshots, feature PCA,
and how a run ends when the device is missing, runs out of memory or the loss diverges."""

from __future__ import annotations

import re

import pytest
import torch

from core.analysis import probes
from core.data.mnist import make_task
from core.events import FeaturesSnapshot, Started, Step, WeightsSnapshot
from core.runs.store import load_run
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from core.spec.presets import get_preset
from core.train.device import choose_device
from core.train.jobs import JobRegistry
from core.train.outcome import OutOfMemory
from core.train.run import train


@pytest.fixture(scope="module")
def small_task(mnist):
    return make_task(mnist, train_fraction=0.05)


def _by_type(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_layer_labels_name_convolutions_dense_layers_and_the_output():
    spec = ModelSpec(conv=[ConvLayer(4, 5), ConvLayer(8, 3)], dense=[DenseLayer(32)])
    assert probes.layer_labels(build(spec)) == ["conv 1", "conv 2", "dense 1", "output"]
    assert probes.layer_labels(build(ModelSpec(dense=[]))) == ["output"]


def test_gradient_norms_are_sampled_at_most_300_times_a_run():
    assert probes.grad_every(100) == 1
    assert probes.grad_every(9380) == 32
    assert 9380 // probes.grad_every(9380) <= probes.GRAD_POINTS


def test_training_emits_live_weights_features_and_gradient_norms(small_task):
    events: list = []
    config = TrainConfig(epochs=2, batch_size=64)
    result = train(ModelSpec(), config, small_task, emit=events.append)
    start = _by_type(events, Started)[0]
    assert start.layers == ["dense 1", "dense 2", "output"]
    assert start.first_layer_units == 128

    weights = _by_type(events, WeightsSnapshot)
    assert weights[0].step == 0  # the random start is shown before the first step
    assert weights[-1].step == result.steps[-1].step
    assert weights[-1].weights.shape == (probes.MAX_WEIGHT_TILES, 28, 28)
    # the last snapshot is the trained first layer, not a stale copy
    trained = result.model[1].weight.detach().reshape(-1, 28, 28)[: probes.MAX_WEIGHT_TILES]
    assert torch.equal(torch.from_numpy(weights[-1].weights), trained)
    assert not (weights[0].weights == weights[-1].weights).all()

    features = _by_type(events, FeaturesSnapshot)
    epoch_ends = {e.step for e in result.epochs}
    assert features[0].step == 0 and epoch_ends <= {f.step for f in features}
    assert features[-1].coords.shape == (probes.PROBE_DIGITS, 2)
    assert (features[-1].labels == small_task.test.labels[: probes.PROBE_DIGITS].numpy()).all()

    sampled = [s for s in result.steps if s.grad_norms is not None]
    every = start.grad_every
    last = result.steps[-1].step
    assert [s.step for s in sampled] == sorted({1, *range(every, last + 1, every)})
    assert all(len(s.grad_norms) == 3 and min(s.grad_norms) > 0 for s in sampled)


def test_without_probes_training_emits_no_live_views(small_task):
    events: list = []
    train(ModelSpec(), TrainConfig(epochs=1), small_task, emit=events.append, probes=False)
    assert not _by_type(events, WeightsSnapshot) and not _by_type(events, FeaturesSnapshot)
    assert all(e.grad_norms is None for e in _by_type(events, Step))


def test_scratch_and_autograd_engines_report_the_same_gradient_norms(small_task):
    spec = ModelSpec(dense=[DenseLayer(32, "sigmoid")])
    norms = {}
    for engine in ("autograd", "scratch"):
        config = TrainConfig(engine=engine, optimizer="sgd", lr=0.1, iterations=5, batch_size=32)
        result = train(spec, config, small_task, probes=True)
        norms[engine] = result.steps[0].grad_norms  # step 1: same weights, same batch
    assert norms["scratch"] == pytest.approx(norms["autograd"], rel=1e-4)


def test_sigmoid_gradients_vanish_towards_the_input_and_relu_ones_do_not(small_task):
    def first_over_last(activation: str) -> float:
        spec = ModelSpec(dense=[DenseLayer(64, activation) for _ in range(6)])
        config = TrainConfig(optimizer="sgd", lr=0.01, iterations=20, batch_size=64)
        norms = train(spec, config, small_task).steps[0].grad_norms
        return norms[0] / norms[-1]

    assert first_over_last("sigmoid") < 0.01 < first_over_last("relu")


def test_feature_projections_keep_their_orientation_from_epoch_to_epoch():
    projector = probes.FeatureProjector(
        torch.rand(200, 1, 28, 28), torch.zeros(200, dtype=torch.int64)
    )
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 16), torch.nn.Linear(16, 10)
    )
    model.train()
    first, _ = projector.project(model)
    with torch.no_grad():
        # negated features give mirrored principal axes; the projector must undo the mirror
        model[1].weight.mul_(-1.0)
        model[1].bias.mul_(-1.0)
    again, _ = projector.project(model)
    assert torch.allclose(again, first, atol=1e-4)
    assert model.training  # projecting must not leave a training model in eval mode


def test_a_missing_gpu_falls_back_to_the_cpu_with_a_notice(monkeypatch, small_task):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    device, notice = choose_device("cuda")
    assert device.type == "cpu" and "No CUDA GPU" in notice
    events: list = []
    train(ModelSpec(), TrainConfig(device="cuda", iterations=3), small_task, emit=events.append)
    start = _by_type(events, Started)[0]
    assert start.device == "cpu" and "training on the CPU instead" in start.notice


def _fail_with_out_of_memory_at_step(monkeypatch, failing_step: int) -> None:
    from core.train import engines

    original = engines.AutogradEngine.step
    calls = {"n": 0}

    def exhausted(self, xb, yb):
        calls["n"] += 1
        if calls["n"] == failing_step:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, xb, yb)

    monkeypatch.setattr(engines.AutogradEngine, "step", exhausted)
    # the estimate before a job starts times a few steps: those must not count (or fail)
    monkeypatch.setattr("core.train.steptime.step_seconds", lambda *args: 0.001)


def test_out_of_memory_raises_a_message_naming_the_step(monkeypatch, small_task):
    _fail_with_out_of_memory_at_step(monkeypatch, 40)
    with pytest.raises(OutOfMemory, match="ran out of memory after 39 steps"):
        train(ModelSpec(), TrainConfig(iterations=100), small_task)


def test_out_of_memory_ends_the_job_with_a_message(monkeypatch, data_dir, tmp_path):
    _fail_with_out_of_memory_at_step(monkeypatch, 4)
    job = JobRegistry(executor="thread").submit(  # in this process, where the patch is
        ModelSpec(),
        TrainConfig(epochs=1, train_fraction=0.05),
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    assert job.wait(60)
    assert job.state == "failed"
    assert "ran out of memory after" in job.error and "smaller batch size" in job.error
    assert not job.error.startswith("RuntimeError")  # a message for people, not a traceback


def test_a_diverging_run_says_nan_at_which_step_and_keeps_its_curve(data_dir, tmp_path):
    # a ReLU MLP at this rate mostly dies instead (its loss sticks at ln 10); a CNN blows up
    spec, config = get_preset("small-cnn").fresh()
    config.optimizer, config.lr, config.momentum, config.epochs = "sgd", 10.0, 0.0, 1
    config.train_fraction = 0.1
    job = JobRegistry(executor="thread").submit(
        spec,
        config,
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    assert job.wait(120)
    assert job.state == "failed"
    steps = job.steps()
    assert steps, "the steps before the divergence stay for the charts"
    assert re.search(rf"the loss became (NaN|infinite) at step {steps[-1].step}\b", job.error)
    assert not list(tmp_path.iterdir())  # a diverged run is not saved as if it had worked


def _finished_job(data_dir, runs_dir, epochs: int):
    job = JobRegistry(executor="thread").submit(
        ModelSpec(),
        TrainConfig(epochs=epochs, train_fraction=0.05),
        data_dir=data_dir,
        runs_dir=runs_dir,
    )
    assert job.wait(120) and job.state == "finished", job.error
    return job


def test_saved_runs_keep_their_gradient_norms(data_dir, tmp_path):
    job = _finished_job(data_dir, tmp_path, epochs=1)
    run = load_run(job.run_dir)
    saved = [s.grad_norms for s in run.steps if s.grad_norms]
    live = [s.grad_norms for s in job.steps() if s.grad_norms is not None]
    assert saved == live and len(saved) > 5


def test_a_job_keeps_only_the_newest_picture_of_each_kind(data_dir, tmp_path):
    job = _finished_job(data_dir, tmp_path, epochs=2)
    # the snapshots are not in the event list, which grows with the run
    assert not job.events(WeightsSnapshot) and not job.events(FeaturesSnapshot)
    last_step = job.steps()[-1].step
    assert job.snapshot(WeightsSnapshot).step == last_step
    assert job.snapshot(FeaturesSnapshot).step == last_step
