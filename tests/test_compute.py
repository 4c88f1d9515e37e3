"""What a run costs: multiply-adds and FLOPs by hand, the Pareto front, recorded in the summary."""

from __future__ import annotations

import json

import pytest

from core.spec.compute import matmul_peak_gflops, pareto_front, training_flops
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, multiply_adds
from tests.conftest import train_tiny_run


def test_a_dense_network_multiplies_each_input_by_each_weight_once():
    spec = ModelSpec(dense=[DenseLayer(128), DenseLayer(64)])
    assert multiply_adds(spec) == 784 * 128 + 128 * 64 + 64 * 10


def test_a_conv_network_counts_every_output_pixel_of_every_filter():
    spec = ModelSpec(
        conv=[ConvLayer(4, 5, "valid", pool="max"), ConvLayer(8, 3, "same", pool="none")],
        dense=[],
    )
    first = 24 * 24 * 4 * 1 * 5 * 5  # 28 - 5 + 1 = 24 pixels a side, then pooled to 12
    second = 12 * 12 * 8 * 4 * 3 * 3
    assert multiply_adds(spec) == first + second + 8 * 12 * 12 * 10


def test_training_flops_are_six_per_multiply_add_per_sample():
    assert training_flops(1000, 60000) == 6 * 1000 * 60000


def test_the_pareto_front_keeps_runs_nothing_beats_in_cost_order():
    costs = [10, 1, 5, 5, 100, 3]
    accuracy = [0.99, 0.90, 0.97, 0.95, 0.985, 0.89]
    # 3 costs more than 1 and is worse; 5 at 0.95 loses to 5 at 0.97; 100 is worse than 10
    assert pareto_front(costs, accuracy) == [1, 2, 0]
    assert pareto_front([], []) == []


def test_the_matmul_peak_is_a_positive_rate():
    assert matmul_peak_gflops(repeats=2) > 0.1


def test_a_run_records_its_cost(tmp_path, data_dir):
    spec = ModelSpec(dense=[DenseLayer(16)])
    config = TrainConfig(iterations=20, batch_size=50, train_fraction=0.05)
    run = train_tiny_run(tmp_path / "runs", data_dir, "cost", spec, config)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["multiply_adds"] == 784 * 16 + 16 * 10
    assert summary["samples_seen"] == 20 * 50
    assert summary["training_flops"] == pytest.approx(6 * summary["multiply_adds"] * 1000)
