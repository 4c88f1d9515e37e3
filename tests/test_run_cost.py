"""Every run costs what its steps cost: work done between steps is paced by the clock, not by
the epoch, so a full-batch run (an epoch at every step) writes a handful of checkpoints, scores
its validation digits every few steps, and its time per step does not grow with its length."""

from __future__ import annotations

import json
import math

import pytest

from core.events import (
    Checkpointed,
    Done,
    EpochEnded,
    FeaturesSnapshot,
    ModelSnapshot,
    Validated,
    WeightsSnapshot,
)
from core.spec.presets import get_preset
from core.train import run as run_module
from core.train.cadence import Cadence
from core.train.callbacks import CHECKPOINT_ENV, FEATURES_EVERY_SECONDS, WEIGHTS_EVERY_SECONDS
from core.train.control import TrainControl
from core.train.follow import MODEL_EVERY_SECONDS
from core.train.run import JobRequest, run_job


def full_batch_run(data_dir, runs_dir, steps: int, name: str, monkeypatch, saves: list):
    """Train seed-3v7 (one neuron, full batch) on a tenth of the 3s and 7s for `steps` steps;
    return its events and the training seconds. `saves` receives a line per save_run call."""
    spec, config = get_preset("seed-3v7").fresh()
    config.iterations, config.train_fraction, config.val_fraction = steps, 0.1, 0.1
    real_save = run_module.save_run

    def counted_save(*args, **kwargs):
        saves.append(kwargs.get("checkpoint") is not None)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(run_module, "save_run", counted_save)
    events = []
    request = JobRequest(name, name, spec, config, str(data_dir), str(runs_dir))
    run_job(request, events.append, TrainControl())
    done = events[-1]
    assert isinstance(done, Done) and done.status == "finished", done
    return events


def count(events, kind) -> int:
    return sum(isinstance(e, kind) for e in events)


def test_a_full_batch_run_writes_a_handful_of_checkpoints_and_probes_by_the_clock(
    data_dir, tmp_path, monkeypatch
):
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)  # the default: every 30 s of training
    saves: list[bool] = []
    events = full_batch_run(data_dir, tmp_path, 300, "fb300", monkeypatch, saves)
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epochs) == 300  # full batch: every step is an epoch
    started, ended = events[0].time, events[-1].time
    seconds = ended - started
    # a checkpoint wrote the whole folder at every one of those epochs' ends before (issue 22)
    assert count(events, Checkpointed) <= 1 + seconds / 30
    assert sum(saves) == count(events, Checkpointed) and len(saves) - sum(saves) == 1
    # the live views at most at their pace (plus the start and the end), not once an epoch
    assert count(events, WeightsSnapshot) <= seconds / WEIGHTS_EVERY_SECONDS + 3
    assert count(events, FeaturesSnapshot) <= seconds / FEATURES_EVERY_SECONDS + 3
    assert count(events, ModelSnapshot) <= seconds / MODEL_EVERY_SECONDS + 3
    # validation: a bounded share of the time, and always the last epoch
    validated = count(events, Validated)
    assert 1 <= validated < 300
    assert not math.isnan(epochs[-1].val_accuracy)
    scored = [e for e in epochs if not math.isnan(e.val_accuracy)]
    assert len(scored) == validated
    # the training accuracy is counted with the validation; the loss is every step's
    assert [e for e in epochs if not math.isnan(e.train_accuracy)] == scored
    assert all(0 <= e.train_accuracy <= 1 for e in scored)
    assert all(math.isfinite(e.train_loss) for e in epochs)


def test_a_ten_times_longer_full_batch_run_takes_about_ten_times_as_long(
    data_dir, tmp_path, monkeypatch
):
    def seconds_per_step(steps: int) -> float:
        full_batch_run(data_dir, tmp_path, steps, f"fb{steps}", monkeypatch, [])
        summary = (tmp_path / f"fb{steps}" / "summary.json").read_text()
        return json.loads(summary)["seconds"] / steps

    seconds_per_step(40)  # warm-up: the first run in a process pays for imports and allocation
    short, long = seconds_per_step(60), seconds_per_step(600)
    # quadratic costs (a folder written at every epoch) made a 10× run take ~20× as long;
    # generous, as this machine is shared and noisy: a growth, not a speed target
    assert long <= short * 1.6, (short, long)


def test_a_cadence_spaces_work_by_its_seconds_and_by_its_share_of_the_time():
    now = [0.0]
    cadence = Cadence(1.0, share=0.1, clock=lambda: now[0])
    assert cadence.due()  # the first time always runs
    cadence.ran(started=0.0)  # took no time: due again after 1 s
    now[0] = 0.5
    assert not cadence.due()
    now[0] = 1.0
    assert cadence.due()
    started = now[0]
    now[0] = 1.5  # took 0.5 s: at most a tenth of the time, so 5 s before the next
    cadence.ran(started)
    now[0] = 6.4
    assert not cadence.due()
    now[0] = 6.5
    assert cadence.due()


class ClockedTrainer:
    """Just enough of a Trainer for a Checkpointer: a clock it reads, epochs ended by hand."""

    def __init__(self) -> None:
        self.now, self.step, self.epoch, self.total_steps = 0.0, 0, 0, 10**6
        self.control, self.callbacks, self.events = TrainControl(), {}, []

    def training_seconds(self) -> float:
        return self.now

    def add_callback(self, name, function) -> None:
        self.callbacks.setdefault(name, []).append(function)

    def trigger(self, name) -> None:
        for function in self.callbacks.get(name, []):
            function(self)

    def emit(self, event) -> None:
        self.events.append(event)


def test_a_checkpoint_that_grows_with_the_run_takes_at_most_a_hundredth_of_its_time():
    from core.train.callbacks import Checkpointer

    trainer = ClockedTrainer()
    saved_at = []

    def slow_save(trainer):  # a long run's folder: 2 s to write, its metrics rewritten whole
        saved_at.append(trainer.now)
        trainer.now += 2.0
        return "folder"

    checkpointer = Checkpointer(slow_save, every_seconds=30)
    checkpointer.attach(trainer)
    trainer.trigger("on_start")
    while trainer.now < 1000:  # an epoch a second
        trainer.now += 1.0
        trainer.step += 1
        trainer.trigger("on_epoch_end")
    gaps = [b - a for a, b in zip(saved_at, saved_at[1:])]
    assert saved_at[0] == 30  # the first after 30 s, as before
    assert gaps and min(gaps) >= 200  # 2 s of writing, then 198 s of training at least
    assert 2.0 * len(saved_at) <= 0.011 * trainer.now

    every_epoch = Checkpointer(slow_save, every_seconds=0)  # the resume tests' setting
    saved_at.clear()
    trainer = ClockedTrainer()
    every_epoch.attach(trainer)
    trainer.trigger("on_start")
    for _ in range(5):
        trainer.step += 1
        trainer.trigger("on_epoch_end")
    assert len(saved_at) == 5


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_checkpoint_interval_is_refused_naming_the_variable(monkeypatch, value):
    from core.train.callbacks import checkpoint_seconds

    monkeypatch.setenv(CHECKPOINT_ENV, value)
    with pytest.raises(ValueError, match=CHECKPOINT_ENV):
        checkpoint_seconds()


def test_an_epoch_ending_moments_before_the_run_leaves_its_scoring_to_the_end(
    data_dir, tmp_path, monkeypatch
):
    # the work of an epoch's end (validation, the live views) would be done again a step later
    # at the run's end: a run one step into its second epoch scores and shows once, not twice
    spec, config = get_preset("seed-mlp-128").fresh()
    config.train_fraction, config.val_fraction = 0.05, 0.05
    events: list = []
    probe = JobRequest("near", "near", spec, config, str(data_dir), str(tmp_path))
    run_job(probe, events.append, TrainControl())
    per_epoch = events[0].steps_per_epoch
    assert per_epoch >= 20, per_epoch  # a tenth of an epoch is at least two steps

    config.iterations = per_epoch + 1
    events = []
    request = JobRequest("end", "end", spec, config, str(data_dir), str(tmp_path))
    run_job(request, events.append, TrainControl())
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.step for e in epochs] == [per_epoch, per_epoch + 1]
    assert math.isnan(epochs[0].val_accuracy) and not math.isnan(epochs[1].val_accuracy)
    assert count(events, Validated) == 1
    shown = [e.step for e in events if isinstance(e, FeaturesSnapshot)]
    assert len(shown) == len(set(shown)) and shown[-1] == per_epoch + 1
