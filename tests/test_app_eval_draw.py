"""The Evaluate and Draw pages under Streamlit's AppTest, with small real runs trained once."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.draw.quicktrain import QUICK_NAME, find_quick_run, quick_spec_config
from core.runs.archive import export_run_bytes, import_run
from core.runs.store import InvalidRun, load_run
from core.spec.compatible import check_compatible
from core.spec.models import DenseLayer, ModelSpec
from core.spec.presets import get_preset
from tests.conftest import train_tiny_run

REPO = Path(__file__).resolve().parent.parent
EVALUATE = str(REPO / "views" / "4_Evaluate.py")
DRAW = str(REPO / "views" / "5_Draw.py")


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, data_dir) -> dict[str, Path]:
    """Two tiny real runs: seed-mlp-128 on all digits and a 3-vs-7 MLP (one epoch, 5% of the data)."""
    store = tmp_path_factory.mktemp("trained-runs")
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction = 1, 0.05
    all_digits = train_tiny_run(store, data_dir, "seed-mlp-128", spec, config)
    spec = ModelSpec(dense=[DenseLayer(32)], outputs=2)
    _, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction, config.classes = 1, 0.05, [3, 7]
    three_vs_seven = train_tiny_run(store, data_dir, "three-vs-seven", spec, config)
    return {"all": all_digits, "3v7": three_vs_seven}


@pytest.fixture
def saved_run(trained_runs, isolated_folders) -> Path:
    """The all-digits run, copied into this test's empty runs folder."""
    return Path(shutil.copytree(trained_runs["all"], isolated_folders / trained_runs["all"].name))


def _page(path: str) -> AppTest:
    return AppTest.from_file(path, default_timeout=60)


def _texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def _plotly_figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _confusion_figure(at: AppTest) -> dict:
    figures = [f for f in _plotly_figures(at) if any(t.get("type") == "heatmap" for t in f["data"])]
    assert len(figures) == 1, "expected exactly one confusion-matrix heatmap"
    return figures[0]


# --- Evaluate -------------------------------------------------------------------------------


def test_evaluate_without_runs_points_to_train_and_draw(isolated_folders):
    at = _page(EVALUATE).run()
    assert not at.exception
    hint = _texts(at, "info")
    assert "Train" in hint and "Draw" in hint
    assert at.file_uploader(key="eval-import") is not None


def test_evaluate_shows_test_accuracy_loss_and_confusion_matrix(saved_run, mnist):
    at = _page(EVALUATE).run()
    assert not at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    run = load_run(saved_run)
    summary = run.summary
    assert metrics["Test accuracy"] == f"{summary['test_accuracy']:.2%}"
    # the loss of the probabilities shown: the network's, tempered by its calibration
    shown = run.predict_proba(mnist.test_images.float().div(255).unsqueeze(1))
    loss = -shown[torch.arange(len(shown)), mnist.test_labels].clamp_min(1e-12).log().mean()
    assert float(metrics["Test loss"]) == pytest.approx(float(loss), abs=1e-3)
    assert f"T = {summary['temperature']:.2f}" in " ".join(c.value for c in at.caption)
    confusion = _confusion_figure(at)
    assert confusion["data"][0]["x"] == [str(d) for d in range(10)]
    assert at.selectbox(key="eval-run").value == str(saved_run)


def test_evaluate_switches_confusion_matrix_to_row_normalised(saved_run):
    at = _page(EVALUATE).run()
    counts = _confusion_figure(at)["data"][1]["text"]
    assert "%" not in json.dumps(counts)
    at.radio(key="eval-normalised").set_value("row-normalised").run()
    assert not at.exception
    assert "%" in json.dumps(_confusion_figure(at)["data"][1]["text"])


def test_evaluate_gallery_defaults_to_the_most_confused_pair(saved_run):
    at = _page(EVALUATE).run()
    run_id = saved_run.name
    true_digit = at.selectbox(key=f"eval-true-{run_id}").value
    predicted = at.selectbox(key=f"eval-predicted-{run_id}").value
    assert true_digit != predicted
    assert len(at.image) > 0, "the gallery shows the misclassified digits"


def test_evaluate_compares_several_runs(trained_runs, isolated_folders):
    copies = [
        str(shutil.copytree(run, isolated_folders / run.name)) for run in trained_runs.values()
    ]
    at = _page(EVALUATE).run()
    at.multiselect(key="eval-compare").set_value(copies).run()
    assert not at.exception
    curves = [f for f in _plotly_figures(at) if f["data"] and f["data"][0].get("type") == "scatter"]
    assert curves and all(len(f["data"]) == 2 for f in curves)


def test_evaluate_labels_a_digit_subset_run_with_its_digits(trained_runs, isolated_folders):
    run = Path(shutil.copytree(trained_runs["3v7"], isolated_folders / trained_runs["3v7"].name))
    at = _page(EVALUATE).run()
    assert not at.exception
    assert at.selectbox(key="eval-run").value == str(run)
    assert _confusion_figure(at)["data"][0]["x"] == ["3", "7"]


def test_evaluate_import_of_a_garbage_file_shows_an_error(saved_run):
    at = _page(EVALUATE).run()
    at.file_uploader(key="eval-import").set_value(
        ("junk.zip", b"not a zip at all", "application/zip")
    )
    at.run()
    assert not at.exception
    assert "cannot be imported" in _texts(at, "error")


def test_exported_run_imports_back_through_the_page(saved_run, tmp_path, monkeypatch):
    exported = export_run_bytes(saved_run)
    other_machine = tmp_path / "other-runs"
    monkeypatch.setenv("DIGITLAB_RUNS", str(other_machine))
    at = _page(EVALUATE).run()
    at.file_uploader(key="eval-import").set_value(
        (f"{saved_run.name}.digitlab.zip", exported, "application/zip")
    )
    at.run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    imported = other_machine / saved_run.name
    assert (imported / "model.safetensors").read_bytes() == (
        saved_run / "model.safetensors"
    ).read_bytes()
    assert {m.label for m in at.metric} >= {"Test accuracy", "Test loss"}
    assert at.download_button(key="eval-export") is not None
    assert at.download_button(key="eval-export-onnx").proto.label == "ONNX"
    assert at.download_button(key="eval-export-html").proto.label == "Offline page"
    # what the ONNX button gives when pressed: the run, for ONNX Runtime (tests/test_onnx.py)
    import onnx

    from ui.evaluate.export_buttons import _onnx_file

    graph = onnx.load_from_string(_onnx_file(str(imported))).graph
    assert [i.name for i in graph.input] == ["pixels"]


def test_import_refuses_garbage_with_invalid_run(tmp_path):
    with pytest.raises(InvalidRun):
        import_run(io.BytesIO(b"garbage"), tmp_path)


# --- Draw -----------------------------------------------------------------------------------


def test_draw_without_a_model_offers_the_quick_train(isolated_folders):
    at = _page(DRAW).run()
    assert not at.exception
    assert "No trained model yet" in _texts(at, "info")
    assert at.button(key="draw-quick-train").label.startswith("Train a model now")


def test_draw_with_a_model_and_an_empty_canvas_shows_a_hint_not_a_prediction(saved_run):
    at = _page(DRAW).run()
    assert not at.exception
    assert at.selectbox(key="draw-run").value == str(saved_run)
    html = _texts(at, "markdown")
    assert "Draw one digit" in html
    assert "dl-answer" not in html.split("</style>")[-1]
    assert not at.get("plotly_chart"), "no probability bars before anything is drawn"
    assert at.button(key="draw-clear") is not None


def test_draw_reuses_an_existing_quick_train_run(saved_run):
    summary_file = saved_run / "summary.json"
    summary = json.loads(summary_file.read_text())
    summary_file.write_text(json.dumps({**summary, "name": QUICK_NAME}))
    assert find_quick_run(saved_run.parent)["path"] == str(saved_run)
    at = _page(DRAW).run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "draw-quick-train"]


def test_quick_train_settings_are_valid_and_light():
    spec, config = quick_spec_config()
    spec.validate()
    config.validate()
    check_compatible(spec, config)
    assert config.epochs == 2 and config.augment.enabled and config.classes == list(range(10))
    from core.train import timebudget

    # light: a room waits for it (the uncorrected estimate; 23.6 s measured on one thread here)
    assert timebudget.raw_estimate(spec, config) < 60
    # each quick-train job gets its own settings: one page editing them changes no other job
    assert quick_spec_config()[1].augment is not config.augment


def test_draw_quick_train_button_starts_a_background_job(isolated_folders):
    from core.train.jobs import registry

    at = _page(DRAW).run()
    at.button(key="draw-quick-train").click().run()
    assert not at.exception
    job = registry().get(at.session_state["draw-quick-job"])
    try:
        assert job.name == QUICK_NAME and job.request.runs_dir == str(isolated_folders.resolve())
        assert not [b for b in at.button if b.key == "draw-quick-train"], "no second click"
        # owned by the session that clicked: private to it, and stopped once its tab is gone
        assert job.owner == at.session_state["_session_id"]
        other = _page(DRAW).run()
        assert [b for b in other.button if b.key == "draw-quick-train"], "another tab's own offer"
    finally:
        job.stop()
        job.wait(timeout=60)


def test_prediction_says_not_sure_below_half_with_the_two_leading_digits():
    from ui.shared.widgets import prediction_html

    unsure = prediction_html([0.1, 0.45, 0.3, 0.15], (0, 3, 7, 9))
    assert "Not sure" in unsure and "3<span" in unsure and "or </span>7" in unsure
    sure = prediction_html([0.9, 0.1], (3, 7))
    assert "Not sure" not in sure and ">3<" in sure and "90% sure" in sure


def test_probability_bars_are_labelled_with_the_runs_digits():
    from ui.charts.evaluation_figures import probability_figure

    figure = probability_figure([0.2, 0.8], (3, 7))
    bars = figure.data[0]
    assert list(bars.x) == ["3", "7"]
    assert bars.marker.color[1] != bars.marker.color[0], "the most likely digit stands out"


# --- Evaluate: importing a tutorial's state_dict --------------------------------------------


def _tutorial_weights() -> bytes:
    """The state_dict a tutorial saves: fc1, fc2, fc3 of a 784-128-128-10 MLP."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers = {"fc1": nn.Linear(784, 128), "fc2": nn.Linear(128, 128), "fc3": nn.Linear(128, 10)}
    state = {
        f"{name}.{key}": v
        for name, layer in layers.items()
        for key, v in layer.state_dict().items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_evaluate_imports_tutorial_weights_into_a_chosen_network(isolated_folders, data_dir):
    at = _page(EVALUATE).run()
    at.file_uploader(key="eval-import").set_value(
        ("mnist_mlp.pt", _tutorial_weights(), "application/octet-stream")
    )
    at.run()
    at.selectbox(key="eval-import-network").set_value("seed-mlp-128")
    at.button(key="eval-import-weights").click().run()
    assert not at.exception
    assert not at.error
    [summary] = [json.loads(p.read_text()) for p in isolated_folders.glob("*/summary.json")]
    assert summary["name"] == "seed-mlp-128" and summary["status"] == "imported"
    assert 0.0 <= summary["test_accuracy"] <= 1.0, "scored on the test set at once"
    assert at.selectbox(key="eval-run").value.endswith(summary["run_id"])
    assert {m.label for m in at.metric} >= {"Test accuracy", "Test loss"}


def test_evaluate_refuses_tutorial_weights_that_do_not_fit_the_chosen_network(isolated_folders):
    at = _page(EVALUATE).run()
    at.file_uploader(key="eval-import").set_value(
        ("mnist_mlp.pt", _tutorial_weights(), "application/octet-stream")
    )
    at.run()
    at.selectbox(key="eval-import-network").set_value("seed-mlp-512")
    at.button(key="eval-import-weights").click().run()
    assert not at.exception
    error = _texts(at, "error")
    assert "mnist_mlp.pt cannot be imported" in error
    assert "fc1.weight has shape (128, 784)" in error and "(512, 784)" in error
    assert not list(isolated_folders.glob("*/summary.json"))


def test_evaluate_lists_a_damaged_run_folder_and_keeps_it_out_of_the_picker(saved_run):
    broken = saved_run.parent / "20260101-000000-broken-0001"
    shutil.copytree(saved_run, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 10)  # a save cut short
    at = _page(EVALUATE).run()
    assert not at.exception
    expander = next(e for e in at.expander if "damaged run folder" in e.label)
    assert "1 damaged run folder skipped" in expander.label
    [listed] = [frame.value for frame in at.dataframe if "folder" in frame.value.columns]
    assert listed["folder"].tolist() == [broken.name]  # as text: a folder's name is anyone's
    assert all(broken.name not in option for option in at.selectbox(key="eval-run").options)


def test_the_first_visit_of_evaluate_finds_the_ready_models_scores_computed(monkeypatch):
    # issue 24: Evaluate's first visit scored the ready model on 10,000 digits (3.5 s in
    # Chromium); the server's first page run now starts that in a thread (ui/shared/warm_up.py)
    import time

    import streamlit as st

    from ui.shared import state, warm_up

    monkeypatch.setenv("DIGITLAB_READY_MODEL", "1")
    scored = []
    evaluate = state.evaluate_probabilities
    monkeypatch.setattr(
        state, "evaluate_probabilities", lambda *args: scored.append(1) or evaluate(*args)
    )
    st.cache_resource.clear()  # a fresh server: the warm-up has not run in this process
    try:
        app = Path(__file__).resolve().parent.parent / "app.py"
        at = AppTest.from_file(str(app), default_timeout=120).run()
        deadline = time.monotonic() + 60
        while not scored and time.monotonic() < deadline:  # the app's first run started it
            time.sleep(0.05)
        assert scored == [1]  # the warm-up scored the ready model, before anyone asked
        warm_up.start().join(120)  # the same thread: its yardstick done too
        at.switch_page("views/4_Evaluate.py").run()
        assert not at.exception
        assert any("Test accuracy" in m.label for m in at.metric)
        assert scored == [1]  # and the page used those scores
    finally:
        st.cache_resource.clear()
