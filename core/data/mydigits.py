"""My digits: named sets of digits a person drew, each kept as drawn and as the model saw it.

A set is a folder under <data dir>/my-digits/: an index.json (format version, name, and one
entry per digit: id, true label, when it was saved) and two PNGs per digit, the canvas as
drawn (grey ink on black, at most 280×280) and the 28×28 image the reader made of it. Every
file is written whole or not at all (a temporary file, then a rename), the images before the
index that names them, so a killed process leaves at worst an unlisted image, never a listed
image that is missing. Sets travel as one zip of the same files and are read back under the
rules runs follow: a size limit, no member names that escape, nothing executable.

Reading a set, its format's limits and an exported file live in core.data.digitset; this module
changes sets (under one lock) and adds a set to a task's training digits.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# the names imported as themselves are re-exported: this module is the store's public face, as
# the pages, the CLI and scripts of `core.mydigits` use it
from core.data.digitset import (
    DEFAULT_SET,
    FORMAT_VERSION,
    IMAGE_SIZE,
    INDEX_FILE,
    MAX_CANVAS_SIDE,
    MAX_DIGITS_PER_SET,
    MAX_SETS,
    DigitSet,
    InvalidDigits,
    SavedDigit,
    check_label,
    check_name,
    list_sets,
    load_set,
    read_set_file,
    set_folder,
    sets_dir,
)
from core.data.digitset import FOLDER as FOLDER
from core.data.digitset import FOLDER_ENV as FOLDER_ENV
from core.data.digitset import ID_PATTERN as ID_PATTERN
from core.data.digitset import LABELS as LABELS
from core.data.digitset import MAX_EXPORT_BYTES as MAX_EXPORT_BYTES
from core.data.digitset import MAX_INDEX_BYTES as MAX_INDEX_BYTES
from core.data.digitset import MAX_PNG_BYTES as MAX_PNG_BYTES
from core.data.digitset import export_set_bytes as export_set_bytes
from core.data.mnist import Split, Task
from core.runs.atomic import write_file
from core.runs.filelock import locked
from core.runs.uploads import MiB as MiB
from core.runs.uploads import RefusedFile as RefusedFile
from core.spec.names import MAX_NAME_LENGTH as MAX_NAME_LENGTH

LOCK_FILE = ".lock"  # beside the sets: a file, so listing the sets passes over it
_lock = threading.Lock()  # one writer at a time per process: read the index, change, write


@contextmanager
def _writing(data_dir) -> Iterator[None]:
    """Hold the lock every writer of my digits takes, in this process and across processes."""
    # Replicas of the app share one folder of sets, and every change reads an index, changes it
    # and writes it back: without a lock shared by the processes, two processes saving 25
    # digits each kept 26 (tests/test_shared_runs.py). One lock for all sets, because creating,
    # renaming and importing a set look at the others (names, the number of sets).
    with _lock, locked(sets_dir(data_dir) / LOCK_FILE):
        yield


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# --- writing -------------------------------------------------------------------------------


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _as_image(image) -> np.ndarray:
    """Return a 28×28 digit (float in [0, 1] or uint8, any leading singleton axes) as uint8."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    array = array.reshape(array.shape[-2:]) if array.size == IMAGE_SIZE**2 else array
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise InvalidDigits(f"image: shape {array.shape} is not 28×28")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(np.nan_to_num(array.astype(np.float64)) * 255), 0, 255)
    return array.astype(np.uint8)


def _as_canvas(canvas) -> np.ndarray:
    """Return a canvas (H, W) grey or (H, W, 3|4) colour as (H, W) uint8 grey."""
    array = np.asarray(canvas)
    if array.ndim == 3:
        array = array[..., :3].astype(np.float64).mean(axis=2)
    if array.ndim != 2 or max(array.shape) > MAX_CANVAS_SIDE or min(array.shape) < 1:
        raise InvalidDigits(f"canvas: shape {array.shape} is not a drawing up to {MAX_CANVAS_SIDE}")
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def _write_index(folder: Path, name: str, digits) -> None:
    index = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "digits": [d.to_dict() for d in digits],
    }
    write_file(folder / INDEX_FILE, json.dumps(index, indent=1).encode())


def create_set(name: str, data_dir: str | Path | None = None) -> DigitSet:
    """Create an empty set (or return the existing one of that name)."""
    with _writing(data_dir):
        return _create(name, data_dir)


def _create(name: str, data_dir) -> DigitSet:
    folder = set_folder(data_dir, name)
    if (folder / INDEX_FILE).is_file():
        return load_set(folder.name, data_dir)
    if len(list_sets(data_dir)) >= MAX_SETS:
        raise InvalidDigits(f"there are already {MAX_SETS} sets; delete one first")
    folder.mkdir(parents=True, exist_ok=True)
    _write_index(folder, folder.name, ())
    return DigitSet(folder.name, folder, ())


def new_digit_id(number: int) -> str:
    """Return a fresh digit id: a running number (sorts by age) and a random tail."""
    return f"d{number:05d}-{secrets.token_hex(3)}"


def save_digit(
    name: str, label: int, image, canvas=None, data_dir: str | Path | None = None
) -> SavedDigit:
    """Add one digit to the named set (made if new): its 28×28 image and, if given, its canvas."""
    label = check_label(label)
    pixels = _as_image(image)
    drawn = None if canvas is None else _as_canvas(canvas)
    with _writing(data_dir):
        digit_set = _create(name, data_dir)
        if len(digit_set) >= MAX_DIGITS_PER_SET:
            raise InvalidDigits(f"{digit_set.name} holds {MAX_DIGITS_PER_SET:,} digits, the limit")
        number = 1 + max((int(d.id[1:6]) for d in digit_set.digits), default=0)
        digit = SavedDigit(new_digit_id(number), label, _now())
        write_file(digit_set.folder / f"{digit.id}.png", _png_bytes(pixels))
        if drawn is not None:
            write_file(digit_set.folder / f"{digit.id}-canvas.png", _png_bytes(drawn))
        _write_index(digit_set.folder, digit_set.name, (*digit_set.digits, digit))
    return digit


def delete_digit(name: str, digit_id: str, data_dir: str | Path | None = None) -> None:
    """Remove one digit from a set (its index entry first, then its images)."""
    with _writing(data_dir):
        digit_set = load_set(name, data_dir)
        kept = tuple(d for d in digit_set.digits if d.id != digit_id)
        if len(kept) == len(digit_set):
            raise InvalidDigits(f"{digit_set.name} has no digit {digit_id!r}")
        _write_index(digit_set.folder, digit_set.name, kept)
        for suffix in (".png", "-canvas.png"):
            (digit_set.folder / f"{digit_id}{suffix}").unlink(missing_ok=True)


def relabel_digit(name: str, digit_id: str, label: int, data_dir: str | Path | None = None) -> None:
    """Change the true label of one digit of a set."""
    label = check_label(label)
    with _writing(data_dir):
        digit_set = load_set(name, data_dir)
        if digit_id not in {d.id for d in digit_set.digits}:
            raise InvalidDigits(f"{digit_set.name} has no digit {digit_id!r}")
        digits = tuple(
            SavedDigit(d.id, label, d.created) if d.id == digit_id else d for d in digit_set.digits
        )
        _write_index(digit_set.folder, digit_set.name, digits)


def delete_set(name: str, data_dir: str | Path | None = None) -> None:
    """Delete a whole set: renamed aside first, so a half-deleted set is never listed."""
    with _writing(data_dir):
        folder = load_set(name, data_dir).folder
        aside = folder.with_name(f".deleting-{folder.name}-{secrets.token_hex(3)}")
        folder.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)


def rename_set(name: str, new_name: str, data_dir: str | Path | None = None) -> DigitSet:
    """Give a set a new name; refuse one that is taken."""
    with _writing(data_dir):
        digit_set = load_set(name, data_dir)
        target = set_folder(data_dir, new_name)
        if target.exists() and target.name.lower() != digit_set.folder.name.lower():
            raise InvalidDigits(f"there is already a set named {target.name!r}")
        digit_set.folder.rename(target)
        _write_index(target, target.name, digit_set.digits)
        return DigitSet(target.name, target, digit_set.digits)


# --- one file per set ----------------------------------------------------------------------


def import_set(source, name: str | None = None, data_dir: str | Path | None = None) -> DigitSet:
    """Read an exported set and store it as a new set (its own name, or name); return it."""
    stored_name, entries = read_set_file(source)
    target_name = check_name(name if name is not None else stored_name or DEFAULT_SET)
    with _writing(data_dir):
        folder = set_folder(data_dir, target_name)
        if folder.exists():
            raise InvalidDigits(f"there is already a set named {folder.name!r}; choose a new name")
        if len(list_sets(data_dir)) >= MAX_SETS:
            raise InvalidDigits(f"there are already {MAX_SETS} sets; delete one first")
        # built beside the others under a temporary name, then renamed: all of it or nothing
        building = folder.with_name(f".importing-{secrets.token_hex(3)}")
        building.mkdir(parents=True)
        try:
            for digit, image, canvas in entries:
                write_file(building / f"{digit.id}.png", _png_bytes(image))
                if canvas is not None:
                    write_file(building / f"{digit.id}-canvas.png", _png_bytes(canvas))
            _write_index(building, folder.name, [d for d, _, _ in entries])
            building.rename(folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return load_set(folder.name, data_dir)


# --- in a task ------------------------------------------------------------------------------


def labelled_for(
    digit_set: DigitSet, classes: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Return a set's images and labels as class indices of classes, and how many were left out."""
    images, digits = digit_set.tensors()
    lookup = torch.full((10,), -1, dtype=torch.int64)
    lookup[list(classes)] = torch.arange(len(classes))
    mapped = lookup[digits]
    keep = mapped >= 0
    return images[keep], mapped[keep], int((~keep).sum())


def with_my_digits(task: Task, set_name: str, repeat: int, data_dir=None, skip=()) -> Task:
    """Return task with a set of my digits (but those whose ids are in skip) added to its
    training split, each repeat times."""
    if not set_name:
        return task
    try:
        digit_set = load_set(set_name, data_dir)
    except InvalidDigits as exc:
        raise ValueError(f"my_digits: {exc}") from None
    if skip:
        skipped = set(skip)
        digit_set = replace(
            digit_set, digits=tuple(d for d in digit_set.digits if d.id not in skipped)
        )
    images, labels, _ = labelled_for(digit_set, task.classes)
    if not len(labels):
        raise ValueError(
            f"my_digits: {digit_set.name} holds no digits of this task "
            f"({', '.join(map(str, task.classes))})"
        )
    images, labels = images.repeat(repeat, 1, 1), labels.repeat(repeat)
    # -1 in indices: not a position in MNIST's training set
    mine = Split(images, labels, torch.full_like(labels, -1))
    train = Split(
        torch.cat([task.train.images, mine.images]),
        torch.cat([task.train.labels, mine.labels]),
        torch.cat([task.train.indices, mine.indices]),
    )
    return replace(task, train=train)
