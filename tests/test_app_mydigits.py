"""My digits in the pages (AppTest): the Data page's sets, Evaluate's scores and fine-tune, Train's setting."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.data import mydigits
from core.spec.presets import get_preset
from tests.conftest import train_tiny_run
from ui.shared import build_state

REPO = Path(__file__).resolve().parent.parent
DATA = str(REPO / "views" / "1_Data.py")
EVALUATE = str(REPO / "views" / "4_Evaluate.py")
TRAIN = str(REPO / "views" / "3_Train.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir) -> Path:
    """seed-mlp-128 after one epoch on 5% of the training digits."""
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction = 1, 0.05
    return train_tiny_run(tmp_path_factory.mktemp("runs"), data_dir, "seed-mlp-128", spec, config)


@pytest.fixture
def saved_run(trained, isolated_folders) -> Path:
    return Path(shutil.copytree(trained, isolated_folders / trained.name))


def a_stroke(label: int) -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[5:23, 10 + label : 13 + label] = 255
    return image


def save_some(name: str = "mine", labels=(1, 1, 7)) -> None:
    for label in labels:
        mydigits.save_digit(name, label, a_stroke(label))


def _page(path: str) -> AppTest:
    return AppTest.from_file(path, default_timeout=120)


def _texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def test_the_data_page_without_my_digits_says_how_to_make_them():
    at = _page(DATA).run()
    assert not at.exception
    assert "Draw" in _texts(at, "info")
    assert at.file_uploader(key="data-my-import") is not None


def test_the_data_page_shows_a_set_per_label_and_deletes_one_digit():
    save_some()
    at = _page(DATA).run()
    assert not at.exception
    assert at.selectbox(key="data-set").value == "mine"
    assert "3 digits" in _texts(at, "caption") and "1: 2" in _texts(at, "caption")
    delete = at.selectbox(key="data-my-delete-mine-1")
    assert len(delete.options) == 2  # the two 1s
    at.button(key="data-my-delete").click().run()
    assert not at.exception
    assert len(mydigits.load_set("mine")) == 2
    assert "2 digits" in _texts(at, "caption")


def test_the_data_page_refuses_a_hostile_import_with_a_message():
    at = _page(DATA).run()
    at.file_uploader(key="data-my-import").set_value(
        ("evil.zip", b"PK not really", "application/zip")
    )
    at.run()
    at.button(key="data-my-import-button").click().run()
    assert not at.exception
    assert "not imported" in _texts(at, "error")
    assert mydigits.list_sets() == []


def test_an_exported_set_imports_back_through_the_data_page():
    save_some("mine")
    exported = mydigits.export_set_bytes("mine")
    at = _page(DATA).run()
    at.file_uploader(key="data-my-import").set_value(
        ("mine.digits.zip", exported, "application/zip")
    )
    at.run()
    [name_box] = [t for t in at.text_input if t.label == "Store it as"]
    name_box.set_value("copy").run()
    at.button(key="data-my-import-button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(s.name for s in mydigits.list_sets()) == ["copy", "mine"]


def test_evaluate_scores_the_run_on_my_digits_beside_mnist(saved_run):
    save_some("mine", labels=(0, 1, 2, 3, 7))
    at = _page(EVALUATE).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert "My digits" in [tab.label for tab in at.tabs]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Digits scored"] == "5"
    assert metrics["On MNIST's test set"] == metrics["Test accuracy"]
    assert metrics["On my digits"].endswith("%")


def test_fine_tune_from_evaluate_saves_a_new_active_run(saved_run):
    save_some("mine", labels=(0, 1, 2, 3, 7) * 2)
    at = _page(EVALUATE).run()
    at.button(key="eval-my-tune").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "Fine-tuned" in _texts(at, "success")
    tuned = at.session_state["active_run"]
    assert tuned != str(saved_run) and Path(tuned).is_dir()


def test_train_page_adds_a_set_of_my_digits_to_the_config():
    save_some("mine")
    at = _page(TRAIN).run()
    assert not at.exception
    choice = next(s for s in at.selectbox if s.label == "Train on my digits too")
    assert choice.options == ["no", "mine"]
    choice.set_value("mine").run()
    assert not at.exception
    repeat = next(n for n in at.number_input if n.label.startswith("Times each"))
    repeat.set_value(7).run()
    config = at.session_state[build_state.CONFIG_KEY]
    assert (config.my_digits, config.my_digits_repeat) == ("mine", 7)
