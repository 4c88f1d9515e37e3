"""Honest confidence: a temperature fit after training (Guo et al. 2017) tempers every
probability shown, changes no prediction, and lowers the calibration error (issue 24)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from core.analysis.calibration import (
    calibrate,
    expected_calibration_error,
    fit_temperature,
    temper,
)
from core.runs.schema import InvalidRun, check_summary
from core.runs.store import load_run
from core.spec.models import DenseLayer, ModelSpec
from core.spec.presets import get_preset
from tests.conftest import train_tiny_run


def over_confident(count: int, true_temperature: float, seed: int = 0):
    """Return probabilities softmax(z) of a model whose labels really follow softmax(z / T)."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(count, 10, generator=generator) * 4
    labels = torch.multinomial(torch.softmax(logits / true_temperature, 1), 1, generator=generator)
    return torch.softmax(logits, 1), labels[:, 0]


def test_tempering_probabilities_is_dividing_the_logits():
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(1)) * 3
    probabilities = torch.softmax(logits, 1)
    for temperature in (0.5, 1.0, 2.5):
        assert torch.allclose(
            temper(probabilities, temperature), torch.softmax(logits / temperature, 1), atol=1e-6
        )
    assert torch.equal(temper(probabilities, 2.5).argmax(1), probabilities.argmax(1))


def test_the_fitted_temperature_is_the_one_the_labels_follow():
    probabilities, labels = over_confident(20_000, true_temperature=2.0)
    assert fit_temperature(probabilities, labels) == pytest.approx(2.0, abs=0.1)
    honest, honest_labels = over_confident(20_000, true_temperature=1.0, seed=1)
    assert fit_temperature(honest, honest_labels) == pytest.approx(1.0, abs=0.05)


def test_the_calibration_error_sees_over_confidence_and_the_temperature_removes_it():
    fit, fit_labels = over_confident(10_000, 2.0, seed=2)
    check, check_labels = over_confident(10_000, 2.0, seed=3)
    honest, honest_labels = over_confident(10_000, 1.0, seed=4)
    assert expected_calibration_error(honest, honest_labels) < 0.02
    found = calibrate(fit, fit_labels, check, check_labels)
    assert found["ece_before"] > 0.1 and found["ece_after"] < 0.02
    assert found["temperature"] == pytest.approx(2.0, abs=0.1)


def test_a_trained_run_keeps_its_temperature_and_shows_tempered_probabilities(
    isolated_folders, data_dir, mnist
):
    spec = ModelSpec(dense=[DenseLayer(64)])
    _, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction, config.val_fraction = 2, 0.1, 0.1
    folder = train_tiny_run(isolated_folders, data_dir, "calibrated", spec, config)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["calibrated_on"] == "validation"
    assert 0.05 <= summary["temperature"] <= 20
    assert summary["ece_after"] <= summary["ece_before"] + 0.01
    run = load_run(folder)
    images = mnist.test_images[:500].float().div(255).unsqueeze(1)
    shown = run.predict_proba(images)
    raw = temper(shown, 1 / run.summary["temperature"])  # undone: the network's own
    assert torch.allclose(temper(raw, run.summary["temperature"]), shown, atol=1e-5)
    assert torch.equal(shown.argmax(1), raw.argmax(1))
    if not math.isclose(run.summary["temperature"], 1.0, abs_tol=0.01):
        assert not torch.allclose(shown, raw, atol=1e-4)


@pytest.mark.parametrize("temperature", [0, -1, 100, "hot", math.nan])
def test_a_summary_with_an_impossible_temperature_is_refused(temperature):
    summary = {"format_version": 1, "run_id": "20261206-000000-x-0001", "temperature": temperature}
    with pytest.raises(InvalidRun, match="temperature"):
        check_summary(summary)


def test_a_confidence_is_never_rounded_up_to_a_certainty():
    from ui.charts.evaluation_figures import confidence_text

    assert confidence_text(0.99996) == "99.9%" and confidence_text(0.9951) == "99.5%"
    assert confidence_text(1.0) == "100%" and confidence_text(0.904) == "90%"


def test_a_class_with_no_digits_has_no_bar_and_says_so_rather_than_zero():
    # a room where nobody drew a 3 yet: its recall is 0/0, which is not "0% right"
    from ui.charts.evaluation_figures import per_class_accuracy_figure

    accuracy = [1.0, 0.5, 0.8, 0.0]
    figure = per_class_accuracy_figure(accuracy, ["0", "1", "2", "3"], 0.75, counts=[4, 2, 5, 0])
    bar = figure.data[0]
    assert list(bar.y) == [1.0, 0.5, 0.8, None]
    words = {a.text: a.x for a in figure.layout.annotations}
    assert words["none yet"] == "3"
    assert list(bar.text) == ["4/4", "1/2", "4/5", ""]  # right of drawn, where counts are known
    # the weakest is named under its digit: among the classes drawn, not the empty one
    assert list(figure.layout.xaxis.ticktext) == ["0", "1<br><b>weakest</b>", "2", "3"]
    # without counts, as on the Evaluate page's test set, every class has its bar
    plain = per_class_accuracy_figure(accuracy, ["0", "1", "2", "3"], 0.75)
    assert list(plain.data[0].y) == accuracy
    assert not plain.layout.annotations
    assert list(plain.layout.xaxis.ticktext) == ["0", "1", "2", "3<br><b>weakest</b>"]
    # words over the bars get room above a full bar; ten bare bars do not need it
    bare = per_class_accuracy_figure([0.9] * 10, [str(d) for d in range(10)], 0.9)
    assert figure.layout.margin.t >= 30 > bare.layout.margin.t
