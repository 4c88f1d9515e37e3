"""The Train page's feed (ui/feed/live_feed.py) answers what it is asked, whatever it is asked."""

from __future__ import annotations

import base64
import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image

from core.events import FeaturesSnapshot, WeightsSnapshot
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.train.jobs import JobRegistry
from ui.feed import live_feed
from ui.feed.progress_line import STARTING
from ui.shared import inside_views, widgets


class QueuedJob:
    """A job still waiting for a worker: no plan, no steps."""

    state = "queued"
    plan = None

    def progress(self) -> dict:
        return {"device": None, "fraction": 0.0}


class Registry:
    def __init__(self, jobs: dict) -> None:
        self.jobs = jobs

    def get(self, run_id: str):
        return self.jobs.get(run_id)


def test_an_unknown_job_is_gone():
    assert json.loads(live_feed.answer(Registry({}), "nope", "")) == {"state": "gone"}


@pytest.mark.parametrize("have", ["", "not json", "[1, 2]", '{"loss": 5}', "{" * 5000])
@pytest.mark.parametrize("scale", ["1", "nan", "inf", "-3", "huge"])
def test_a_queued_job_answers_its_line_whatever_the_browser_says(have, scale):
    reply = json.loads(live_feed.answer(Registry({"r": QueuedJob()}), "r", have, scale))
    assert reply["state"] == "queued" and reply["text"] == STARTING
    assert reply["charts"] == {} and reply["fraction"] == 0.0


def test_outside_a_server_the_page_polls_as_before():
    # no uvicorn server runs in a test process: the route is not added, and the page knows
    assert live_feed.install(lambda: Registry({})) is False
    assert live_feed.served() is False


# --- the "Inside the network" view (ui/feed/inside_feed.py) --------------------------------


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A registry and a small job it trained: its snapshots and gradient norms stay readable."""
    registry = JobRegistry(executor="thread")
    config = TrainConfig(epochs=1, batch_size=64, train_fraction=0.05)
    runs = tmp_path_factory.mktemp("runs")
    job = registry.submit(ModelSpec(), config, name="inside", data_dir=data_dir, runs_dir=runs)
    assert job.wait(timeout=300) and job.state == "finished", job.error
    return registry, job


def _points(values) -> int:
    if isinstance(values, list):
        return len(values)
    ((kind, text),) = values.items()
    return len(base64.b64decode(text)) // (4 if kind == "i4" else 8)


def _held(reply: dict) -> dict:
    """Return what a browser holds after drawing a reply that sent whole figures."""
    charts = reply["charts"]
    held = {
        k: {"gen": c["gen"], "counts": [_points(t["y"]) for t in c["traces"]]}
        for k, c in charts.items()
    }
    return {"weights": reply["inside"]["weights"]["stamp"], **held}


def test_the_inside_view_gets_the_weights_picture_once_then_only_what_is_new(trained):
    registry, job = trained
    first = json.loads(live_feed.answer(registry, job.run_id, "", "1", "inside"))
    weights = first["inside"]["weights"]
    snapshot = job.snapshot(WeightsSnapshot)
    # the picture the polled view draws, at the step it says
    png = base64.b64decode(weights["image"].removeprefix("data:image/png;base64,"))
    tiles = (inside_views.LIVE_TILE_COLUMNS, inside_views.LIVE_TILE_SIZE)
    expected = widgets.weight_grid_image(snapshot.weights, *tiles)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), expected)
    assert weights["title"] == inside_views.WEIGHTS_TITLE
    assert weights["detail"] == f"step {snapshot.step:,}"
    assert weights["caption"] == inside_views.weights_caption(len(snapshot.weights), False, 128)
    features = job.snapshot(FeaturesSnapshot)
    assert first["inside"]["features"]["caption"] == inside_views.features_caption(
        len(features.labels)
    )
    assert first["inside"]["grads"]["caption"] == inside_views.GRAD_NORMS_CAPTION
    assert sorted(first["charts"]) == ["features", "grads"]
    assert sum(_points(t["x"]) for t in first["charts"]["features"]["traces"]) == len(
        features.labels
    )

    again = json.loads(
        live_feed.answer(registry, job.run_id, json.dumps(_held(first)), "1", "inside")
    )
    assert "image" not in again["inside"]["weights"]  # the browser holds this snapshot's
    for chart in again["charts"].values():
        assert "traces" not in chart and all(_points(x) == 0 for x in chart["x"])


def test_a_new_projection_is_sent_whole_though_its_points_are_as_many(trained, monkeypatch):
    registry, job = trained
    first = json.loads(live_feed.answer(registry, job.run_id, "", "1", "inside"))
    latest = job.snapshot(FeaturesSnapshot)
    # the next projection: every point moved, as many of them, the same share explained
    moved = dataclasses.replace(latest, coords=latest.coords[::-1].copy(), time=latest.time + 2)
    real = job.snapshot
    monkeypatch.setattr(
        job, "snapshot", lambda kind: moved if kind is FeaturesSnapshot else real(kind)
    )
    reply = json.loads(
        live_feed.answer(registry, job.run_id, json.dumps(_held(first)), "1", "inside")
    )
    assert "traces" in reply["charts"]["features"]
    assert "traces" not in reply["charts"]["grads"]  # the gradient norms only grow


def test_the_curves_view_is_still_the_default(trained):
    registry, job = trained
    reply = json.loads(live_feed.answer(registry, job.run_id, "", "1"))
    assert sorted(reply["charts"]) == ["epochs", "loss", "lr"] and "inside" not in reply


def test_before_the_first_snapshot_the_inside_view_says_so():
    class Starting(QueuedJob):
        """A job whose worker has started it: no plan, no step, no snapshot yet."""

        state, run_id = "running", "starting"

        def snapshot(self, kind):
            return None

        def step_count(self) -> int:
            return 0

        epoch_count = step_count

        def steps(self, start):
            return []

        epochs = steps

    reply = json.loads(live_feed.answer(Registry({"r": Starting()}), "r", "", "1", "inside"))
    assert reply["inside"] == {"waiting": inside_views.WAITING_INSIDE}
