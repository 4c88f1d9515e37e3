"""core.events: one vocabulary of events that crosses processes as plain dicts; and the
trainer's defects found in review (single-output accuracy, paused seconds, full-batch messages)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from core.analysis.evaluation import evaluate_probabilities, output_probabilities
from core.data.mnist import make_task
from core.events import (
    EVENT_TYPES,
    Checkpointed,
    Done,
    EpochEnded,
    Event,
    Failed,
    FeaturesSnapshot,
    ModelSnapshot,
    OneBatchReport,
    Orphaned,
    SettingsChanged,
    Started,
    Step,
    Validated,
    WeightsSnapshot,
    event_from_dict,
)
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train import engines
from core.train.control import TrainControl
from core.train.outcome import OutOfMemory
from core.train.run import train

EXAMPLES: list[Event] = [
    Started(total_steps=10, steps_per_epoch=5, epochs=2, batch_size=64, device="cpu",
            notice="no GPU", n_train=320, layers=["dense 1", "output"], first_layer_units=8),
    Step(step=3, epoch=1, loss=0.5, lr=1e-3, samples_per_s=1000.0, grad_norms=[0.1, 0.2]),
    Step(step=4, epoch=1, loss=float("nan"), lr=1e-3),
    Validated(step=5, epoch=1, val_loss=0.4, val_accuracy=0.9),
    EpochEnded(epoch=1, step=5, train_loss=0.5, train_accuracy=0.8, val_loss=0.4,
               val_accuracy=0.9, seconds=1.5, complete=False),
    WeightsSnapshot(step=5, epoch=1, weights=np.arange(8 * 28 * 28, dtype=np.float32).reshape(8, 28, 28)),
    FeaturesSnapshot(step=5, epoch=1, coords=np.ones((4, 2), np.float32),
                     explained=np.array([0.5, 0.25], np.float32), labels=np.arange(4, dtype=np.float32)),
    ModelSnapshot(step=5, epoch=1, state={"0.weight": np.full((3, 4), 0.25, np.float32),
                  "2.num_batches_tracked": np.array(7, np.int64)}),
    Checkpointed(epoch=1, step=5, run_dir="/runs/x"),
    Done(status="finished", test_accuracy=0.97, test_loss=0.1, run_dir="/runs/x"),
    Failed(message="the loss became NaN at step 4", details="Traceback …"),
    Orphaned(unseen_seconds=130.0),
    SettingsChanged(step=40, lr=0.003, momentum=0.9, previous_lr=0.01, previous_momentum=0.9),
    OneBatchReport(step=41, epoch=1, lr=0.003, batch_size=2, loss_before=2.0, loss_after=1.9,
                   images=np.zeros((2, 28, 28), np.float32), labels=[3, 7], predicted=[3, 3],
                   parameters=["output weight"], update_norms=[0.01], weight_norms=[1.0]),
]  # fmt: skip


def _same(a: Event, b: Event) -> bool:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif isinstance(x, dict):  # a state of named arrays: their dtypes must survive too
            if x.keys() != y.keys() or not all(
                x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]) for k in x
            ):
                return False
        elif x != y and not (x != x and y != y):  # NaN equals NaN here
            return False
    return True


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_every_event_round_trips_through_json(event):
    text = json.dumps(event.to_dict())  # plain dicts: JSON, a pipe or a queue can carry them
    back = event_from_dict(json.loads(text))
    assert type(back) is type(event) and _same(back, event)


def test_every_event_type_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(EVENT_TYPES.values())


def test_a_dict_that_is_not_an_event_is_refused():
    with pytest.raises(ValueError, match="not a training event"):
        event_from_dict({"type": "explode"})
    with pytest.raises(ValueError, match="unknown fields"):
        event_from_dict({**Done(status="finished").to_dict(), "extra": 1})


@pytest.fixture(scope="module")
def small_task(mnist):
    return make_task(mnist, train_fraction=0.05)


def test_a_single_output_logits_network_is_scored_alike_in_training_and_evaluation(mnist):
    task = make_task(mnist, (3, 7), train_fraction=0.2)
    spec = ModelSpec(dense=[], outputs=1, output="logits")
    config = TrainConfig(classes=[3, 7], loss="mse", optimizer="sgd", lr=0.05, epochs=1)
    result = train(spec, config, task, probes=False)
    with torch.no_grad():
        outputs = result.model(task.test.images.float().div(255).unsqueeze(1))
    evaluation = evaluate_probabilities(
        output_probabilities(outputs, "logits"), task.test.labels, (3, 7)
    )
    assert 0.5 < result.test_accuracy < 1.0
    assert evaluation.accuracy == pytest.approx(result.test_accuracy, abs=1e-9)


def test_epoch_seconds_leave_out_the_time_spent_paused(small_task):
    control, events = TrainControl(), []
    runner = threading.Thread(
        target=train,
        args=(ModelSpec(), TrainConfig(epochs=1, batch_size=16), small_task),
        kwargs={"emit": events.append, "control": control, "probes": False},
    )
    runner.start()
    while not any(isinstance(e, Step) for e in events):
        time.sleep(0.01)
    control.pause()
    time.sleep(1.5)
    control.resume()
    runner.join(60)
    start = next(e for e in events if isinstance(e, Started))
    (epoch,) = [e for e in events if isinstance(e, EpochEnded)]
    wall = epoch.time - start.time
    # the loop waits from the step after the pause: on a starved core that step can take a
    # few tenths of a second, so the 1.5 s pause counts here as at least 1 s
    assert epoch.seconds <= wall - 1.0, (epoch.seconds, wall)


def test_out_of_memory_in_full_batch_names_the_batch_actually_used(monkeypatch, small_task):
    def exhausted(self, xb, yb):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(engines.AutogradEngine, "step", exhausted)
    config = TrainConfig(full_batch=True, iterations=3)  # batch_size stays at its default 64
    with pytest.raises(OutOfMemory, match=f"batch size {len(small_task.train):,}"):
        train(ModelSpec(), config, small_task)
