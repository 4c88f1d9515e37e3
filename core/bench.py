"""python -m core bench: this trainer against the tutorial pipeline, and time to target accuracy."""

from __future__ import annotations

import json
import platform
import time

import torch
from torch import nn

from core.data import Task, load_mnist, make_task, resolve_data_dir
from core.presets import get_preset
from core.train.device import device_label, resolve_device
from core.train.run import train


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


def _fmt(value, unit: str = "", digits: int = 2) -> str:
    return "not reached" if value is None else f"{value:.{digits}f}{unit}"


def run_bench(args) -> int:
    """Run the speed benchmark, print a markdown table, and a JSON line last."""
    if getattr(args, "app", False):
        from core.appbench import run_app_bench

        return run_app_bench(args)
    if getattr(args, "drawings", False):
        from core.drawbench import run_drawings_cli

        return run_drawings_cli(args)
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
