"""python -m core bench: this trainer against the tutorial pipeline, and time to target accuracy."""

from __future__ import annotations

import importlib
import json
import platform
import statistics
import sys
import time

import torch
from torch import nn

from core.data.mnist import Task, load_mnist, make_task, resolve_data_dir
from core.spec.compute import matmul_peak_gflops, training_flops
from core.spec.models import build, multiply_adds, parameter_count
from core.spec.presets import PRESETS, get_preset
from core.train.device import device_label, resolve_device
from core.train.engines import LEAN_STEP, PLAIN_STEP, StepSettings, loss_fn, make_optimizer
from core.train.run import attach_standard_callbacks, run_guarded, train
from core.train.trainer import Trainer


class TutorialNet(nn.Module):
    """The tutorial's 784→128→128→10 ReLU network, written the way the tutorial writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 128), nn.Linear(128, 128), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def tutorial_seconds_per_epoch(data_dir, device: torch.device) -> float:
    """Return one epoch's seconds for the tutorial pipeline: MNIST + ToTensor + DataLoader(64)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(
        str(data_dir), train=True, download=False, transform=transforms.ToTensor()
    )
    loader = DataLoader(dataset, batch_size=64, shuffle=True)
    torch.manual_seed(0)
    model = TutorialNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def _full_training_set(mnist, classes=tuple(range(10))) -> Task:
    return make_task(mnist, classes, 1.0, 0.0)


def trainer_seconds_per_epoch(
    mnist, batch_size: int, device: str, epochs: int = 2
) -> tuple[float, float]:
    """Return (seconds per epoch, samples per second) of seed-mlp-128 on all 60,000 digits."""
    spec, config = get_preset("seed-mlp-128").fresh()
    config.batch_size, config.epochs, config.device, config.val_fraction = (
        batch_size,
        epochs,
        device,
        0.0,
    )
    result = train(spec, config, _full_training_set(mnist))
    seconds = min(e.seconds for e in result.epochs)  # the first epoch includes one-off warm-up
    return seconds, 60000 / seconds


def time_to_accuracy(mnist, preset: str, target: float, device: str) -> dict:
    """Train a preset, scoring the test set after every epoch; return when it first reached target."""
    spec, config = get_preset(preset).fresh()
    config.device = device
    task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
    # the trainer validates on Task.val after each epoch: point it at the test set to watch it
    watched = Task(task.classes, task.train, task.test, task.test)
    result = train(spec, config, watched)
    elapsed, reached = 0.0, None
    for epoch in result.epochs:
        elapsed += epoch.seconds
        if reached is None and epoch.val_accuracy >= target:
            reached = elapsed
    return {
        "preset": preset,
        "target": target,
        "seconds_to_target": reached,
        "epochs": len(result.epochs),
        "final_test_accuracy": result.test_accuracy,
        "total_seconds": elapsed,
        "per_epoch_test_accuracy": [round(e.val_accuracy, 4) for e in result.epochs],
    }


def preset_costs(mnist, names: list[str], device: str) -> tuple[float, list[dict]]:
    """Train each preset once as it is set; return the matmul peak and each one's cost and rate.

    Achieved GFLOP/s is the run's training FLOPs (core.spec.compute) over its training seconds; its
    share of the measured matrix-multiply peak says how much of the machine the step uses
    (nanoGPT's model-FLOPs utilisation).
    """
    resolved = resolve_device(device)
    peak = matmul_peak_gflops(resolved)
    rows = []
    for name in names:
        spec, config = get_preset(name).fresh()
        config.device = device
        task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
        trainer = Trainer(spec, config, task)
        attach_standard_callbacks(trainer, probes=False)
        result = run_guarded(trainer)
        macs = multiply_adds(spec)
        flops = training_flops(macs, trainer.samples_seen)
        rows.append(
            {
                "preset": name,
                "test_accuracy": result.test_accuracy,
                "parameters": parameter_count(spec),
                "multiply_adds": macs,
                "training_flops": flops,
                "seconds": result.seconds,
                "gflops_per_second": flops / result.seconds / 1e9,
                "share_of_peak": flops / result.seconds / 1e9 / peak,
                # honest confidence (core.analysis.calibration): its temperature, and the
                # calibration error on the test set before and after it
                **result.calibration,
            }
        )
        print(f"{name}: {result.test_accuracy:.2%} in {result.seconds:.1f} s", file=sys.stderr)
    return peak, rows


def run_preset_costs(args) -> int:
    """Print the presets' accuracy, size, FLOPs, seconds and GFLOP/s as a table, JSON last."""
    names = args.presets.split(",") if args.presets and args.presets != "all" else list(PRESETS)
    for name in names:
        get_preset(name)  # an unknown name is refused before anything trains
    mnist = load_mnist(resolve_data_dir(args.data))
    peak, rows = preset_costs(mnist, names, args.device)
    device = device_label(resolve_device(args.device))
    print(
        f"Presets on {device}, {torch.get_num_threads()} threads; measured fp32 matmul peak "
        f"{peak:.0f} GFLOP/s\n"
    )
    print(
        "| preset | test accuracy | parameters | multiply-adds / digit | training FLOPs "
        "| seconds | GFLOP/s | share of peak | temperature (fit on) | calibration error before → after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['test_accuracy']:.2%} | {r['parameters']:,} | "
            f"{r['multiply_adds']:,} | {r['training_flops']:.2e} | {r['seconds']:.1f} | "
            f"{r['gflops_per_second']:.1f} | {r['share_of_peak']:.1%} | "
            f"{r.get('temperature', 1.0):.2f} ({r.get('calibrated_on', '-')}) | "
            f"{r.get('ece_before', float('nan')):.2%} → {r.get('ece_after', float('nan')):.2%} |"
        )
    print(json.dumps({"device": device, "matmul_peak_gflops": peak, "presets": rows}))
    return 0


STEP_PRESETS = ("seed-mlp-128", "speedrun")
LOSS_STEPS_COMPARED = 100  # the first steps, where float reordering has not compounded yet


def _timed_run(mnist, preset: str, step: StepSettings, device: str):
    spec, config = get_preset(preset).fresh()
    config.device = device
    if preset == "seed-mlp-128":
        config.epochs = 2  # the first epoch includes one-off warm-up: the faster one counts
    task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
    trainer = attach_standard_callbacks(Trainer(spec, config, task, step=step), probes=True)
    result = run_guarded(trainer)
    seconds = min(e.seconds for e in result.epochs) if preset == "seed-mlp-128" else result.seconds
    return seconds, result


def step_comparison(mnist, device: str, rounds: int) -> list[dict]:
    """Time each step preset the plain way and the lean way, alternating; compare their losses."""
    rows = []
    for preset in STEP_PRESETS:
        times: dict[str, list[float]] = {"plain": [], "lean": []}
        results = {}
        for _ in range(rounds):
            for label, step in (("plain", PLAIN_STEP), ("lean", LEAN_STEP)):
                seconds, results[label] = _timed_run(mnist, preset, step, device)
                times[label].append(seconds)
        plain, lean = (statistics.median(times[k]) for k in ("plain", "lean"))
        first = [
            abs(a.loss - b.loss)
            for a, b in zip(results["plain"].steps, results["lean"].steps, strict=False)
        ][:LOSS_STEPS_COMPARED]
        rows.append(
            {
                "preset": preset,
                "what": "seconds per epoch" if preset == "seed-mlp-128" else "seconds of training",
                "plain": plain,
                "lean": lean,
                "ratio": lean / plain,
                "rounds": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
                "max_loss_difference_first_steps": max(first),
                "plain_test_accuracy": results["plain"].test_accuracy,
                "lean_test_accuracy": results["lean"].test_accuracy,
            }
        )
    return rows


def compiled_step_seconds(steps: int = 400) -> dict:
    """Return seed-mlp-128's bare step (batch 64) eager and under torch.compile, and the compile time."""
    spec, config = get_preset("seed-mlp-128").fresh()
    images, labels = torch.randn(steps * 64, 1, 28, 28), torch.randint(0, 10, (steps * 64,))

    def seconds_per_step(model) -> float:
        optimizer = make_optimizer(model, config, fused=True)
        started = time.perf_counter()
        for start in range(0, steps * 64, 64):
            loss = loss_fn(
                model(images[start : start + 64]), labels[start : start + 64], "cross_entropy", 10
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - started) / steps

    eager = build(spec)
    seconds_per_step(eager)  # warm-up
    compiled = torch.compile(build(spec))
    started = time.perf_counter()
    seconds_per_step(compiled)  # compiles on its first step
    first = time.perf_counter() - started
    return {
        "eager_ms_per_step": 1000 * seconds_per_step(eager),
        "compiled_ms_per_step": 1000 * seconds_per_step(compiled),
        "first_compiled_pass_seconds": first,
    }


def run_step_bench(args) -> int:
    """Print the lean step against the plain one (and torch.compile with --compile), JSON last."""
    mnist = load_mnist(resolve_data_dir(args.data))
    args.repeat = args.repeat or 3
    rows = step_comparison(mnist, args.device, args.repeat)
    print(
        f"Training step, plain (for-loop optimizer, whole-set shuffle copy, default layout) "
        f"against lean, median of {args.repeat} alternating rounds, "
        f"{torch.get_num_threads()} threads\n"
    )
    print(
        "| preset | measured | plain | lean | lean / plain | max loss difference, first 100 steps | test accuracy plain / lean |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['what']} | {r['plain']:.2f} | {r['lean']:.2f} | {r['ratio']:.2f} | "
            f"{r['max_loss_difference_first_steps']:.1e} | {r['plain_test_accuracy']:.2%} / {r['lean_test_accuracy']:.2%} |"
        )
    report: dict = {"threads": torch.get_num_threads(), "step": rows}
    if args.compile:
        report["compile"] = compiled = compiled_step_seconds()
        print(
            f"\nseed-mlp-128 bare step: eager {compiled['eager_ms_per_step']:.2f} ms, "
            f"torch.compile {compiled['compiled_ms_per_step']:.2f} ms, after a first pass of "
            f"{compiled['first_compiled_pass_seconds']:.1f} s"
        )
    print(json.dumps(report))
    return 0


def _fmt(value, unit: str = "", digits: int = 2) -> str:
    return "not reached" if value is None else f"{value:.{digits}f}{unit}"


# bench's switches, each to the module and function of its benchmark (imported when asked for:
# some need a browser or Ray), in the order they are looked at
OTHER_BENCHES = (
    ("app", "core.bench.app", "run_app_bench"),
    ("browser", "core.bench.browser", "run_browser_bench"),
    ("step", "core.bench.pipeline", "run_step_bench"),
    ("switches", "core.bench.switches", "run_switch_bench"),
    ("novelty", "core.bench.novelty", "run_novelty_bench"),
    ("room", "core.bench.room", "run_room_bench"),
    ("onnx", "core.bench.onnx", "run_onnx_bench"),
    ("teach", "core.bench.teach", "run_teach_bench"),
    ("overhead", "core.bench.overhead", "run_overhead_bench"),
    ("executors", "core.bench.executors", "run_executor_bench"),
    ("presets", "core.bench.pipeline", "run_preset_costs"),
    ("optdigits", "core.draw.optdigits", "run_optdigits_cli"),
    ("drawings", "core.bench.drawing", "run_drawings_cli"),
)


def _other_bench(args):
    """Return the function of the benchmark a switch asks for, or None for the speed bench."""
    for switch, module, function in OTHER_BENCHES:
        if getattr(args, switch, None):
            return getattr(importlib.import_module(module), function)
    return None


def run_bench(args) -> int:
    """Run the speed benchmark, print a markdown table, and a JSON line last."""
    if (other := _other_bench(args)) is not None:
        return other(args)
    data_dir = resolve_data_dir(args.data)
    mnist = load_mnist(data_dir)
    device = resolve_device(args.device)
    name = device_label(device)
    print(
        f"Digit Lab bench on {name}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    results: dict = {"device": name, "threads": torch.get_num_threads(), "torch": torch.__version__}
    tutorial = tutorial_seconds_per_epoch(data_dir, device)
    ours, _ = trainer_seconds_per_epoch(mnist, 64, args.device)
    _, rate_512 = trainer_seconds_per_epoch(mnist, 512, args.device)
    results.update(
        tutorial_seconds_per_epoch=tutorial,
        trainer_seconds_per_epoch=ours,
        speedup=tutorial / ours,
        samples_per_second_batch_512=rate_512,
    )
    rows = [
        (
            "seed-mlp-128, batch 64: tutorial pipeline (DataLoader + ToTensor)",
            _fmt(tutorial, " s/epoch"),
        ),
        ("seed-mlp-128, batch 64: Digit Lab trainer", _fmt(ours, " s/epoch")),
        ("speed-up at batch 64", _fmt(tutorial / ours, "×", 1)),
        ("seed-mlp-128, batch 512: Digit Lab trainer", f"{rate_512:,.0f} samples/s"),
    ]
    if not args.quick:
        for preset, target in (("best-mlp", 0.98), ("small-cnn", 0.992)):
            reached = time_to_accuracy(mnist, preset, target, args.device)
            results[f"{preset}_to_{target}"] = reached
            rows.append(
                (
                    f"{preset}: time to {target:.1%} test accuracy",
                    _fmt(reached["seconds_to_target"], " s", 1)
                    + f" (final {reached['final_test_accuracy']:.2%} after {reached['epochs']} epochs)",
                )
            )
    print("\n| measurement | result |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    print(json.dumps(results))
    return 0
