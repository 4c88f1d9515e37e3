"""core.train and core.spec.config: settings validate, training learns, reproduces, pauses, stops."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from core.data.mnist import make_task
from core.events import SNAPSHOTS, Step
from core.spec.compatible import check_compatible
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec
from core.spec.presets import get_preset
from core.train.control import TrainControl
from core.train.device import resolve_device
from core.train.outcome import TrainingDiverged
from core.train.run import attach_standard_callbacks, run_guarded, train
from core.train.trainer import Trainer, plan_steps
from tests.conftest import wait_until_settled


@pytest.fixture(scope="module")
def small_task(mnist):
    return make_task(mnist, train_fraction=0.05)


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 64, **changes})


def test_config_round_trips_through_json():
    config = TrainConfig(optimizer="sgd", momentum=0.9, classes=[3, 7], schedule="cosine")
    config.augment.enabled = True
    assert TrainConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 1000}, "epochs"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"loss": "hinge"}, "loss"),
        ({"schedule": "warmup"}, "schedule"),
        ({"device": "tpu"}, "device"),
        ({"classes": [4]}, "classes"),
        ({"train_fraction": 0.0}, "train_fraction"),
        ({"augment": {"rotation": 90.0}}, "augment.rotation"),
        ({"speed": "max"}, "config"),
    ],
)
def test_invalid_configs_name_the_field(change, field):
    data = {**TrainConfig().to_dict(), **change}
    if "augment" in change:
        data["augment"] = {**TrainConfig().augment.to_dict(), **change["augment"]}
    with pytest.raises(ValueError) as error:
        TrainConfig.from_dict(data)
    assert str(error.value).startswith(field)


def test_incompatible_network_and_task_are_refused():
    with pytest.raises(ValueError, match="outputs"):
        check_compatible(ModelSpec(outputs=10), TrainConfig(classes=[3, 7]))
    with pytest.raises(ValueError, match="nll"):
        check_compatible(ModelSpec(output="logits"), TrainConfig(loss="nll"))
    with pytest.raises(ValueError, match="cross_entropy"):
        check_compatible(ModelSpec(output="softmax"), TrainConfig(loss="cross_entropy"))


def test_auto_device_falls_back_to_cpu_without_a_gpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected


def test_plan_counts_full_batch_and_iterations():
    assert plan_steps(1000, TrainConfig(batch_size=64, epochs=2)) == (64, 16, 32)
    assert plan_steps(1000, TrainConfig(full_batch=True, iterations=50)) == (1000, 1, 50)


def test_training_emits_start_steps_validation_and_epochs(small_task):
    events = []
    result = train(ModelSpec(), tiny_config(), small_task, emit=events.append)
    # the live views' pictures ("weights", "features") may follow an epoch's end
    kinds = [e.kind for e in events if not isinstance(e, SNAPSHOTS)]
    assert kinds[0] == "start" and kinds[-1] == "epoch" and "val" in kinds
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.step for e in steps] == list(range(1, events[0].total_steps + 1))
    # no rate until a step after the first (core/train/throughput.py): a first step slow
    # enough to be sent alone (a loaded machine) reads 0, every later one a rate
    assert all(e.samples_per_s > 0 for e in steps if e.step > 1)
    assert steps[0].samples_per_s >= 0
    assert result.status == "finished" and result.test_accuracy > 0.8
    assert not result.model.training and next(result.model.parameters()).device.type == "cpu"


def test_same_seed_reproduces_on_cpu(small_task):
    config = tiny_config(seed=7, device="cpu")
    config.augment.enabled = True
    spec = ModelSpec(dense=[DenseLayer(32, dropout=0.2)])
    first = train(spec, config, small_task)
    second = train(spec, config, small_task)
    assert [s.loss for s in first.steps] == [s.loss for s in second.steps]
    other = train(spec, tiny_config(seed=8, device="cpu"), small_task)
    assert [s.loss for s in other.steps] != [s.loss for s in first.steps]


def test_a_stop_ends_training_before_the_next_step(small_task):
    # the loop looks before each step, so a run stopped after step 19 ends there and is scored
    # (how many milliseconds a stop from the page takes is measured where it counts, in a
    # worker's loop: tests/test_jobs.py, docs/reliability.md)
    control = TrainControl()
    trainer = attach_standard_callbacks(
        Trainer(ModelSpec(), TrainConfig(epochs=50, batch_size=32), small_task, control),
        probes=False,
    )
    trainer.add_callback("on_batch_end", lambda t: t.step == 19 and control.stop())
    result = run_guarded(trainer)
    assert result.status == "stopped" and result.test_accuracy is not None
    assert result.steps[-1].step == 19 and len(result.steps) == 19


def test_pause_holds_the_step_count_until_resumed(small_task):
    control = TrainControl()
    seen = []
    done = threading.Event()

    def run():
        train(
            ModelSpec(),
            TrainConfig(epochs=20, batch_size=32),
            small_task,
            emit=seen.append,
            control=control,
        )
        done.set()

    threading.Thread(target=run, daemon=True).start()
    while not any(isinstance(e, Step) for e in seen):
        time.sleep(0.01)
    control.pause()
    # the current step and the paused loop's report land within a step, or later on a core
    # the suite starves: wait for them, then see nothing more come
    held = wait_until_settled(lambda: len(seen), still=0.5)
    time.sleep(0.5)
    assert len(seen) == held and control.paused
    control.resume()
    time.sleep(0.5)
    assert len(seen) > held
    control.stop()
    assert done.wait(10)


def test_nan_loss_stops_with_a_clear_message(small_task):
    with pytest.raises(TrainingDiverged, match="NaN|nan|inf"):
        train(ModelSpec(), tiny_config(optimizer="sgd", lr=10.0, loss="mse", epochs=3), small_task)


def test_seed_3v7_trains_one_neuron_by_full_batch_gradient_descent(mnist):
    spec, config = get_preset("seed-3v7").fresh()
    config.iterations = 200
    task = make_task(mnist, tuple(config.classes), val_fraction=0.0)
    result = train(spec, config, task)
    assert len(result.steps) == 200
    assert result.steps[-1].loss < result.steps[0].loss
    assert result.test_accuracy is not None and 0.0 <= result.test_accuracy <= 1.0


@pytest.mark.slow
def test_seed_mlp_128_reaches_95_percent_in_two_epochs(mnist):
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs = 2
    task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
    result = train(spec, config, task)
    assert result.test_accuracy >= 0.95
