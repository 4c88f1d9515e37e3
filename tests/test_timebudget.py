"""core.train.timebudget: a run's time is estimated before it starts, and limited."""

from __future__ import annotations

import copy

import pytest

from core.events import Done
from core.spec.models import DenseLayer, ModelSpec
from core.spec.presets import get_preset
from core.train import steptime, timebudget
from core.train.control import TrainControl
from core.train.job import Job
from core.train.run import JobRequest, run_job


@pytest.mark.timed  # times CPU work: at normal priority, not on the starved lane
def test_the_presets_are_estimated_in_seconds_to_minutes():
    for name, low, high in (("seed-mlp-128", 5, 60), ("small-cnn", 60, 900)):
        spec, config = get_preset(name).fresh()
        assert low < timebudget.estimate_seconds(spec, config) < high, name


def test_a_network_that_would_train_for_hours_is_refused_before_it_starts(monkeypatch):
    monkeypatch.delenv(timebudget.LIMIT_ENV, raising=False)
    huge = ModelSpec(dense=[DenseLayer(4096) for _ in range(6)])  # 87M parameters: fits memory
    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(ValueError, match=r"about \d+ h \d+ min .* 30 min limit") as refused:
        Job.create(huge, config)
    assert timebudget.LIMIT_ENV in str(refused.value)
    assert Job.create(spec, config).request.max_seconds == 30 * 60
    monkeypatch.setenv(timebudget.LIMIT_ENV, "0")  # no limit
    assert Job.create(huge, config).request.max_seconds is None


def test_a_bad_limit_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv(timebudget.LIMIT_ENV, "soon")
    with pytest.raises(ValueError, match=timebudget.LIMIT_ENV):
        timebudget.limit_seconds()


def test_a_run_past_its_limit_is_stopped_and_saved_as_stopped(data_dir, tmp_path):
    spec, config = get_preset("seed-mlp-128").fresh()
    events = []
    request = JobRequest("limited", "limited", spec, config, str(data_dir), str(tmp_path),
                         max_seconds=1.0)  # fmt: skip
    run_job(request, events.append, TrainControl())
    done = events[-1]
    assert isinstance(done, Done) and done.status == "stopped", done
    assert "limit" in done.reason and done.run_dir is not None


def test_finished_runs_teach_the_constants_this_machines_speed(tmp_path):
    spec, config = get_preset("seed-mlp-128").fresh()
    before = timebudget.constants_estimate(spec, config, tmp_path)
    for _ in range(10):  # this machine is twice as slow as the constants say
        timebudget.record_run(tmp_path, spec, config, 2 * timebudget.raw_estimate(spec, config))
    after = timebudget.constants_estimate(spec, config, tmp_path)
    assert after == pytest.approx(2 * before, rel=0.05)
    (tmp_path / timebudget.CORRECTION_FILE).write_text("not json")
    assert timebudget.constants_estimate(spec, config, tmp_path) == pytest.approx(before)


def test_a_quick_step_is_timed_once_and_the_estimate_follows_the_runs_length(monkeypatch):
    spec, config = get_preset("speedrun").fresh()
    timed = []
    real = steptime.step_seconds
    monkeypatch.setattr(steptime, "step_seconds", lambda *a: timed.append(a) or real(*a))
    one = timebudget.estimate_seconds(spec, config)
    config.epochs *= 4
    four = timebudget.estimate_seconds(spec, config)
    assert four == pytest.approx(4 * one, rel=0.05)  # the steps dominate; scoring adds a little
    assert len(timed) == 2 and steptime._key(*timed[0]) == steptime._key(*timed[1])
    assert 0 < one < timebudget.raw_estimate(spec, config) * 10


def test_a_busy_moment_while_timing_does_not_inflate_the_step():
    # a burst of slow steps (another process, a fresh process's first steps) in the later half
    # of the timed window: its median (the measure before 2026-12-06) read 85 ms
    times = [0.060] * 5 + [0.085] * 4
    assert steptime.typical_step(times[steptime.WARM_UP_STEPS :]) == pytest.approx(0.060)


def test_a_step_too_slow_to_time_is_estimated_from_the_constants(monkeypatch):
    huge = ModelSpec(dense=[DenseLayer(4096) for _ in range(6)])
    _, config = get_preset("seed-mlp-128").fresh()
    monkeypatch.setattr(steptime, "step_seconds", lambda *a: pytest.fail("timed a slow step"))
    assert timebudget.estimate_seconds(huge, config) == timebudget.constants_estimate(huge, config)


def test_augmentation_is_part_of_the_estimate():
    spec, config = get_preset("draw").fresh()  # elastic, thickness, bold and serifs
    plain = copy.deepcopy(config)
    plain.augment.enabled = False
    _, samples = timebudget.planned_steps_and_samples(config)
    added = timebudget.raw_estimate(spec, config) - timebudget.raw_estimate(spec, plain)
    # the elastic field alone costs ~0.24 ms a digit: on 4 epochs of 60,000, close to a minute
    assert added == pytest.approx(timebudget.augment_seconds(config) * samples)
    assert added > samples * timebudget.ELASTIC_SECONDS > 50
    plain.augment.enabled, plain.augment.elastic = True, False
    assert timebudget.augment_seconds(plain) < timebudget.augment_seconds(config)


def test_one_preflight_answers_the_page_and_the_job_alike(tmp_path):
    # the Train page shows what preflight says; Job.create refuses on the same words
    from core.spec.config import TrainConfig
    from core.spec.models import ModelSpec
    from core.train.job import Job
    from core.train.preflight import preflight

    good = preflight(ModelSpec(), TrainConfig(epochs=1, train_fraction=0.05), "ok", tmp_path)
    assert good.ok and good.estimate > 0
    long_name = "x" * 300
    bad = preflight(ModelSpec(), TrainConfig(epochs=1), long_name, tmp_path)
    assert not bad.ok and bad.estimate is None and "name" in bad.problem
    with pytest.raises(ValueError) as refused:
        Job.create(ModelSpec(), TrainConfig(epochs=1), long_name, runs_dir=tmp_path)
    assert str(refused.value) == bad.problem
