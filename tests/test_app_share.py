"""Shared links under AppTest: a URL's settings fill the Build and Train widgets, and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.shared import state

APP = str(Path(__file__).resolve().parent.parent / "app.py")
BUILD = "views/2_Build.py"
TRAIN = "views/3_Train.py"
SHARED = {
    "preset": "small-cnn",
    "dense": "77-tanh-d0.2~40-relu",
    "lr": "0.01",
    "epochs": "3",
    "optimizer": "sgd",
}


@pytest.fixture(autouse=True)
def _needs_mnist(data_dir):
    """The Train page renders on the real MNIST."""


def _open(params: dict[str, str], page: str | None = None) -> AppTest:
    """Open the app with these query parameters, as a fresh browser opening a link, then page.

    AppTest always starts on the default page; the link's settings are read there, on the
    first run, exactly as when a link to any page opens.
    """
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at if page is None else at.switch_page(page).run()


def _by_label(widgets, label: str):
    matches = [w for w in widgets if w.label == label]
    assert matches, f"no widget labelled {label!r}; have {[w.label for w in widgets]}"
    return matches[0]


def _param(at: AppTest, key: str) -> str | None:
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value  # AppTest keeps lists of values


def test_a_shared_link_fills_the_build_widgets():
    at = _open(SHARED, BUILD)
    assert not at.exception
    assert not at.warning
    widths = [w for w in at.number_input if w.label == "Width"]
    assert [w.value for w in widths] == [77, 40]
    assert _by_label(at.selectbox, "Start from a preset").value == "small-cnn"
    assert [s.value for s in at.selectbox if s.label == "Activation"][:2] == ["tanh", "relu"]
    assert any("modified" in m.value for m in at.markdown)


def test_a_shared_link_fills_the_train_widgets():
    at = _open(SHARED, TRAIN)
    assert not at.exception
    assert _by_label(at.select_slider, "Learning rate").value == 0.01
    assert _by_label(at.number_input, "Epochs").value == 3
    assert _by_label(at.selectbox, "Optimizer").value == "sgd"


def test_changing_a_widget_updates_the_url():
    at = _open(SHARED, BUILD)
    [w for w in at.number_input if w.label == "Width"][0].set_value(96).run()
    assert not at.exception
    assert _param(at, "dense") == "96-tanh-d0.2~40-relu"
    assert _param(at, "lr") == "0.01"  # the Train settings stay in the link

    at.switch_page(TRAIN).run()
    _by_label(at.number_input, "Epochs").set_value(7).run()
    assert _param(at, "epochs") == "7"
    _by_label(at.selectbox, "Optimizer").set_value("adamw").run()
    assert _param(at, "optimizer") is None  # back to the preset's value: no longer listed
    assert _param(at, "dense") == "96-tanh-d0.2~40-relu"


def test_the_copy_link_shows_the_settings():
    at = _open(SHARED, BUILD)
    links = [m.value for m in at.markdown if "preset=" in m.value]
    assert links and "dense=77-tanh-d0.2~40-relu" in links[0] and "lr=0.01" in links[0]


@pytest.mark.parametrize(
    ("params", "field", "lr"),
    [
        ({"preset": "small-cnn", "lr": "fast"}, "lr", 0.003),
        ({"dense": "77-swish"}, "activation", 0.001),
    ],
)
def test_an_invalid_link_says_which_field_and_falls_back_to_defaults(params, field, lr):
    at = _open(params)
    assert not at.exception
    assert any(field in e.value for e in at.error), [e.value for e in at.error]
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert _by_label(at.select_slider, "Learning rate").value == lr
    at.switch_page(BUILD).run()
    assert not at.exception
    assert not at.error  # said once, then the URL is rewritten from the defaults
    assert _param(at, "lr") is None and _param(at, "dense") is None


def test_the_job_parameter_survives_the_settings_sync():
    at = _open({"job": "not-a-job", "epochs": "4"}, TRAIN)
    assert not at.exception
    assert _by_label(at.number_input, "Epochs").value == 4
    assert _param(at, "job") == "not-a-job"
    assert _param(at, "epochs") == "4"


KEPT = {"preset": "small-cnn", "optimizer": "sgd", "seed": "7"}


@pytest.mark.parametrize(
    ("param", "value", "field"),
    [
        ("lr", "-1", "lr"),
        ("lr", "nan", "lr"),
        ("batch_size", "0", "batch_size"),
        ("epochs", "0", "epochs"),
        ("dense", "0-relu", "dense[0].width"),
        ("dense", "999999999-relu", "dense[0].width"),
        ("dense", "77-relu-d1", "dense[0].dropout"),
        ("classes", "3", "classes"),
        ("classes", "", "classes"),
        ("dense", "none", None),  # no hidden layers is a linear classifier, not an error
    ],
)
def test_a_link_with_a_value_out_of_range_shows_an_error_naming_it_and_keeps_the_rest(
    param, value, field
):
    at = _open({**KEPT, param: value})
    assert not at.exception
    errors = [e.value for e in at.error]
    if field is None:
        assert not errors
    else:
        assert any(field in error and "could not be used" in error for error in errors), errors
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert _by_label(at.selectbox, "Optimizer").value == "sgd"
    assert _by_label(at.number_input, "Seed").value == 7
    assert not at.error  # the bad value kept the preset's: the rest can train
    at.switch_page(BUILD).run()
    assert not at.exception
    assert _by_label(at.selectbox, "Start from a preset").value == "small-cnn"


def test_a_batch_larger_than_the_task_shows_the_digit_count_on_the_train_page():
    at = _open(
        {"classes": "37", "outputs": "2", "train_fraction": "0.02", "batch_size": "512"}, TRAIN
    )
    assert not at.exception
    assert any(
        "batch_size: 512 is larger than the 227 training digits" in e.value for e in at.error
    )
    assert _by_label(at.select_slider, "Batch size").value == 512  # kept, to be changed
    _by_label(at.select_slider, "Batch size").set_value("full").run()
    assert not at.exception
    assert not at.error


def test_a_network_too_large_for_memory_is_refused_with_its_size_on_build_and_train(
    monkeypatch,
):
    monkeypatch.setenv("DIGITLAB_MEMORY_LIMIT_GB", "4")
    network = {"conv": "256-3-same-relu-none", "dense": "4096-relu~4096-relu"}
    at = _open({**network, "epochs": "3"}, BUILD)
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "dense[0].width: 4,096 units need about" in errors and "the limit is 4.0 GB" in errors
    assert [w.value for w in at.number_input if w.label == "Width"] == [4096, 4096]
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert any("Cannot start yet: dense[0].width" in e.value for e in at.error)
    assert _by_label(at.number_input, "Epochs").value == 3
    _by_label(at.button, "Start training").click().run()
    assert not at.exception
    assert any(e.value.startswith("Cannot start yet: dense[0].width") for e in at.error)
    assert not state.registry().active()  # the click started nothing
