"""My digits: named sets of digits a person drew, each kept as drawn and as the model saw it.

A set is a folder under <data dir>/my-digits/: an index.json (format version, name, and one
entry per digit: id, true label, when it was saved) and two PNGs per digit, the canvas as
drawn (grey ink on black, at most 280×280) and the 28×28 image the reader made of it. Every
file is written whole or not at all (a temporary file, then a rename), the images before the
index that names them, so a killed process leaves at worst an unlisted image, never a listed
image that is missing. Sets travel as one zip of the same files and are read back under the
rules runs follow: a size limit, no member names that escape, nothing executable.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.runs.atomic import write_file
from core.data.mnist import Split, Task, resolve_data_dir
from core.runs.filelock import locked
from core.spec.image import IMAGE_SIDE
from core.spec.names import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from core.spec.names import NAME_PATTERN
from core.spec.names import check_set_name
from core.runs.uploads import (
    MiB,
    RefusedFile,
    check_members,
    escapes_folder,
    open_zip,
    read_members,
    read_upload,
)

FOLDER = "my-digits"
# elsewhere than the data folder: tests, and a read-only MNIST folder shared by a class
FOLDER_ENV = "DIGITLAB_MY_DIGITS"
INDEX_FILE = "index.json"
FORMAT_VERSION = 1
DEFAULT_SET = "my digits"
LABELS = tuple(range(10))
IMAGE_SIZE = IMAGE_SIDE  # the name this module has always used
MAX_CANVAS_SIDE = 560  # the Draw page's canvas is 280 px; twice that covers a hi-dpi one
MAX_DIGITS_PER_SET = 2000  # a class of 30 drawing 60 digits each, with room to spare
MAX_SETS = 100
# a set's zip: its index plus two small PNGs per digit (measured: ~0.3 KB and ~3 KB)
MAX_EXPORT_BYTES = 32 * MiB
MAX_PNG_BYTES = 512 * 1024
MAX_INDEX_BYTES = 2 * MiB
ID_PATTERN = re.compile(r"d[0-9]{5}-[0-9a-f]{6}")

LOCK_FILE = ".lock"  # beside the sets: a file, so listing the sets passes over it
_lock = threading.Lock()  # one writer at a time per process: read the index, change, write


class InvalidDigits(ValueError):
    """A set of my digits is missing, damaged, or cannot take what was asked; says why."""


@dataclass(frozen=True)
class SavedDigit:
    """One digit of a set: its id, its true label and when it was saved."""

    id: str
    label: int
    created: str

    def to_dict(self) -> dict:
        """Return the digit's entry in index.json."""
        return {"id": self.id, "label": self.label, "created": self.created}


@dataclass(frozen=True)
class DigitSet:
    """A named set of my digits, as its index lists them (the images stay on disk)."""

    name: str
    folder: Path
    digits: tuple[SavedDigit, ...]

    def __len__(self) -> int:
        return len(self.digits)

    def counts(self) -> dict[int, int]:
        """Return how many digits of each label 0-9 the set holds."""
        counts = dict.fromkeys(LABELS, 0)
        for digit in self.digits:
            counts[digit.label] += 1
        return counts

    def image(self, digit_id: str) -> np.ndarray:
        """Return one digit's 28×28 uint8 image as the model saw it."""
        return _read_png(self.folder / f"{digit_id}.png", (IMAGE_SIZE, IMAGE_SIZE))

    def canvas(self, digit_id: str) -> np.ndarray | None:
        """Return one digit's canvas as drawn (uint8 ink), or None if it was saved without one."""
        path = self.folder / f"{digit_id}-canvas.png"
        return _read_png(path) if path.is_file() else None

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return every digit as (N, 28, 28) uint8 images and (N,) int64 labels 0-9."""
        images = np.stack([self.image(d.id) for d in self.digits]) if self.digits else None
        if images is None:
            return torch.zeros(0, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8), torch.zeros(
                0, dtype=torch.int64
            )
        labels = torch.tensor([d.label for d in self.digits], dtype=torch.int64)
        return torch.from_numpy(images), labels


# --- names and folders ---------------------------------------------------------------------


def check_name(name: str, field: str = "name") -> str:
    """Return a set's name stripped, or raise InvalidDigits saying what a name may hold."""
    try:
        return check_set_name(name, field)
    except ValueError as exc:
        raise InvalidDigits(str(exc)) from None


def check_label(label) -> int:
    """Return a true label 0-9, or raise InvalidDigits."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label not in LABELS:
        raise InvalidDigits(f"label: {label!r} must be a digit from 0 to 9")
    return int(label)


def sets_dir(data_dir: str | Path | None = None) -> Path:
    """Return the folder that holds every set of my digits: $DIGITLAB_MY_DIGITS, else <data>/my-digits."""
    override = os.environ.get(FOLDER_ENV)
    return Path(override) if override else resolve_data_dir(data_dir) / FOLDER


def _set_folder(data_dir, name: str) -> Path:
    return sets_dir(data_dir) / check_name(name)


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


# --- reading -------------------------------------------------------------------------------


def _read_png(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    try:
        return _png_array(path.read_bytes(), path.name, shape)
    except OSError as exc:
        raise InvalidDigits(f"{path.parent.name}/{path.name} cannot be read ({exc})") from exc


def _png_array(data: bytes, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return a grey PNG's pixels, refusing other formats and sizes before decoding them."""
    if len(data) > MAX_PNG_BYTES:
        raise InvalidDigits(f"{name} is {len(data):,} bytes; the limit is {MAX_PNG_BYTES:,}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise InvalidDigits(f"{name} is not a PNG image")
            width, height = image.size  # read from the header: nothing is decoded yet
            if shape is not None and (height, width) != shape:
                raise InvalidDigits(f"{name} is {width}×{height}; it must be {shape[1]}×{shape[0]}")
            if max(width, height) > MAX_CANVAS_SIDE:
                raise InvalidDigits(f"{name} is {width}×{height}; the limit is {MAX_CANVAS_SIDE}")
            return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    except InvalidDigits:
        raise
    except Exception as exc:  # PIL raises many kinds for a damaged image
        raise InvalidDigits(f"{name} is not a readable image ({exc})") from exc


def _parse_index(data: bytes, where: str) -> tuple[str, tuple[SavedDigit, ...]]:
    """Return (name, digits) from index.json bytes, or raise InvalidDigits saying what is wrong."""
    try:
        index = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidDigits(f"{where}: {INDEX_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(index, dict) or not isinstance(index.get("digits"), list):
        raise InvalidDigits(f"{where}: {INDEX_FILE} has no list of digits")
    version = index.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidDigits(
            f"{where}: format version {version!r} is not one this Digit Lab reads "
            f"({FORMAT_VERSION})"
        )
    if len(index["digits"]) > MAX_DIGITS_PER_SET:
        raise InvalidDigits(f"{where}: more than {MAX_DIGITS_PER_SET:,} digits")
    digits, seen = [], set()
    for entry in index["digits"]:
        if not isinstance(entry, dict) or not ID_PATTERN.fullmatch(str(entry.get("id", ""))):
            raise InvalidDigits(f"{where}: a digit without a valid id ({entry!r:.80})")
        if entry["id"] in seen:
            raise InvalidDigits(f"{where}: digit {entry['id']} is listed twice")
        seen.add(entry["id"])
        try:
            label = check_label(entry.get("label"))
        except InvalidDigits as exc:
            raise InvalidDigits(f"{where}: digit {entry['id']}: {exc}") from None
        digits.append(SavedDigit(entry["id"], label, str(entry.get("created", ""))[:32]))
    return str(index.get("name", "")), tuple(digits)


def load_set(name: str, data_dir: str | Path | None = None) -> DigitSet:
    """Return the named set, or raise InvalidDigits if it is missing or its index is damaged."""
    folder = _set_folder(data_dir, name)
    index = folder / INDEX_FILE
    if not index.is_file():
        raise InvalidDigits(f"there is no set of digits named {check_name(name)!r}")
    try:
        data = index.read_bytes()
    except OSError as exc:
        raise InvalidDigits(f"{folder.name}: {INDEX_FILE} cannot be read ({exc})") from exc
    _, digits = _parse_index(data, folder.name)
    return DigitSet(folder.name, folder, digits)


def list_sets(data_dir: str | Path | None = None) -> list[DigitSet]:
    """Return every readable set, by name; damaged or foreign folders are left out."""
    root = sets_dir(data_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir(), key=lambda p: p.name.lower()):
        if not folder.is_dir() or not NAME_PATTERN.fullmatch(folder.name):
            continue  # temporary folders of a write in progress start with "."
        try:
            found.append(load_set(folder.name, data_dir))
        except InvalidDigits:
            continue
    return found


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
    folder = _set_folder(data_dir, name)
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
        target = _set_folder(data_dir, new_name)
        if target.exists() and target.name.lower() != digit_set.folder.name.lower():
            raise InvalidDigits(f"there is already a set named {target.name!r}")
        digit_set.folder.rename(target)
        _write_index(target, target.name, digit_set.digits)
        return DigitSet(target.name, target, digit_set.digits)


# --- one file per set ----------------------------------------------------------------------


def export_set_bytes(name: str, data_dir: str | Path | None = None) -> bytes:
    """Return the named set as one zip: its index and every digit's PNGs."""
    digit_set = load_set(name, data_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(digit_set.folder / INDEX_FILE, INDEX_FILE)
        for digit in digit_set.digits:
            for suffix in (".png", "-canvas.png"):
                path = digit_set.folder / f"{digit.id}{suffix}"
                if path.is_file():
                    archive.write(path, path.name)
    return buffer.getvalue()


def _member_limits(names: list[str]) -> dict[str, int]:
    limits = {}
    for member in names:
        if escapes_folder(member):
            raise RefusedFile(
                f"member {member!r} points outside the folder it would be unpacked into"
            )
        if member == INDEX_FILE:
            limits[member] = MAX_INDEX_BYTES
        elif re.fullmatch(rf"{ID_PATTERN.pattern}(-canvas)?\.png", member):
            limits[member] = MAX_PNG_BYTES
        else:
            raise RefusedFile(f"member {member!r} is not part of a set of digits")
    return limits


def read_set_file(source) -> tuple[str, list[tuple[SavedDigit, np.ndarray, np.ndarray | None]]]:
    """Return (name, [(digit, image, canvas)]) from an exported set, or raise RefusedFile."""
    data = read_upload(source, MAX_EXPORT_BYTES)
    archive = open_zip(data)
    limits = _member_limits([info.filename for info in archive.infolist()])
    check_members(archive, limits, MAX_EXPORT_BYTES)
    files = read_members(archive, limits)
    if INDEX_FILE not in files:
        raise RefusedFile(f"it has no {INDEX_FILE}: it is not an exported set of digits")
    try:
        name, digits = _parse_index(files[INDEX_FILE], "the file")
        entries = []
        for digit in digits:
            if f"{digit.id}.png" not in files:
                raise InvalidDigits(f"the file lists digit {digit.id} but holds no image of it")
            image = _png_array(
                files[f"{digit.id}.png"], f"{digit.id}.png", (IMAGE_SIDE, IMAGE_SIDE)
            )
            canvas_png = files.get(f"{digit.id}-canvas.png")
            canvas = None if canvas_png is None else _png_array(canvas_png, f"{digit.id}-canvas")
            entries.append((digit, image, canvas))
    except InvalidDigits as exc:
        raise RefusedFile(str(exc)) from None
    return name, entries


def import_set(source, name: str | None = None, data_dir: str | Path | None = None) -> DigitSet:
    """Read an exported set and store it as a new set (its own name, or name); return it."""
    stored_name, entries = read_set_file(source)
    target_name = check_name(name if name is not None else stored_name or DEFAULT_SET)
    with _writing(data_dir):
        folder = _set_folder(data_dir, target_name)
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


def with_my_digits(task: Task, set_name: str, repeat: int, data_dir=None) -> Task:
    """Return task with a set of my digits added to its training split, each repeat times."""
    if not set_name:
        return task
    try:
        digit_set = load_set(set_name, data_dir)
    except InvalidDigits as exc:
        raise ValueError(f"my_digits: {exc}") from None
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
