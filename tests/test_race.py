"""Races: planning seeds and variants, their statistics, the 'no clear difference' rule, the CLI."""

from __future__ import annotations

import json

import pytest

from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec
from core.train.race import (
    VariantResult,
    apply_settings,
    parse_setting,
    plan_race,
    results_of,
    verdict,
)
from tests.test_cli import run_cli


def test_a_race_over_seeds_runs_consecutive_seeds_with_the_same_settings():
    spec, config = ModelSpec(), TrainConfig(seed=7, lr=0.01)
    entries = plan_race(spec, config, 4)
    assert [e.seed for e in entries] == [7, 8, 9, 10]
    assert {e.variant for e in entries} == {"as set"}
    assert all(e.config.lr == 0.01 and e.config.seed == e.seed for e in entries)
    assert config.seed == 7  # the page's own settings are left alone


def test_variants_share_their_seeds_and_change_only_their_setting():
    spec = ModelSpec(conv=[ConvLayer(8)], dense=[DenseLayer(16), DenseLayer(16, "tanh")])
    entries = plan_race(spec, TrainConfig(), 3, [{"activation": "sigmoid"}, {"activation": "relu"}])
    assert [e.variant for e in entries] == ["activation=sigmoid"] * 3 + ["activation=relu"] * 3
    assert [e.seed for e in entries] == [0, 1, 2, 0, 1, 2]
    sigmoid = entries[0].spec
    assert [layer.activation for layer in [*sigmoid.conv, *sigmoid.dense]] == ["sigmoid"] * 3
    assert spec.dense[1].activation == "tanh"


@pytest.mark.parametrize(
    ("seeds", "variants", "message"),
    [
        (1, None, "seeds: 1 is outside the allowed range 2..10"),
        (11, None, "seeds: 11"),
        (3, [{"lr": 0.1}], "variants: 1 is outside"),
        (3, [{"lr": 0.1}] * 5, "variants: 5 is outside"),
        (3, [{"lr": 0.1}, {"lr": 0.1}], "two variants are the same"),
        (3, [{"lr": 0.1}, {"lr": 99.0}], "lr: 99.0 must be a number in the allowed range"),
        (3, [{"seed": 1}, {"seed": 2}], "setting: 'seed' is not one of"),
    ],
)
def test_a_race_that_cannot_be_run_is_refused_with_the_reason(seeds, variants, message):
    with pytest.raises(ValueError, match=message):
        plan_race(ModelSpec(), TrainConfig(), seeds, variants)


def test_settings_are_read_with_their_fields_types():
    assert parse_setting("lr=0.01") == ("lr", 0.01)
    assert parse_setting("batch_size=256") == ("batch_size", 256)
    assert parse_setting("cycle_momentum=off") == ("cycle_momentum", False)
    assert parse_setting("classes=37") == ("classes", [3, 7])
    assert parse_setting(" optimizer = sgd ") == ("optimizer", "sgd")
    for bad, message in (
        ("lr", "not name=value"),
        ("batch_size=big", "batch_size: 'big' is not a valid int"),
        ("colour=red", "setting: 'colour' is not one of"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_setting(bad)
    with pytest.raises(ValueError, match="activation: 'swish' is not one of"):
        apply_settings(ModelSpec(), TrainConfig(), {"activation": "swish"})


def test_statistics_are_mean_and_sample_standard_deviation():
    result = VariantResult("a", (0.990, 0.992, 0.994))
    assert result.mean == pytest.approx(0.992)
    assert result.std == pytest.approx(0.002)  # n − 1: sqrt((4e-6 + 0 + 4e-6) / 2)
    assert result.interval == pytest.approx((0.990, 0.994))
    assert VariantResult("one", (0.5,)).std == 0.0


def test_a_winner_is_named_only_when_the_intervals_do_not_overlap():
    clear = [
        VariantResult("relu", (0.98, 0.981, 0.982)),
        VariantResult("sigmoid", (0.95, 0.96, 0.955)),
    ]
    assert verdict(clear) == "relu wins: its mean ± std lies above every other variant's"
    close = [
        VariantResult("adam", (0.990, 0.992, 0.994)),
        VariantResult("adamw", (0.989, 0.991, 0.993)),
    ]
    assert verdict(close) == "no clear difference at 3 seeds"
    # the best must clear every other variant, not only the runner-up
    three = [*clear, VariantResult("gelu", (0.979, 0.981, 0.983))]
    assert verdict(three) == "no clear difference at 3 seeds"
    assert verdict(clear[:1]) == ""  # one variant: a race over seeds, nothing to win


def test_results_are_read_from_finished_runs_only():
    summaries = [
        {"status": "finished", "variant": "lr=0.1", "test_accuracy": 0.9},
        {"status": "finished", "variant": "lr=0.1", "test_accuracy": 0.8},
        {"status": "stopped", "variant": "lr=0.1", "test_accuracy": 0.1},
        {"status": "finished", "variant": "lr=0.01", "test_accuracy": None},
        {"status": "finished", "variant": "lr=0.01", "test_accuracy": 0.7},
    ]
    results = results_of(summaries)
    assert [(r.variant, r.accuracies) for r in results] == [
        ("lr=0.1", (0.9, 0.8)),
        ("lr=0.01", (0.7,)),
    ]


def test_the_race_command_prints_the_table_and_a_json_line_last(data_dir, tmp_path):
    result = run_cli(
        "race",
        "--preset",
        "seed-3v7",
        "--seeds",
        "2",
        "--set",
        "iterations=30",
        "--variant",
        "lr=0.001",
        "--variant",
        "lr=0.01",
        "--data",
        str(data_dir),
        "--runs",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "| variant | seeds | test accuracy, mean ± std |" in result.stdout
    # a variant is named by what differs; --set applies to every run
    assert any(line.startswith("| lr=0.001 | 2 |") for line in lines)
    report = json.loads(lines[-1])
    assert [v["variant"] for v in report["variants"]] == ["lr=0.001", "lr=0.01"]
    assert all(len(v["accuracies"]) == 2 for v in report["variants"])
    summaries = [
        json.loads(path.read_text()) for path in (tmp_path / "runs").glob("*/summary.json")
    ]
    assert len(summaries) == 4 and {s["race"] for s in summaries} == {report["race"]}
    assert {s["variant"] for s in summaries} == {v["variant"] for v in report["variants"]}
    configs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/config.json")]
    assert [c["iterations"] for c in configs] == [30] * 4


def test_a_race_over_seeds_alone_takes_settings_for_every_run(data_dir, tmp_path):
    result = run_cli("race", "--preset", "seed-3v7", "--seeds", "2", "--set", "iterations=20",
                     "--data", str(data_dir), "--runs", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [v["variant"] for v in report["variants"]] == ["as set"]
    configs = [json.loads(p.read_text()) for p in tmp_path.glob("*/config.json")]
    assert [c["iterations"] for c in configs] == [20, 20]


def test_the_race_command_refuses_a_bad_setting(tmp_path):
    result = run_cli("race", "--preset", "seed-3v7", "--set", "lr=fast", "--runs", str(tmp_path))
    assert result.returncode == 2
    assert "lr: 'fast' is not a valid float" in result.stderr
