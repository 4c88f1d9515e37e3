"""Fashion-MNIST: Debian's package unpacked and checked, the dataset in runs, class names in pages."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data import debianpack
from core.data.datasets import FASHION_MNIST, RAW_NAMES
from core.data.mnist import load_mnist, raw_dir
from core.runs.store import load_run
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec
from tests.conftest import train_tiny_run

REPO = Path(__file__).resolve().parent.parent
CLASS_PIXELS = 24  # each class lights its own band of rows in the fake images


def idx_files(train: int = 300, test: int = 100, seed: int = 0) -> dict[str, bytes]:
    """Return the four IDX files of a small fake Fashion-MNIST that a network can learn."""
    rng = np.random.default_rng(seed)

    def images_and_labels(count: int) -> tuple[bytes, bytes]:
        labels = np.arange(count) % 10
        images = rng.integers(0, 40, (count, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 4 + 2 * label, 2:26] = 230
        head = struct.pack(">IIII", 2051, count, 28, 28)
        return head + images.tobytes(), struct.pack(">II", 2049, count) + labels.astype(
            np.uint8
        ).tobytes()

    train_images, train_labels = images_and_labels(train)
    test_images, test_labels = images_and_labels(test)
    return dict(zip(RAW_NAMES, (train_images, train_labels, test_images, test_labels)))


def package_tree(folder: Path, files: dict[str, bytes]) -> Path:
    """Lay out files as Debian's package does (gzipped under usr/share/datasets/...)."""
    target = folder / debianpack.PACKAGE_FOLDER
    target.mkdir(parents=True)
    for name, data in files.items():
        (target / f"{name}.gz").write_bytes(gzip.compress(data))
    return folder


def hashes_of(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def test_the_package_tree_is_gunzipped_into_torchvisions_raw_folder(tmp_path):
    files = idx_files()
    raw = raw_dir(tmp_path / "data", "fashion-mnist")
    debianpack.install_from_tree(package_tree(tmp_path / "tree", files), raw, hashes_of(files))
    assert raw == tmp_path / "data" / "FashionMNIST" / "raw"
    assert {p.name for p in raw.iterdir()} == set(RAW_NAMES)
    assert (raw / RAW_NAMES[0]).read_bytes() == files[RAW_NAMES[0]]


def test_a_file_with_the_wrong_hash_is_refused_and_nothing_is_installed(tmp_path):
    files = idx_files()
    hashes = {**hashes_of(files), RAW_NAMES[2]: "0" * 64}
    raw = tmp_path / "raw"
    with pytest.raises(debianpack.DebianPackError, match="t10k-images-idx3-ubyte has SHA-256"):
        debianpack.install_from_tree(package_tree(tmp_path / "tree", files), raw, hashes)
    assert list(raw.iterdir()) == []


def test_a_package_without_the_files_is_refused(tmp_path):
    (tmp_path / "tree").mkdir()
    with pytest.raises(debianpack.DebianPackError, match="has no"):
        debianpack.install_from_tree(tmp_path / "tree", tmp_path / "raw")


def test_the_real_files_hashes_are_pinned():
    # the table the installer checks: four distinct SHA-256 digests, one per file
    assert set(FASHION_MNIST.raw_sha256) == set(RAW_NAMES)
    assert len(set(FASHION_MNIST.raw_sha256.values())) == 4
    assert all(len(digest) == 64 for digest in FASHION_MNIST.raw_sha256.values())


@pytest.fixture
def both_datasets(tmp_path, data_dir, monkeypatch) -> Path:
    """A data folder with the real MNIST beside a small fake Fashion-MNIST."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "MNIST").symlink_to(data_dir / "MNIST", target_is_directory=True)
    raw = raw_dir(root, "fashion-mnist")
    raw.mkdir(parents=True)
    for name, data in idx_files().items():
        (raw / name).write_bytes(data)
    monkeypatch.setenv("DIGITLAB_DATA", str(root))
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    return root


def test_fashion_loads_from_its_folder_with_its_own_labels(both_datasets):
    data = load_mnist(both_datasets, sources=("folder",), dataset="fashion-mnist")
    assert data.dataset == "fashion-mnist" and data.source == "folder"
    assert data.train_images.shape == (300, 28, 28) and data.class_counts().tolist() == [30] * 10


def test_the_config_checks_the_dataset():
    with pytest.raises(ValueError, match="dataset: 'cifar'"):
        TrainConfig(dataset="cifar").validate()
    with pytest.raises(ValueError, match="my_digits"):
        TrainConfig(dataset="fashion-mnist", my_digits="mine").validate()


@pytest.fixture
def fashion_run(both_datasets, isolated_folders) -> Path:
    spec = ModelSpec(dense=[DenseLayer(32)])
    config = TrainConfig(epochs=3, lr=0.01, dataset="fashion-mnist", val_fraction=0.1)
    return train_tiny_run(isolated_folders, both_datasets, "fashion-mlp", spec, config)


def test_a_run_records_its_dataset_and_is_scored_on_its_test_set(fashion_run):
    run = load_run(fashion_run)
    assert run.config.dataset == "fashion-mnist"
    summary = json.loads((fashion_run / "summary.json").read_text())
    assert summary["dataset"] == "fashion-mnist"
    assert summary["test_accuracy"] > 0.5  # the fake classes are easy; chance is 0.1


def _page(path: str) -> AppTest:
    return AppTest.from_file(str(REPO / path), default_timeout=120)


def test_the_data_page_switches_to_fashion_and_names_its_classes(both_datasets):
    at = _page("app.py")
    at.query_params["dataset"] = "fashion-mnist"
    at.run()
    at.switch_page("views/1_Data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert next(c for c in at.segmented_control if c.label == "Dataset").value == "fashion-mnist"
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    balance = next(f for f in figures if f["data"][0].get("type") == "bar")
    assert balance["data"][0]["x"][:2] == ["T-shirt/top", "Trouser"]
    assert "Fashion-MNIST" in "".join(m.value for m in at.markdown)  # the sidebar says so


def test_evaluate_names_fashion_classes_and_lists_only_fashion_runs(
    fashion_run, both_datasets, trained_mnist_run
):
    at = _page("app.py")
    at.query_params["dataset"] = "fashion-mnist"
    at.run()
    at.switch_page("views/4_Evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="eval-run")
    assert picker.value == str(fashion_run)  # the MNIST run beside it is not offered
    assert len(picker.options) == 1 and "Fashion-MNIST" in picker.options[0]
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    confusion = next(f for f in figures if any(t.get("type") == "heatmap" for t in f["data"]))
    assert confusion["data"][0]["x"][-1] == "Ankle boot"
    at.switch_page("views/5_Draw.py").run()
    assert "Drawing is for digits" in "".join(i.value for i in at.info)


@pytest.fixture
def trained_mnist_run(isolated_folders, data_dir) -> Path:
    """An MNIST run in the same folder: it must not be offered while Fashion-MNIST is chosen."""
    spec = ModelSpec(dense=[DenseLayer(16)])
    config = TrainConfig(epochs=1, train_fraction=0.02)
    return train_tiny_run(isolated_folders, data_dir, "mnist-mlp", spec, config)


def test_fashion_images_are_what_the_run_was_tested_on(fashion_run, both_datasets):
    # the scores come from the fake Fashion test set (100 images), not MNIST's 10,000
    from core.data.mnist import task_test_split

    data = load_mnist(both_datasets, sources=("folder",), dataset="fashion-mnist")
    run = load_run(fashion_run)
    test = task_test_split(data, run.classes)
    predictions = run.predict_proba(test.images.unsqueeze(1).float() / 255).argmax(1)
    accuracy = float((predictions == test.labels).float().mean())
    assert accuracy == pytest.approx(run.summary["test_accuracy"], abs=1e-6)
    assert len(test) == 100 and torch.equal(test.labels[:3], torch.tensor([0, 1, 2]))


def test_nothing_is_left_in_the_tree_after_install(tmp_path):
    files = idx_files(20, 10)
    tree = package_tree(tmp_path / "tree", files)
    debianpack.install_from_tree(tree, tmp_path / "raw", hashes_of(files))
    assert not [p for p in (tmp_path / "raw").iterdir() if p.name.startswith(".")]


def test_the_exported_script_of_a_fashion_config_trains_on_fashion_mnist():
    from core.export.script import export_script

    config = TrainConfig(dataset="fashion-mnist", classes=[3, 7])
    script = export_script(ModelSpec(dense=[DenseLayer(8)]), config)
    assert "datasets.FashionMNIST(root" in script and "datasets.MNIST(" not in script
    assert "Fashion-MNIST (Dress, Sneaker)" in script
    compile(script, "train_mnist.py", "exec")


def test_the_inside_page_names_fashion_classes(fashion_run, both_datasets):
    at = _page("app.py")
    at.query_params["dataset"] = "fashion-mnist"
    at.run()
    at.switch_page("views/6_Inside.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    names = {trace.get("name") for figure in figures for trace in figure["data"]}
    assert {"Trouser", "Ankle boot"} <= names


def test_another_dataset_turns_the_handwriting_augmentation_off_and_mnist_brings_it_back():
    from core.spec.presets import get_preset, suited_to

    _, config = get_preset("small-cnn").fresh()
    config.my_digits = "mine"
    suited_to(config, "fashion-mnist", "small-cnn")
    assert config.dataset == "fashion-mnist" and not config.augment.enabled
    assert config.my_digits == "" and config.validate()
    suited_to(config, "mnist", "small-cnn")
    assert config.augment == get_preset("small-cnn").config.augment
