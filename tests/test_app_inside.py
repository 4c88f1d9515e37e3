"""The Inside page and the Build page's "under the hood" panel, under Streamlit's AppTest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec
from tests.conftest import train_tiny_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")
INSIDE = "views/6_Inside.py"
BUILD = "views/2_Build.py"


def _train(store: Path, data_dir: Path, name: str, spec: ModelSpec) -> Path:
    return train_tiny_run(store, data_dir, name, spec, TrainConfig(epochs=1, train_fraction=0.05))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, data_dir) -> dict[str, Path]:
    """A tiny dense run and a tiny conv run (one epoch on 5% of the training set)."""
    store = tmp_path_factory.mktemp("inside-runs")
    return {
        "dense": _train(store, data_dir, "tiny", ModelSpec()),
        "conv": _train(
            store, data_dir, "tiny-conv", ModelSpec(conv=[ConvLayer(4, 5)], dense=[DenseLayer(16)])
        ),
    }


def _use(run: Path, runs_dir: Path) -> None:
    shutil.copytree(run, runs_dir / run.name)


def _app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page(page).run()


def _texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_inside_page_draws_weights_activations_saliency_and_pca(kind, tiny_runs, isolated_folders):
    _use(tiny_runs[kind], isolated_folders)
    at = _app(INSIDE)
    assert not at.exception, at.exception
    assert not at.error
    assert at.title[0].value == "Inside"
    headers = _texts(at, "header")
    assert "First-layer weights" in headers
    assert "Last hidden layer" in headers
    assert len(at.get("image")) >= 2  # weight grid and saliency overlay
    assert len(at.get("plotly_chart")) >= 3  # activation bars and the PCA scatter
    assert "predicted" in _texts(at, "markdown")
    # every chart draws as SVG: a browser without WebGL (no GPU, a blocklisted driver) shows it
    kinds = {trace.get("type") for chart in at.get("plotly_chart")
             for trace in json.loads(chart.proto.spec)["data"]}  # fmt: skip
    assert "scatter" in kinds and not any(kind.endswith("gl") for kind in kinds if kind), kinds


def test_inside_page_follows_the_chosen_test_digit(tiny_runs, isolated_folders):
    _use(tiny_runs["dense"], isolated_folders)
    at = _app(INSIDE)
    at.number_input[0].set_value(7).run()
    assert not at.exception
    assert at.number_input[0].value == 7


def test_inside_page_without_runs_says_how_to_get_one():
    at = _app(INSIDE)
    assert not at.exception
    assert "No saved runs yet" in _texts(at, "info")


def test_build_page_shows_the_equations_of_a_dense_network():
    at = _app(BUILD)
    assert not at.exception
    assert any("Under the hood" in e.label for e in at.expander)
    latex = _texts(at, "latex")
    assert "128 \\times 784" in latex
    assert "\\mathrm{softmax}" in latex


def test_build_page_says_the_equations_cover_dense_networks_only():
    at = _app(BUILD)
    at.selectbox(key="preset_picker").set_value("small-cnn").run()
    assert not at.exception
    assert not at.latex
    assert "covers dense networks" in _texts(at, "info")


def test_inside_page_charts_the_gradient_norms_of_each_layer(tiny_runs, isolated_folders):
    _use(tiny_runs["conv"], isolated_folders)
    at = _app(INSIDE)
    assert not at.exception
    assert "Gradient norms per layer" in _texts(at, "header")
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    names = [[trace.get("name") for trace in f["data"]] for f in figures]
    assert ["conv 1", "dense 1", "output"] in names
