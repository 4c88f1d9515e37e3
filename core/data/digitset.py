"""A set of my digits on disk: its folder and index, its limits, and reading it back.

A set is a folder of an index.json and two PNGs per digit (core.data.mydigits describes the
format and changes sets, under a lock); reading takes none. An exported set, one zip of the same
files, is read here too, under the rules runs follow.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.data.mnist import resolve_data_dir
from core.runs.uploads import (
    MiB,
    RefusedFile,
    check_members,
    escapes_folder,
    open_zip,
    read_members,
    read_upload,
)
from core.spec.image import IMAGE_SIDE
from core.spec.names import NAME_PATTERN, check_set_name

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


def set_folder(data_dir: str | Path | None, name: str) -> Path:
    """Return the folder of the named set (checked, not made): <sets dir>/<name>."""
    return sets_dir(data_dir) / check_name(name)


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
    folder = set_folder(data_dir, name)
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
