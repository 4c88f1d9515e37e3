"""What a task is, before any digit is loaded: which digits (classes), how many examples its
training and validation splits get, and how pixels are normalised. A leaf: no files, no torch."""

from __future__ import annotations

import numbers

from core.spec.quote import quoted

ALL_DIGITS: tuple[int, ...] = tuple(range(10))

# (mean, std) applied after scaling pixels to [0, 1]
NORMALIZATIONS: dict[str, tuple[float, float]] = {
    "none": (0.0, 1.0),
    "mnist": (0.1307, 0.3081),
    "half": (0.5, 0.5),
}


def validate_classes(classes: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Return the digits sorted and de-duplicated, or raise ValueError naming the field."""
    allowed = "choose at least two distinct digits from 0 to 9"
    if not isinstance(classes, (list, tuple)) or not all(
        isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in classes
    ):
        raise ValueError(f"classes: {quoted(classes)} is not a list of digits; {allowed}")
    digits = tuple(sorted({int(c) for c in classes}))
    if any(d < 0 or d > 9 for d in digits):
        raise ValueError(f"classes: {list(classes)} is not allowed; {allowed}")
    if len(digits) < 2:
        # one digit is not a classification task: every answer would be right
        count = "only one digit" if digits else "no digits"
        raise ValueError(f"classes: {list(classes)} has {count}; {allowed}")
    return digits


# Examples of each digit 0-9 in MNIST's training set: fixed by the dataset (its files are
# checked against their SHA-256), so a task's size is known before the data is loaded.
MNIST_TRAIN_COUNTS: tuple[int, ...] = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)


def split_counts(pool: int, train_fraction: float, val_fraction: float) -> tuple[int, int]:
    """Return (training, validation) sizes carved out of pool training examples."""
    n_val = int(round(pool * val_fraction))
    n_train = max(1, int(round((pool - n_val) * train_fraction)))
    return n_train, n_val


def split_sizes(
    classes: tuple[int, ...] | list[int] = ALL_DIGITS,
    train_fraction: float = 1.0,
    val_fraction: float = 1 / 12,
) -> tuple[int, int]:
    """Return (training, validation) sizes of a task without loading MNIST, as make_task splits it."""
    digits = validate_classes(classes)
    return split_counts(sum(MNIST_TRAIN_COUNTS[d] for d in digits), train_fraction, val_fraction)
