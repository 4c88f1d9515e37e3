"""The Build page's "PyTorch code": a standalone training script equivalent to a spec and config.

The script has the shape of pytorch/examples mnist/main.py (a Net class, train and test
functions, main with argparse) and imports nothing from Digit Lab, so it runs anywhere that
has torch and torchvision. Differences from the app's trainer, on purpose: it trains on the
whole training set (no validation split) and reads images through torchvision's DataLoader.
"""

from __future__ import annotations

import math
from string import Template

from core.data.augment import AugmentConfig
from core.data.datasets import get_dataset
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, flat_features
from core.spec.task import MNIST_TRAIN_COUNTS, NORMALIZATIONS

ACTIVATION_CALLS = {
    "relu": "F.relu({})",
    "leaky_relu": "F.leaky_relu({})",
    "gelu": "F.gelu({})",
    "elu": "F.elu({})",
    "tanh": "torch.tanh({})",
    "sigmoid": "torch.sigmoid({})",
    "identity": "{}",
}
# PyTorch's own defaults, which are also TrainConfig's: the exported call names them only if changed
DEFAULT_BETAS = (TrainConfig.beta1, TrainConfig.beta2)
HEAD_CALLS = {
    "logits": "{}",
    "log_softmax": "F.log_softmax({}, dim=1)",
    "softmax": "F.softmax({}, dim=1)",
    "sigmoid": "torch.sigmoid({})",
}


def _conv_lines(index: int, layer: ConvLayer, in_channels: int) -> tuple[list[str], list[str]]:
    """Return (__init__ lines, forward lines) for one convolution block."""
    name = f"conv{index}"
    if layer.padding == "valid":
        padding = "0"
    elif layer.kernel % 2 == 0:
        padding = '"same"'
    else:
        padding = str(layer.kernel // 2)
    if layer.separable:  # depthwise (one filter per input channel), then a 1×1 mix
        init = [
            f"self.{name}_depthwise = nn.Conv2d({in_channels}, {in_channels}, {layer.kernel}, "
            f"padding={padding}, groups={in_channels}, bias=False)",
            f"self.{name} = nn.Conv2d({in_channels}, {layer.channels}, 1)",
        ]
    else:
        init = [
            f"self.{name} = nn.Conv2d({in_channels}, {layer.channels}, {layer.kernel}, padding={padding})"
        ]
    norm, activation, pool = [], [], []
    if layer.batch_norm:
        init.append(f"self.{name}_bn = nn.BatchNorm2d({layer.channels})")
        norm = [f"x = self.{name}_bn(x)"]
    if layer.activation != "identity":
        activation = ["x = " + ACTIVATION_CALLS[layer.activation].format("x")]
    if layer.pool != "none":
        pool = [f"x = F.{layer.pool}_pool2d(x, 2)"]
    forward = [f"x = self.{name}_depthwise(x)"] if layer.separable else []
    forward.append(f"x = self.{name}(x)")
    forward += pool + activation + norm if layer.pool_first else norm + activation + pool
    if layer.dropout > 0:
        init.append(f"self.{name}_dropout = nn.Dropout2d({layer.dropout:g})")
        forward.append(f"x = self.{name}_dropout(x)")
    return init, forward


def _dense_lines(index: int, layer: DenseLayer, in_features: int) -> tuple[list[str], list[str]]:
    """Return (__init__ lines, forward lines) for one hidden dense block."""
    name = f"fc{index}"
    init = [f"self.{name} = nn.Linear({in_features}, {layer.width})"]
    forward = [f"x = self.{name}(x)"]
    if layer.batch_norm:
        init.append(f"self.{name}_bn = nn.BatchNorm1d({layer.width})")
        forward.append(f"x = self.{name}_bn(x)")
    if layer.activation != "identity":
        forward.append("x = " + ACTIVATION_CALLS[layer.activation].format("x"))
    if layer.dropout > 0:
        init.append(f"self.{name}_dropout = nn.Dropout({layer.dropout:g})")
        forward.append(f"x = self.{name}_dropout(x)")
    return init, forward


def net_source(spec: ModelSpec) -> str:
    """Return the source of a `Net(nn.Module)` class with the spec's layers written out."""
    spec.validate()
    init: list[str] = []
    forward: list[str] = []
    channels = 1
    for i, layer in enumerate(spec.conv, start=1):
        lines = _conv_lines(i, layer, channels)
        init += lines[0]
        forward += lines[1]
        channels = layer.channels
    if spec.global_pool:
        forward.append("x = x.mean(dim=(2, 3))  # global average pooling: one number per channel")
    else:
        forward.append("x = torch.flatten(x, 1)")
    features = flat_features(spec)
    for i, layer in enumerate(spec.dense, start=1):
        lines = _dense_lines(i, layer, features)
        init += lines[0]
        forward += lines[1]
        features = layer.width
    init.append(f"self.out = nn.Linear({features}, {spec.outputs})")
    forward.append("x = self.out(x)")
    forward.append("return " + HEAD_CALLS[spec.output].format("x"))
    if spec.init == "randn":
        init += [
            "# every weight and bias drawn from a standard normal, as in the from-scratch tutorial",
            "for parameter in self.parameters():",
            "    nn.init.normal_(parameter, 0.0, 1.0)",
        ]
    body = "\n".join(f"        {line}" for line in init)
    steps = "\n".join(f"        {line}" for line in forward)
    return (
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"{body}\n\n"
        "    def forward(self, x):\n"
        f"{steps}\n"
    )


def _loss_source(spec: ModelSpec, config: TrainConfig) -> str:
    if config.loss == "cross_entropy":
        body = "return F.cross_entropy(output, target)"
    elif config.loss == "nll":
        body = "return F.nll_loss(output, target)"
    elif spec.outputs == 1:
        body = (
            "# one output scores the first digit: target 1 for it, 0 for the other\n"
            "    return F.mse_loss(output[:, 0], (target == 0).float())"
        )
    else:
        body = f"return F.mse_loss(output, F.one_hot(target, {spec.outputs}).float())"
    predict = (
        "return (output[:, 0] < 0.5).long()  # a high score means the first digit"
        if spec.outputs == 1
        else "return output.argmax(dim=1)"
    )
    return (
        f"def loss_fn(output, target):\n    {body}\n\n\n"
        f"def predicted_class(output):\n    {predict}\n"
    )


def _elastic_alpha(augment: AugmentConfig) -> float:
    """Return torchvision's ElasticTransform alpha giving about elastic_alpha pixels of motion."""
    # torchvision blurs uniform noise in [-1, 1] and moves pixels by blurred * alpha / 2; the
    # blurred noise's mean magnitude is about 0.8 * 0.577 / (2 * sqrt(pi) * sigma)
    mean_blurred = 0.8 * 0.577 / (2 * math.sqrt(math.pi) * augment.elastic_sigma)
    return 2 * augment.elastic_alpha / mean_blurred


def _transforms_source(config: TrainConfig) -> tuple[list[str], bool]:
    """Return main's lines that build test_transform (and train_transform when augmenting)."""
    mean, std = NORMALIZATIONS[config.normalization]
    lines, tail = [], ["transforms.ToTensor()"]
    if config.normalization != "none":
        lines.append(f"normalize = transforms.Normalize(({mean},), ({std},))")
        tail.append("normalize")
    lines.append("test_transform = transforms.Compose([" + ", ".join(tail) + "])")
    augment = config.augment
    if not augment.enabled:
        return lines, False
    arguments = (
        f"degrees={augment.rotation:g}, translate=({augment.shift:g}, {augment.shift:g}), "
        f"scale=({1 - augment.scale:g}, {1 + augment.scale:g}), shear={augment.shear:g}"
    )
    one_line = f"transforms.RandomAffine({arguments}),"
    # ruff's layout: one line when it fits in 100 columns after the list's 12-space indent
    if len(one_line) <= 100 - 12:
        steps = [one_line]
    else:
        steps = ["transforms.RandomAffine(", f"    {arguments}", "),"]
    steps.append("transforms.ToTensor(),")
    if augment.elastic and augment.elastic_alpha > 0:
        steps.append(
            f"transforms.ElasticTransform(alpha={float(round(_elastic_alpha(augment)))!r}, "
            f"sigma={float(augment.elastic_sigma)!r}),"
        )
    if augment.thickness > 0:
        steps.append("transforms.Lambda(random_thickness),")
    steps += [f"{step}," for step in tail[1:]]
    lines += ["train_transform = transforms.Compose(", "    ["]
    lines += [f"        {step}" for step in steps]
    lines += ["    ]", ")"]
    return lines, True


THICKNESS_SOURCE = '''

def random_thickness(image):
    """Thicken or thin the strokes of a (1, 28, 28) image, each with probability {half:g}."""
    choice = torch.rand(()).item()
    if choice < {half:g}:
        return 0.5 * (image + F.max_pool2d(image, 3, stride=1, padding=1))
    if choice < {probability:g}:
        return -F.max_pool2d(-image, 3, stride=1, padding=1)
    return image
'''


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


def _default_limit(config: TrainConfig) -> int | None:
    # MNIST's per-digit training counts turn train_fraction into the script's --limit
    if config.train_fraction >= 1.0:
        return None
    # Fashion-MNIST has 6,000 training images of every class
    counts = MNIST_TRAIN_COUNTS if config.dataset == "mnist" else (6000,) * 10
    pool = sum(counts[d] for d in config.classes)
    return max(1, round(pool * (1 - config.val_fraction) * config.train_fraction))


def export_script(spec: ModelSpec, config: TrainConfig) -> str:
    """Return a self-contained, runnable PyTorch training script for this network and config."""
    spec.validate()
    config.validate()
    subset = list(config.classes) != list(range(10))
    by_steps = config.iterations > 0
    schedule = _schedule_source(config)
    transform_lines, augmenting = _transforms_source(config)
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
    limit = _default_limit(config)
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
    parts.append("\n\n" + net_source(spec) + "\n\n" + _loss_source(spec, config))
    if config.augment.enabled and config.augment.thickness > 0:
        p = config.augment.thickness
        parts.append(THICKNESS_SOURCE.format(half=p / 2, probability=p))
    parts.append(_data_source(subset, dataset.folder))
    parts.append(_train_source(by_steps, schedule is not None))
    parts.append(TEST_SOURCE)
    parts.append(_main_source(config, by_steps, schedule, transform_lines, augmenting, limit))
    return "".join(parts)


def _data_source(subset: bool, torchvision_class: str = "MNIST") -> str:
    select = (
        "    # keep the chosen digits only, relabelled 0..k-1 in the order of DIGITS\n"
        "    keep = torch.isin(dataset.targets, torch.tensor(DIGITS))\n"
        "    relabel = torch.full((10,), -1, dtype=torch.long)\n"
        "    relabel[DIGITS] = torch.arange(len(DIGITS))\n"
        "    dataset.data, dataset.targets = dataset.data[keep], relabel[dataset.targets[keep]]\n"
        if subset
        else ""
    )
    return (
        "\n\ndef load_mnist(root, train, transform, limit=None):\n"
        f"    dataset = datasets.{torchvision_class}(root, train=train, download=True, transform=transform)\n"
        f"{select}"
        "    if limit:\n"
        "        dataset.data, dataset.targets = dataset.data[:limit], dataset.targets[:limit]\n"
        "    return dataset\n"
    )


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

WHOLE_SET_LOADER = """\
    batch_size = args.batch_size or len(train_set)
    if batch_size == len(train_set):
        # one batch, the whole set: load it once and keep it on the device
        whole = torch.utils.data.DataLoader(train_set, batch_size=batch_size)
        train_loader = [tuple(t.to(device) for t in next(iter(whole)))]
    else:
        train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True)
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


def _loader_source(config: TrainConfig) -> str:
    if config.full_batch and not config.augment.enabled:
        return WHOLE_SET_LOADER
    first = "    batch_size = args.batch_size or len(train_set)\n" if config.full_batch else ""
    size = "batch_size" if config.full_batch else "args.batch_size"
    loader = (
        f"train_loader = torch.utils.data.DataLoader(train_set, batch_size={size}, shuffle=True)"
    )
    return f"{first}    {loader}\n"


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
        loader=_loader_source(config),
        optimizer=_optimizer_source(config),
        training=_training_source(by_steps, schedule),
    )
