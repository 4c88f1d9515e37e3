"""The Build page's "PyTorch code": a standalone training script equivalent to a spec and config.

The script has the shape of pytorch/examples mnist/main.py (a Net class, train and test
functions, main with argparse) and imports nothing from Digit Lab, so it runs anywhere that
has torch and torchvision. Differences from the app's trainer, on purpose: it trains on the
whole training set (no validation split) and reads images through torchvision's DataLoader.

Its Net class and loss are written by core.export.network, its transforms, data and loader by
core.export.data; this module writes the optimizer, the schedule, train, test and main around
them.
"""

from __future__ import annotations

from string import Template

from core.data.datasets import get_dataset
from core.export.data import (
    THICKNESS_SOURCE,
    data_source,
    default_limit,
    loader_source,
    transforms_source,
)
from core.export.network import loss_source, net_source
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec

# PyTorch's own defaults, which are also TrainConfig's: the exported call names them only if changed
DEFAULT_BETAS = (TrainConfig.beta1, TrainConfig.beta2)


def _optimizer_source(config: TrainConfig) -> str:
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}[config.optimizer]
    extra = ""
    if config.optimizer in ("sgd", "rmsprop") and config.momentum:
        extra += f", momentum={config.momentum:g}"
    if config.optimizer in ("adam", "adamw") and (config.beta1, config.beta2) != DEFAULT_BETAS:
        extra += f", betas=({config.beta1:g}, {config.beta2:g})"
    if config.weight_decay:
        extra += f", weight_decay={config.weight_decay:g}"
    return f"optim.{name}(model.parameters(), lr=args.lr{extra})"


def _schedule_source(config: TrainConfig) -> str | None:
    """Return the per-step scheduler expression (total_steps and steps_per_epoch in scope)."""
    if config.schedule == "constant":
        return None
    if config.schedule == "step":
        return (
            f"optim.lr_scheduler.StepLR(optimizer, step_size={config.step_epochs} * steps_per_epoch, "
            f"gamma={config.step_gamma:g})"
        )
    if config.schedule == "cosine":
        return "optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)"
    if config.cycle_momentum:
        return "optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total_steps)"
    # too long for one line: written as the formatter would, for the body's 4-space indent
    return (
        "optim.lr_scheduler.OneCycleLR(\n"
        "        optimizer, max_lr=args.lr, total_steps=total_steps, cycle_momentum=False\n"
        "    )"
    )


def export_script(spec: ModelSpec, config: TrainConfig) -> str:
    """Return a self-contained, runnable PyTorch training script for this network and config."""
    spec.validate()
    config.validate()
    subset = list(config.classes) != list(range(10))
    by_steps = config.iterations > 0
    schedule = _schedule_source(config)
    transform_lines, augmenting = transforms_source(config)
    digits = ", ".join(str(d) for d in config.classes)
    dataset = get_dataset(config.dataset)
    if dataset.name == "mnist":
        what = f"digits {digits}" if subset else "all ten digits"
    else:
        what = ", ".join(dataset.labels(config.classes)) if subset else "all ten classes"
    mine = (
        f"Your own digits (the set {config.my_digits!r}) trained with it in Digit Lab;\n"
        "this script uses MNIST alone.\n"
        if config.my_digits
        else ""
    )
    if config.augment.enabled and (config.augment.bold or config.augment.serif):
        mine += (
            "Digit Lab's bold-stroke and flagged-1 augmentations are not part of this script,\n"
            "so it trains with the other distortions only.\n"
        )
    limit = default_limit(config)
    batch = "full batch" if config.full_batch else f"batch {config.batch_size}"
    length = f"{config.iterations} steps" if by_steps else f"{config.epochs} epochs"
    parts = [
        f'"""Train a network on {dataset.title} ({what}): {config.optimizer}, lr {config.lr:g}, '
        f"{batch}, {length}.\n\nExported from Digit Lab. Run: python train_mnist.py --help\n{mine}"
        '"""\n\n'
        "import argparse\n\n"
        "import torch\n"
        "import torch.nn as nn\n"
        "import torch.nn.functional as F\n"
        "import torch.optim as optim\n"
        "from torchvision import datasets, transforms\n"
    ]
    if subset:
        parts.append(f"\nDIGITS = [{digits}]  # output i means digit DIGITS[i]\n")
    parts.append("\n\n" + net_source(spec) + "\n\n" + loss_source(spec, config))
    if config.augment.enabled and config.augment.thickness > 0:
        p = config.augment.thickness
        parts.append(THICKNESS_SOURCE.format(half=p / 2, probability=p))
    parts.append(data_source(subset, dataset.folder))
    parts.append(_train_source(by_steps, schedule is not None))
    parts.append(TEST_SOURCE)
    parts.append(_main_source(config, by_steps, schedule, transform_lines, augmenting, limit))
    return "".join(parts)


def _train_source(by_steps: bool, scheduled: bool) -> str:
    scheduler_arg = ", scheduler" if scheduled else ""
    scheduler_step = "        scheduler.step()\n" if scheduled else ""
    if by_steps:
        return (
            f"\n\ndef train(model, device, train_loader, optimizer{scheduler_arg}, steps, log_interval):\n"
            "    model.train()\n"
            "    step = 0\n"
            "    while step < steps:\n"
            "        for data, target in train_loader:\n"
            "            data, target = data.to(device), target.to(device)\n"
            "            optimizer.zero_grad()\n"
            "            loss = loss_fn(model(data), target)\n"
            "            loss.backward()\n"
            "            optimizer.step()\n"
            + scheduler_step.replace("        ", "            ", 1)
            + "            step += 1\n"
            "            if step == 1 or step % log_interval == 0 or step == steps:\n"
            '                print(f"Train step: {step}/{steps}\\tLoss: {loss.item():.6f}")\n'
            "            if step == steps:\n"
            "                return\n"
        )
    return (
        f"\n\ndef train(model, device, train_loader, optimizer{scheduler_arg}, epoch, log_interval):\n"
        "    model.train()\n"
        "    for batch_idx, (data, target) in enumerate(train_loader):\n"
        "        data, target = data.to(device), target.to(device)\n"
        "        optimizer.zero_grad()\n"
        "        loss = loss_fn(model(data), target)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        f"{scheduler_step}"
        "        if batch_idx % log_interval == 0 or batch_idx == len(train_loader) - 1:\n"
        "            print(\n"
        '                f"Train Epoch: {epoch} [{batch_idx + 1}/{len(train_loader)} batches]"\n'
        '                f"\\tLoss: {loss.item():.6f}"\n'
        "            )\n"
    )


TEST_SOURCE = """

def test(model, device, test_loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += loss_fn(output, target).item() * len(data)
            correct += (predicted_class(output) == target).sum().item()
    n = len(test_loader.dataset)
    print(
        f"\\nTest set: Average loss: {test_loss / n:.4f}, "
        f"Accuracy: {correct}/{n} ({100.0 * correct / n:.2f}%)\\n"
    )
    return correct / n
"""


MAIN_TEMPLATE = """

def main():
    parser = argparse.ArgumentParser(description="Digit Lab export: MNIST")
    parser.add_argument("--batch-size", type=int, default=$batch_default$batch_help)
$length_args    parser.add_argument("--lr", type=float, default=$lr)
    parser.add_argument("--seed", type=int, default=$seed)
    parser.add_argument("--data", default="./data", help="MNIST folder (downloaded if missing)")
    parser.add_argument("--limit", type=int, default=$limit, help="train on the first N images only")
    parser.add_argument("--log-interval", type=int, default=$log_default)
    parser.add_argument("--save-model", action="store_true")
    args = parser.parse_args()

    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    torch.manual_seed(args.seed)

$transforms    train_set = load_mnist(args.data, True, $train_transform, args.limit)
    test_set = load_mnist(args.data, False, test_transform)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
$loader
    model = Net().to(device)
    optimizer = $optimizer
$training
    if args.save_model:
        torch.save(model.state_dict(), "mnist_net.pt")


if __name__ == "__main__":
    main()
"""


def _length_args(config: TrainConfig, by_steps: bool) -> str:
    if not by_steps:
        return f'    parser.add_argument("--epochs", type=int, default={config.epochs})\n'
    # --epochs is accepted too, as a number of passes over the training set
    return (
        f'    parser.add_argument("--iterations", type=int, default={config.iterations}, '
        'help="optimizer steps")\n'
        '    parser.add_argument("--epochs", type=int, help="passes instead of --iterations")\n'
    )


def _training_source(by_steps: bool, schedule: str | None) -> str:
    lines = []
    if by_steps or schedule:
        lines.append("steps_per_epoch = len(train_loader)")
    if by_steps:
        lines.append(
            "total_steps = args.epochs * steps_per_epoch if args.epochs else args.iterations"
        )
    elif schedule and "total_steps" in schedule:
        lines.append("total_steps = args.epochs * steps_per_epoch")
    if schedule:
        lines.append(f"scheduler = {schedule}")
    scheduler = ", scheduler" if schedule else ""
    if by_steps:
        call = f"train(model, device, train_loader, optimizer{scheduler}, total_steps, args.log_interval)"
        lines += [call, "test(model, device, test_loader)"]
    else:
        call = f"train(model, device, train_loader, optimizer{scheduler}, epoch, args.log_interval)"
        lines += [
            "for epoch in range(1, args.epochs + 1):",
            f"    {call}",
            "    test(model, device, test_loader)",
        ]
    return "".join(f"    {line}\n" for line in lines)


def _main_source(
    config: TrainConfig,
    by_steps: bool,
    schedule: str | None,
    transform_lines: list[str],
    augmenting: bool,
    limit: int | None,
) -> str:
    return Template(MAIN_TEMPLATE).substitute(
        batch_default="None" if config.full_batch else str(config.batch_size),
        batch_help=', help="default: the whole set"' if config.full_batch else "",
        length_args=_length_args(config, by_steps),
        lr=repr(config.lr),
        seed=config.seed,
        limit=limit,
        log_default=max(1, config.iterations // 20) if by_steps else 100,
        transforms="".join(f"    {line}\n" for line in transform_lines),
        train_transform="train_transform" if augmenting else "test_transform",
        loader=loader_source(config),
        optimizer=_optimizer_source(config),
        training=_training_source(by_steps, schedule),
    )
