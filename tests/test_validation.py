"""Every setting a user can get wrong is refused before training, with a message naming the field."""

from __future__ import annotations

import math

import pytest

from core.data.mnist import MNIST_TRAIN_COUNTS, make_task, split_sizes
from core.spec import budget
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec, build, parameter_count, summary
from core.spec.presets import PRESETS
from core.train.checks import check_trainable
from ui.shared import share

LIMIT_GB = 4  # a fixed budget, so that the memory cases do not depend on this machine


@pytest.fixture(autouse=True)
def _fixed_memory_limit(monkeypatch):
    monkeypatch.setenv(budget.LIMIT_ENV, str(LIMIT_GB))


def _settings(spec_change: dict, config_change: dict) -> tuple[dict, dict]:
    """Return the default spec and config as dicts, with the changes applied."""
    spec = {**ModelSpec().to_dict(), **spec_change}
    config = {**TrainConfig().to_dict(), **config_change}
    return spec, config


def _check(spec_data: dict, config_data: dict) -> None:
    """Validate settings the way a link, an import and the Start button do."""
    check_trainable(ModelSpec.from_dict(spec_data), TrainConfig.from_dict(config_data))


# 256 channels at full 28×28 resolution feed 200,704 numbers into the first dense layer
UNPOOLED = {
    "conv": [{"channels": 256, "pool": "none"}],
    "dense": [{"width": 4096}, {"width": 4096}],
}
CNN = {
    "conv": [{"channels": 64, "pool": "none"}, {"channels": 64, "pool": "max"}],
    "dense": [{"width": 128}],
}


@pytest.mark.parametrize(
    ("case", "spec_change", "config_change", "field"),
    [
        ("learning rate zero", {}, {"lr": 0.0}, "lr"),
        ("learning rate negative", {}, {"lr": -1.0}, "lr"),
        ("learning rate not a number", {}, {"lr": math.nan}, "lr"),
        ("learning rate infinite", {}, {"lr": math.inf}, "lr"),
        ("learning rate as text", {}, {"lr": "0.01"}, "lr"),
        ("learning rate as a boolean", {}, {"lr": True}, "lr"),
        ("epochs zero", {}, {"epochs": 0}, "epochs"),
        ("epochs absurd", {}, {"epochs": 10**6}, "epochs"),
        ("epochs fractional", {}, {"epochs": 2.5}, "epochs"),
        ("steps negative", {}, {"iterations": -1}, "iterations"),
        ("batch size zero", {}, {"batch_size": 0}, "batch_size: 0"),
        (
            "batch size larger than the data",
            {"outputs": 2},
            {"classes": [3, 7], "train_fraction": 0.02, "batch_size": 512},
            "batch_size: 512 is larger than the 227 training digits",
        ),
        ("width zero", {"dense": [{"width": 0}]}, {}, "dense[0].width"),
        ("width absurd", {"dense": [{"width": 999_999_999}]}, {}, "dense[0].width"),
        (
            "widths too large for memory",
            UNPOOLED,
            {},
            "dense[0].width: 4,096 units need about",
        ),
        (
            "full batch too large for memory",
            CNN,
            {"full_batch": True},
            "full_batch: one batch of all 55,000 training digits needs about",
        ),
        ("channels zero", {"conv": [{"channels": 0}]}, {}, "conv[0].channels"),
        ("dropout negative", {"dense": [{"width": 64, "dropout": -0.1}]}, {}, "dense[0].dropout"),
        ("dropout one", {"dense": [{"width": 64, "dropout": 1.0}]}, {}, "dense[0].dropout"),
        (
            "dropout not a number",
            {"conv": [{"dropout": math.nan}]},
            {},
            "conv[0].dropout",
        ),
        ("no digits", {}, {"classes": []}, "classes"),
        ("a single digit", {"outputs": 1}, {"classes": [3]}, "classes"),
        ("the same digit twice", {}, {"classes": [3, 3]}, "classes"),
        ("a digit out of range", {}, {"classes": [3, 10]}, "classes"),
        ("digits as text", {}, {"classes": "37"}, "classes"),
        ("no layers at all", None, {}, "dense"),
        ("no output layer", {"outputs": 0}, {}, "outputs"),
        ("layers not a list", {"dense": 128}, {}, "dense"),
        ("outputs not matching the digits", {"outputs": 10}, {"classes": [3, 7]}, "outputs"),
    ],
)
def test_a_setting_out_of_range_is_refused_naming_the_field(
    case, spec_change, config_change, field
):
    spec_data, config_data = _settings(spec_change or {}, config_change)
    if spec_change is None:
        spec_data = {}  # an imported spec that states no layers
    with pytest.raises(ValueError) as error:
        _check(spec_data, config_data)
    assert str(error.value).startswith(field), f"{case}: {error.value}"


def test_valid_edge_values_pass():
    n_train, _ = split_sizes([3, 7], 0.02, 1 / 12)
    edges = [
        ({}, {"lr": 1e-6, "epochs": 1, "batch_size": 1}),
        ({}, {"lr": 10.0, "epochs": 500, "iterations": 1_000_000}),
        ({"outputs": 2}, {"classes": [3, 7], "train_fraction": 0.02, "batch_size": n_train}),
        # full batch is allowed whatever the batch size says
        (
            {"outputs": 2},
            {"classes": [3, 7], "train_fraction": 0.02, "batch_size": 4096, "full_batch": True},
        ),
        ({"dense": [{"width": 1, "dropout": 0.0}, {"width": 64, "dropout": 0.9}]}, {}),
        ({"dense": []}, {}),  # no hidden layers: a linear classifier
        ({"dense": [], "outputs": 1, "output": "sigmoid"}, {"classes": [3, 7], "loss": "mse"}),
        ({"dense": [{"width": 4096}] * 8}, {}),  # the widest dense network fits the budget
    ]
    for spec_change, config_change in edges:
        _check(*_settings(spec_change, config_change))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_fits_the_budget_and_counts_its_parameters_exactly(name):
    spec, config = PRESETS[name].fresh()
    check_trainable(spec, config)
    parameters = sum(p.numel() for p in build(spec).parameters())
    assert budget.estimate(spec, config).parameters == parameters == parameter_count(spec)


def test_the_estimate_adds_gradients_and_optimizer_state_to_the_parameters():
    spec, config = PRESETS["seed-mlp-128"].fresh()
    parameters = parameter_count(spec)
    config.optimizer = "adam"
    assert budget.estimate(spec, config).parameter_bytes == parameters * 4 * 4
    config.optimizer, config.momentum = "sgd", 0.9
    assert budget.estimate(spec, config).parameter_bytes == parameters * 3 * 4
    config.momentum = 0.0
    assert budget.estimate(spec, config).parameter_bytes == parameters * 2 * 4


def test_a_too_large_network_is_counted_without_allocating_it():
    spec = ModelSpec.from_dict(_settings(UNPOOLED, {})[0])
    conv = 256 * 9 + 256
    dense = 200_704 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
    assert parameter_count(spec) == conv + dense
    assert "Linear(in_features=200704, out_features=4096" in summary(spec)


def test_the_memory_limit_comes_from_the_environment_or_the_machine(monkeypatch):
    monkeypatch.setenv(budget.LIMIT_ENV, "2.5")
    assert budget.memory_limit() == 2_500_000_000
    monkeypatch.setenv(budget.LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match=budget.LIMIT_ENV):
        budget.memory_limit()
    monkeypatch.delenv(budget.LIMIT_ENV)
    assert 0 < budget.memory_limit() <= budget.DEFAULT_LIMIT_CAP_GB * budget.GB


def test_a_limit_given_by_the_caller_wins():
    spec, config = PRESETS["seed-mlp-128"].fresh()
    budget.check_fits(spec, config, limit_bytes=10**10)
    with pytest.raises(ValueError, match="the limit is 1 MB"):
        budget.check_fits(spec, config, limit_bytes=10**6)


def test_training_set_sizes_are_known_without_loading_mnist(mnist):
    assert sum(MNIST_TRAIN_COUNTS) == 60_000
    assert tuple(mnist.class_counts().tolist()) == MNIST_TRAIN_COUNTS
    for classes, train_fraction, val_fraction in [
        ((3, 7), 0.02, 1 / 12),
        (tuple(range(10)), 1.0, 1 / 12),
        ((0, 1, 2), 0.5, 0.0),
    ]:
        task = make_task(mnist, classes, train_fraction, val_fraction)
        assert split_sizes(classes, train_fraction, val_fraction) == (
            len(task.train),
            len(task.val),
        )


def test_a_link_keeps_its_valid_settings_and_names_each_bad_one():
    shared, problems = share.decode_keeping(
        {"preset": "small-cnn", "lr": "-1", "batch_size": "0", "epochs": "3", "dense": "0-relu"}
    )
    assert shared.config.epochs == 3
    assert shared.config.lr == PRESETS["small-cnn"].config.lr
    assert shared.config.batch_size == PRESETS["small-cnn"].config.batch_size
    assert shared.spec.dense == PRESETS["small-cnn"].spec.dense
    assert [problem.split(":")[0] for problem in problems] == ["lr", "batch_size", "dense[0].width"]


def test_a_link_whose_parameters_only_fit_together_is_taken_whole():
    shared, problems = share.decode_keeping(
        {"preset": "seed-mlp-4layer", "outputs": "1", "output": "sigmoid", "classes": "37"}
    )
    assert problems == []
    assert (shared.spec.outputs, shared.spec.output) == (1, "sigmoid")
