"""The ready model: Draw and Evaluate work on a first visit with no training, and a run trained
later does not replace the model a visitor starts with (issue 24)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data.mnist import to_float
from core.runs.ready import MARKER, READY_ENV, install_ready_model, ready_run_id, ready_source
from core.runs.store import load_run
from core.spec.models import DenseLayer, ModelSpec
from core.spec.presets import get_preset
from tests.conftest import train_tiny_run
from ui.shared.state import ACTIVE_RUN_KEY

REPO = Path(__file__).resolve().parent.parent
DRAW = str(REPO / "views" / "5_Draw.py")
EVALUATE = str(REPO / "views" / "4_Evaluate.py")


@pytest.fixture
def ready_on(monkeypatch):
    monkeypatch.setenv(READY_ENV, "1")  # the product's default; the tests' is off (conftest)


def test_a_fresh_runs_folder_gets_the_ready_model_and_it_reads_real_digits(
    ready_on, isolated_folders, mnist
):
    folder = install_ready_model(isolated_folders)
    assert folder is not None and folder.name == ready_run_id()
    run = load_run(folder)
    assert run.summary["status"] == "finished" and run.spec == get_preset("draw").fresh()[0]
    assert run.summary["test_accuracy"] >= 0.99
    # scored again here, not read from its summary: the weights are the ones that scored it
    images, labels = mnist.test_images[:2000], mnist.test_labels[:2000]
    with torch.no_grad():
        predicted = run.predict_proba(to_float(images)).argmax(1)
    assert (predicted == labels).float().mean() >= 0.98
    # how it was made is written beside it, with the numbers of its summary
    note = (ready_source().parent / "README.md").read_text()
    assert ready_run_id() in note and f"{run.summary['test_accuracy']:.2%}" in note


def test_the_ready_model_is_offered_once_and_a_deleted_one_stays_deleted(
    ready_on, isolated_folders, monkeypatch
):
    folder = install_ready_model(isolated_folders)
    assert install_ready_model(isolated_folders) == folder  # nothing copied twice
    shutil.rmtree(folder)
    assert install_ready_model(isolated_folders) is None and not folder.exists()
    assert (isolated_folders / MARKER).exists()

    monkeypatch.setenv(READY_ENV, "0")
    other = isolated_folders.parent / "other-runs"
    assert install_ready_model(other) is None and not other.exists()


def test_draw_works_on_a_first_visit_with_the_ready_model(ready_on, isolated_folders):
    at = AppTest.from_file(DRAW, default_timeout=60).run()
    assert not at.exception
    assert "No trained model yet" not in "\n".join(str(e.value) for e in at.info)
    assert Path(at.selectbox(key="draw-run").value).name == ready_run_id()
    # it is a drawing model already: no offer to train another
    assert "draw-quick-train" not in [button.key for button in at.button]


def test_a_run_trained_later_does_not_replace_the_model_a_visitor_starts_with(
    ready_on, isolated_folders, data_dir
):
    install_ready_model(isolated_folders)
    spec = ModelSpec(dense=[DenseLayer(16)], outputs=2)
    _, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction, config.classes = 1, 0.02, [3, 7]
    newer = train_tiny_run(isolated_folders, data_dir, "three-vs-seven", spec, config)
    at = AppTest.from_file(EVALUATE, default_timeout=60).run()  # the next visitor
    assert not at.exception
    assert Path(at.selectbox(key="eval-run").value).name == ready_run_id()
    at.selectbox(key="eval-run").set_value(str(newer)).run()  # chosen: it is theirs now
    assert not at.exception
    assert at.session_state[ACTIVE_RUN_KEY] == str(newer)  # every page's model, Draw's too
    assert Path(at.run().selectbox(key="eval-run").value) == newer
