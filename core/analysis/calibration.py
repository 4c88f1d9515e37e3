"""Honest confidence: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks") and the expected calibration error that says whether it helped.

A network trained with cross-entropy is usually over-confident: its "99%" is right less often
than 99% of the time. One number, the temperature T, divides its log-odds (softmax(z / T)), fit
after training on digits it did not train on; it changes no prediction, only how sure each one
claims to be. The pages show tempered probabilities everywhere (core.runs.store.Run).

Working on probabilities rather than raw outputs makes it one rule for every output head:
normalising p^(1/T) is softmax(z / T) exactly for logits and log-softmax, and the same idea for
sigmoid heads and a single output.
"""

from __future__ import annotations

import math

import torch

TEMPERATURE_RANGE = (0.05, 20.0)
ECE_BINS = 15  # Guo et al.'s choice
_GOLDEN = (math.sqrt(5) - 1) / 2


def temper(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return (N, C) probabilities with their log-odds divided by temperature."""
    if temperature == 1.0 or probabilities.numel() == 0:
        return probabilities
    log_p = probabilities.double().clamp_min(1e-30).log() / temperature
    return torch.softmax(log_p, dim=1).to(probabilities.dtype)


def _nll(probabilities: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    log_p = torch.log_softmax(probabilities.double().clamp_min(1e-30).log() / temperature, dim=1)
    return float(-log_p[torch.arange(len(labels)), labels].mean())


def fit_temperature(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the temperature in TEMPERATURE_RANGE that minimises the negative log-likelihood of
    labels (class positions) under the tempered probabilities."""
    if len(labels) == 0:
        return 1.0
    # the likelihood is smooth and has one minimum in log T: a golden-section search finds it
    # to 1e-4 in 40 steps, with no learning rate to choose
    low, high = (math.log(t) for t in TEMPERATURE_RANGE)
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    fa, fb = (_nll(probabilities, labels, math.exp(x)) for x in (a, b))
    for _ in range(40):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - _GOLDEN * (high - low)
            fa = _nll(probabilities, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + _GOLDEN * (high - low)
            fb = _nll(probabilities, labels, math.exp(b))
    return round(math.exp((low + high) / 2), 4)


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS
) -> float:
    """Return the expected calibration error: how far, weighted by how many digits, each bin of
    confidence is from the accuracy of the predictions in it (0: perfectly honest)."""
    if len(labels) == 0:
        return math.nan
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double()
    which = torch.clamp((confidence.double() * bins).long(), max=bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap = confidence[inside].double().mean() - correct[inside].mean()
            error += float(inside.double().mean() * gap.abs())
    return error


def calibrate(
    fit: torch.Tensor, fit_labels: torch.Tensor, check: torch.Tensor, check_labels: torch.Tensor
) -> dict:
    """Fit a temperature on one set of probabilities and return it with the calibration error on
    another, before and after (the summary's fields)."""
    temperature = fit_temperature(fit, fit_labels)
    return {
        "temperature": temperature,
        "ece_before": round(expected_calibration_error(check, check_labels), 6),
        "ece_after": round(expected_calibration_error(temper(check, temperature), check_labels), 6),
    }


def split_for_calibration(count: int) -> tuple[slice, slice]:
    """Return the halves of a test set to fit on and to check on, for a run without a
    validation split (the fit must not be judged on the digits it was fit on)."""
    return slice(0, count // 2), slice(count // 2, count)


def calibrate_run(
    val: torch.Tensor | None,
    val_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
) -> dict:
    """Return a run's calibration: a temperature fit on its validation probabilities, judged on
    its test digits; without validation digits, fit on half of the test digits and judged on
    the other half. The summary's fields, with the set it was fit on."""
    if val is not None:
        return {**calibrate(val, val_labels, test, test_labels), "calibrated_on": "validation"}
    fit, check = split_for_calibration(len(test_labels))
    found = calibrate(test[fit], test_labels[fit], test[check], test_labels[check])
    return {**found, "calibrated_on": "half of the test set"}
