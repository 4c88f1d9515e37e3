"""python -m core bench --onnx: every preset, and every layer and head the builder offers, as
ONNX, read by ONNX Runtime on all the test digits against PyTorch.

Each network trains briefly first (40 steps on a twentieth of MNIST: enough for batch norm's
statistics and the weights to be a trained network's, not the initial ones), through the
trainer and the job registry like any run; then it is exported (core.export.onnx) and checked
(core.export.onnx_check): the same predicted class on every digit, and the largest probability
difference below 1e-4.
"""

from __future__ import annotations

import json
import tempfile
import time

from core.export.onnx import onnx_bytes
from core.export.onnx_check import MAX_DIFFERENCE, check_on_test_set
from core.runs.store import load_run
from core.spec.models import ACTIVATIONS, ConvLayer, DenseLayer, ModelSpec, parameter_count
from core.spec.presets import PRESETS, get_preset

STEPS = 40


def cases() -> list[tuple[str, ModelSpec, object]]:
    """Return (name, spec, config) for every preset, and networks that use what presets do not:
    every activation, the softmax head, average pooling, and the scratch engine."""
    found = []
    for name in PRESETS:
        spec, config = get_preset(name).fresh()
        found.append((name, spec, config))
    _, config = get_preset("seed-mlp-128").fresh()
    _, mse = get_preset("seed-mlp-128").fresh()
    mse.loss = "mse"  # a softmax head trains with MSE only (core.spec.compatible)
    every_activation = ModelSpec(
        dense=[DenseLayer(24, activation=a, dropout=0.1) for a in ACTIVATIONS], output="softmax"
    )
    found.append(("every activation, softmax head", every_activation, mse))
    conv = ModelSpec(
        conv=[ConvLayer(8, 3, pool="avg", activation=a, batch_norm=True) for a in ("gelu", "elu")],
        dense=[DenseLayer(32, activation="leaky_relu", batch_norm=True)],
    )
    found.append(("convolutions, average pooling", conv, config))
    _, scratch = get_preset("seed-mlp-128").fresh()
    scratch.engine, scratch.optimizer, scratch.schedule = "scratch", "sgd", "constant"
    scratch.lr = 0.1
    found.append(("scratch engine", ModelSpec(dense=[DenseLayer(64)]), scratch))
    return found


def train_briefly(spec, config, name: str, runs_dir: str, data_dir) -> str:
    """Train spec for STEPS steps through the job registry; return the run's folder."""
    from core.train.jobs import JobRegistry

    config.iterations, config.train_fraction, config.epochs = STEPS, 0.05, 1
    config.full_batch = False
    config.augment.enabled = False
    registry = JobRegistry(executor="thread")
    job = registry.submit(spec, config, name=name, data_dir=data_dir, runs_dir=runs_dir)
    if not job.wait(600) or job.state != "finished":
        raise RuntimeError(f"{name} did not train: {job.error}")
    return str(job.run_dir)


def run_onnx_bench(args) -> int:
    """Export and check every case; print a table and a JSON line last; 1 if any differs."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="digitlab-onnx-") as runs:
        for label, spec, config in cases():
            name = label.split(",")[0].replace(" ", "-")[:40]
            run = load_run(train_briefly(spec, config, name, runs, args.data))
            started = time.perf_counter()
            data = onnx_bytes(run)
            seconds = time.perf_counter() - started
            check = check_on_test_set(run, data, args.data)
            rows.append({
                "case": label, "parameters": parameter_count(spec), "mb": len(data) / 1e6,
                "export_s": seconds, "digits": check.digits,
                "disagreements": check.disagreements, "largest_difference": check.largest_difference,
                "ok": check.ok,
            })  # fmt: skip
            print(f"{label}: {check.text()}", flush=True)
    print(f"\n| network | parameters | ONNX file | export | test digits | predictions that "
          f"differ | largest probability difference (< {MAX_DIFFERENCE:g}) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['case']} | {row['parameters']:,} | {row['mb']:.2f} MB | "
            f"{row['export_s']:.1f} s | {row['digits']:,} | {row['disagreements']} | "
            f"{row['largest_difference']:.1e} |"
        )
    print(json.dumps(rows))
    return 0 if all(row["ok"] for row in rows) else 1
