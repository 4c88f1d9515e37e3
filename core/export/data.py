"""The data side of an exported script: the torchvision transforms (augmentation included),
loading the chosen digits, the training subset's size and the DataLoader.

Digit Lab's own augmentation runs on the device (core.data.augment); here it is written as the
nearest torchvision transforms, so that the script needs nothing but torch and torchvision.
"""

from __future__ import annotations

import math

from core.data.augment import AugmentConfig
from core.spec.config import TrainConfig
from core.spec.task import MNIST_TRAIN_COUNTS, NORMALIZATIONS


def _elastic_alpha(augment: AugmentConfig) -> float:
    """Return torchvision's ElasticTransform alpha giving about elastic_alpha pixels of motion."""
    # torchvision blurs uniform noise in [-1, 1] and moves pixels by blurred * alpha / 2; the
    # blurred noise's mean magnitude is about 0.8 * 0.577 / (2 * sqrt(pi) * sigma)
    mean_blurred = 0.8 * 0.577 / (2 * math.sqrt(math.pi) * augment.elastic_sigma)
    return 2 * augment.elastic_alpha / mean_blurred


def transforms_source(config: TrainConfig) -> tuple[list[str], bool]:
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


def data_source(subset: bool, torchvision_class: str = "MNIST") -> str:
    """Return the source of `load_mnist()`: the torchvision set, kept to DIGITS when a subset."""
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


def default_limit(config: TrainConfig) -> int | None:
    """Return the script's default --limit: the run's training-set size, or None for all of it."""
    # MNIST's per-digit training counts turn train_fraction into the script's --limit
    if config.train_fraction >= 1.0:
        return None
    # Fashion-MNIST has 6,000 training images of every class
    counts = MNIST_TRAIN_COUNTS if config.dataset == "mnist" else (6000,) * 10
    pool = sum(counts[d] for d in config.classes)
    return max(1, round(pool * (1 - config.val_fraction) * config.train_fraction))


WHOLE_SET_LOADER = """\
    batch_size = args.batch_size or len(train_set)
    if batch_size == len(train_set):
        # one batch, the whole set: load it once and keep it on the device
        whole = torch.utils.data.DataLoader(train_set, batch_size=batch_size)
        train_loader = [tuple(t.to(device) for t in next(iter(whole)))]
    else:
        train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True)
"""


def loader_source(config: TrainConfig) -> str:
    """Return main's lines that build train_loader at the run's batch size."""
    if config.full_batch and not config.augment.enabled:
        return WHOLE_SET_LOADER
    first = "    batch_size = args.batch_size or len(train_set)\n" if config.full_batch else ""
    size = "batch_size" if config.full_batch else "args.batch_size"
    loader = (
        f"train_loader = torch.utils.data.DataLoader(train_set, batch_size={size}, shuffle=True)"
    )
    return f"{first}    {loader}\n"
