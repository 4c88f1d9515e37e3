"""Pages with a bad run about: it is refused or listed as damaged, and every page still draws.

A run file one user uploads, or a folder someone copied in, is seen by every session. These
tests put such runs in the runs folder (or through the Import tab) and check that each page
draws its other parts, shows "—" for a missing value, names runs as text, and never shows a
traceback; and that an upload is checked once, not on every rerun.
"""

from __future__ import annotations

import io
import json
import logging
import math
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.runs.archive
from core.events import EpochEnded, Step
from core.runs.archive import export_run_bytes
from core.runs.listing import list_runs
from core.runs.store import InvalidRun, save_run
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec, build

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
EVALUATE = str(REPO / "views" / "4_Evaluate.py")
EVALUATE_TABS = [
    "Scores",
    "Mistakes",
    "My digits",
    "Compare runs",
    "Races",
    "Accuracy vs cost",
    "Import",
]
INSIDE = str(REPO / "views" / "6_Inside.py")
GOOD = "20261124-000000-good-0001"
STEPS = [Step(step=s, epoch=1, loss=2.3 - s / 10, lr=0.01, grad_norms=[0.1, 0.2]) for s in (1, 2)]
EPOCHS = [
    EpochEnded(
        epoch=1,
        step=2,
        train_loss=2.1,
        train_accuracy=0.2,
        val_loss=2.0,
        val_accuracy=0.25,
        seconds=1.0,
    )
]


@pytest.fixture(autouse=True)
def _needs_mnist(data_dir):
    """The pages score the runs on the real MNIST test set."""


def saved(runs: Path, run_id: str = GOOD, created: str = "2026-11-24T00:00:00+00:00", **summary):
    """A run with random weights (the pages score it all the same), saved the way jobs save."""
    spec = ModelSpec(dense=[DenseLayer(8)])
    summary = {"name": "good", "status": "finished", "created": created, **summary}
    return save_run(runs, run_id, spec, TrainConfig(), build(spec), summary, STEPS, EPOCHS)


def rewrite(folder: Path, file: str, change) -> None:
    data = json.loads((folder / file).read_text())
    change(data)
    (folder / file).write_text(json.dumps(data))


def page(path: str) -> AppTest:
    return AppTest.from_file(path, default_timeout=120).run()


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def everything_shown(at: AppTest) -> str:
    kinds = (
        "markdown",
        "caption",
        "error",
        "warning",
        "info",
        "success",
        "subheader",
        "header",
        "title",
    )
    return "\n".join(texts(at, kind) for kind in kinds)


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="eval-import").set_value((name, data, "application/zip"))
    return at.run()


def export_run_bytes_unchecked(folder: Path) -> bytes:
    """The run file of a folder, zipped as export_run does, without export's own check."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in core.runs.store.RUN_FILES:
            archive.write(folder / name, arcname=name)
    return buffer.getvalue()


# --- a bad run file from the Import tab ------------------------------------------------------


def test_a_crafted_run_file_is_refused_on_import_and_no_session_gets_it(isolated_folders, tmp_path):
    # was accepted ("parameters": "abc", a date in 2999) and became every new session's
    # default run; /evaluate then failed with "Cannot specify ',' with 's'"
    saved(isolated_folders)
    crafted = saved(tmp_path / "elsewhere", "29990101-000000-crafted-0001")
    rewrite(
        crafted, "summary.json", lambda s: s.update(parameters="abc", created="2999-01-01T00:00")
    )
    at = upload(page(EVALUATE), "crafted.digitlab.zip", export_run_bytes_unchecked(crafted))
    assert not at.exception
    assert "summary.json: created: '2999-01-01T00:00' must be a date" in texts(at, "error")
    assert [s["run_id"] for s in list_runs(isolated_folders)] == [GOOD]
    fresh = page(EVALUATE)
    assert not fresh.exception
    assert fresh.selectbox(key="eval-run").value.endswith(GOOD)


def test_an_upload_is_imported_once_however_often_the_page_reruns(
    isolated_folders, tmp_path, monkeypatch
):
    # the uploader keeps its file across reruns, and every rerun unzipped and checked it again
    calls = []
    real_import = core.runs.archive.import_run
    monkeypatch.setattr(
        "ui.evaluate.run_import.import_run", lambda *a: calls.append(1) or real_import(*a)
    )
    data = export_run_bytes(saved(tmp_path / "elsewhere", name="shared"))
    at = upload(page(EVALUATE), "shared.digitlab.zip", data)
    at.run()
    at.radio(key="eval-normalised").set_value("row-normalised").run()
    assert not at.exception
    assert len(calls) == 1
    assert "Imported **shared**" in texts(at, "success")


def test_a_refused_upload_is_checked_once_too(isolated_folders, monkeypatch):
    calls = []
    real_import = core.runs.archive.import_run
    monkeypatch.setattr(
        "ui.evaluate.run_import.import_run", lambda *a: calls.append(1) or real_import(*a)
    )
    at = upload(page(EVALUATE), "junk.digitlab.zip", b"not a zip")
    at.run().run()
    assert not at.exception
    assert len(calls) == 1
    assert "junk.digitlab.zip cannot be imported" in texts(at, "error")


def test_a_run_name_is_shown_as_text_not_as_markdown(isolated_folders, tmp_path):
    name = "**loud** [click me](http://example.com) _x_"
    data = export_run_bytes(saved(tmp_path / "elsewhere", name=name))
    at = upload(page(EVALUATE), "named.digitlab.zip", data)
    assert not at.exception
    success = texts(at, "success")
    assert r"\*\*loud\*\* \[click me\]\(http\:" in success
    assert "[click me](" not in success


# --- bad folders in the runs folder ---------------------------------------------------------


def test_a_folder_whose_metrics_miss_a_column_is_listed_as_damaged_not_opened(isolated_folders):
    # it was listed as a run; the newest is everyone's default, so Evaluate stopped at
    # "This run cannot be loaded" before its tabs: nobody could reach the Import tab
    saved(isolated_folders)
    broken = saved(isolated_folders, "20261125-000000-broken-0001", "2026-11-25T00:00:00+00:00")
    rewrite(broken, "metrics.json", lambda m: m["epochs"].pop("epoch"))
    at = page(EVALUATE)
    assert not at.exception and not at.error
    assert at.selectbox(key="eval-run").value.endswith(GOOD)
    assert [tab.label for tab in at.tabs] == EVALUATE_TABS
    assert at.file_uploader(key="eval-import") is not None
    [table] = [frame.value for frame in at.dataframe if "folder" in frame.value.columns]
    assert table["folder"].tolist() == [broken.name]
    assert "the epoch column is missing" in table["why"].tolist()[0]


def test_a_folder_with_text_in_its_metrics_leaves_the_inside_page_drawing(isolated_folders):
    # strings in grad_norms were accepted, and the Inside page failed in ui/charts/figures.py
    saved(isolated_folders)
    broken = saved(isolated_folders, "20261125-000000-broken-0001", "2026-11-25T00:00:00+00:00")
    rewrite(broken, "metrics.json", lambda m: m["steps"]["grad_norms"].__setitem__(0, ["a"]))
    at = page(INSIDE)
    assert not at.exception and not at.error
    assert at.selectbox(key="inside-run").value.endswith(GOOD)
    assert "Gradient norms per layer" in texts(at, "header")


def test_missing_and_odd_values_show_a_dash(isolated_folders):
    # a run saved with only a few fields, and NaN where a value could not be measured
    saved(isolated_folders, test_loss=math.nan, seconds=None)
    at = page(EVALUATE)
    assert not at.exception and not at.error
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Parameters"] == "—" and metrics["Training time"] == "—"
    [table] = [frame.value for frame in at.dataframe if "run" in frame.value.columns]
    assert table["test loss"].tolist() == ["—"] and table["parameters"].tolist() == ["—"]


def test_a_pt_import_made_without_mnist_shows_dashes_on_train(isolated_folders):
    # a .pt import while MNIST is unavailable saves test_accuracy: null; /train?job=<id>
    # failed with TypeError on it
    run_id = "20261124-000000-imported-0001"
    saved(isolated_folders, run_id, status="imported", test_accuracy=None, test_loss=None)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["job"] = run_id
    at.run().switch_page("views/3_Train.py").run()
    assert not at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Test accuracy"] == "—" and metrics["Test loss"] == "—"


# --- no traceback, ever -----------------------------------------------------------------------


def test_a_run_that_cannot_be_loaded_leaves_the_other_tabs_and_the_import(
    isolated_folders, monkeypatch
):
    saved(isolated_folders)

    def unloadable(path):
        raise InvalidRun("model.safetensors: 1.weight has shape (1,), expected (8, 784)")

    monkeypatch.setattr("ui.shared.state.cached_evaluation", unloadable)
    at = page(EVALUATE)
    assert not at.exception
    assert "This run cannot be loaded: model.safetensors" in texts(at, "error")
    assert [tab.label for tab in at.tabs] == EVALUATE_TABS
    assert at.file_uploader(key="eval-import") is not None


def test_an_unexpected_error_is_logged_and_shown_in_one_line_without_paths(
    isolated_folders, monkeypatch, caplog
):
    saved(isolated_folders)

    def broken_figure(*args, **kwargs):
        raise RuntimeError(f"secret detail at {REPO}/ui/figures.py")

    monkeypatch.setattr("ui.charts.evaluation_figures.run_curves_figure", broken_figure)
    with caplog.at_level(logging.ERROR, logger="digitlab.pages"):
        at = page(EVALUATE)
    assert not at.exception
    assert "The comparison could not be drawn (RuntimeError)" in texts(at, "error")
    shown = everything_shown(at)
    assert "secret detail" not in shown and str(REPO) not in shown and "Traceback" not in shown
    assert at.file_uploader(key="eval-import") is not None, "the Import tab is drawn all the same"
    [record] = [r for r in caplog.records if r.name == "digitlab.pages"]
    assert record.exc_info and "secret detail" in str(record.exc_info[1])


def test_an_error_no_section_catches_is_shown_without_its_details(isolated_folders, monkeypatch):
    # .streamlit/config.toml: showErrorDetails = "none"; Streamlit logs the traceback instead
    def broken(*args, **kwargs):
        raise RuntimeError(f"secret detail at {REPO}/ui/state.py")

    monkeypatch.setattr("ui.shared.state.saved_runs", broken)
    at = page(EVALUATE)
    assert at.exception, "the error still reaches the tests"
    shown = "\n".join(e.message + "".join(e.stack_trace or []) for e in at.exception)
    assert "secret detail" not in shown and str(REPO) not in shown
