"""The Build page's "PyTorch code": a standalone script that builds the same network and trains."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.export.script import export_script
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, parameter_count
from core.spec.presets import get_preset

PRESETS = [
    "seed-mlp-128",
    "seed-mlp-4layer",
    "seed-3v7",
    "small-cnn",
    "lenet5",
    "draw",
    "tiny",
    "speedrun",
]


def custom() -> tuple[ModelSpec, TrainConfig]:
    spec = ModelSpec(
        conv=[
            ConvLayer(16, 5, "valid", "gelu", "avg", batch_norm=True, dropout=0.2),
            ConvLayer(8, 4, "same", "tanh", "none"),
        ],
        dense=[DenseLayer(64, "elu", 0.3, batch_norm=True)],
        outputs=3,
        output="log_softmax",
    )
    config = TrainConfig(
        optimizer="rmsprop",
        momentum=0.9,
        weight_decay=1e-4,
        loss="nll",
        schedule="step",
        classes=[1, 4, 9],
        train_fraction=0.1,
    )
    return spec, config


CASES = {name: get_preset(name).fresh for name in PRESETS} | {"custom": custom}


def load_script(source: str) -> dict:
    """Execute the script's definitions without running main; return its namespace."""
    namespace = {"__name__": "exported_script"}
    exec(compile(source, "exported.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("case", CASES)
def test_the_script_compiles(case):
    compile(export_script(*CASES[case]()), "exported.py", "exec")


@pytest.mark.parametrize("case", CASES)
def test_the_scripts_net_has_the_same_parameter_count_as_the_app_model(case):
    spec, config = CASES[case]()
    net = load_script(export_script(spec, config))["Net"]()
    assert sum(p.numel() for p in net.parameters()) == parameter_count(spec)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CASES)
def test_the_scripts_net_gives_one_output_per_class(case):
    spec, config = CASES[case]()
    net = load_script(export_script(spec, config))["Net"]().eval()
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, spec.outputs)


@pytest.mark.parametrize("case", CASES)
def test_the_script_imports_only_torch_torchvision_and_the_standard_library(case):
    tree = ast.parse(export_script(*CASES[case]()))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules <= {"argparse", "math", "torch", "torchvision"}


def test_the_script_writes_out_the_chosen_settings():
    spec, config = custom()
    source = export_script(spec, config)
    assert "DIGITS = [1, 4, 9]" in source
    assert (
        "optim.RMSprop(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=0.0001)" in source
    )
    assert "StepLR" in source and "F.nll_loss" in source and "F.log_softmax" in source
    assert "nn.Dropout2d(0.2)" in source and "nn.BatchNorm1d(64)" in source
    # train_fraction 0.1 of the 1s, 4s and 9s left after the validation split
    assert "default=1699" in source


def test_the_draw_preset_exports_its_augmentation():
    source = export_script(*get_preset("draw").fresh())
    assert "transforms.RandomAffine(" in source and "ElasticTransform" in source
    assert "random_thickness" in source and "OneCycleLR" in source


def find_ruff() -> str | None:
    """Return the ruff next to this Python, or on PATH, or None."""
    beside = Path(sys.executable).with_name("ruff")
    return str(beside) if beside.exists() else shutil.which("ruff")


@pytest.mark.parametrize("case", CASES)
def test_the_script_is_formatted_and_lint_free(case, tmp_path):
    ruff = find_ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    script = tmp_path / "train_mnist.py"
    script.write_text(export_script(*CASES[case]()))
    settings = ["--line-length", "100", "--no-cache"]
    assert subprocess.run([ruff, "format", "--check", *settings, str(script)]).returncode == 0
    assert subprocess.run([ruff, "check", "--quiet", *settings, str(script)]).returncode == 0


def run_script(source: str, tmp_path, *args: str) -> str:
    script = tmp_path / "train_mnist.py"
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_exported_mlp_trains_for_a_short_epoch(data_dir, tmp_path):
    source = export_script(*get_preset("seed-mlp-128").fresh())
    out = run_script(source, tmp_path, "--epochs", "1", "--limit", "2000", "--data", str(data_dir))
    losses = [float(x) for x in re.findall(r"Loss: ([0-9.]+)", out)]
    correct, total = map(int, re.search(r"Accuracy: (\d+)/(\d+)", out).groups())
    assert total == 10000
    assert losses[-1] < losses[0]
    assert correct / total > 0.5


def test_the_exported_3_vs_7_neuron_trains_by_full_batch_gradient_descent(data_dir, tmp_path):
    source = export_script(*get_preset("seed-3v7").fresh())
    out = run_script(
        source, tmp_path, "--iterations", "200", "--limit", "2000", "--data", str(data_dir)
    )
    losses = [float(x) for x in re.findall(r"Loss: ([0-9.]+)", out)]
    correct, total = map(int, re.search(r"Accuracy: (\d+)/(\d+)", out).groups())
    assert total == 1010 + 1028  # the test set's 3s and 7s
    assert losses[-1] < losses[0]
    assert correct / total > 0.5
