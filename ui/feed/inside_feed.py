"""The "Inside the network" view fed over HTTP, as the curves are (live_feed.py): the Train
page's view and the Inside page's live part.

Polled by a Streamlit fragment once a second, the view cost the browser 0.20 of a core on a
2-core machine (`python -m core bench --app`, 2026-12-06), against 0.11 for the fed curves:
each rerun redrew the page around the fragment and sent a new weight image through the media
endpoint. Here the feed's answer for the view holds the first layer's weight tiles (a PNG, sent
only when the browser holds another snapshot), the live PCA and the gradient norms (as the
curves' charts: only their new points), and the words around them, all made by the same
functions the polled view uses (ui/shared/inside_views.py).
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict

from PIL import Image

from core.data.datasets import get_dataset
from core.events import FeaturesSnapshot, WeightsSnapshot
from core.train.job import Job
from ui.charts.live_chart import chart_payload
from ui.charts.live_curves import (
    FEATURES_HEIGHT,
    GRADS_HEIGHT,
    StepColumns,
    features_chart,
    grad_norms_chart,
)
from ui.shared import inside_views, widgets

CACHED_IMAGES = 8  # one weight image per job watched, made once for every browser

_images: OrderedDict[tuple, str] = OrderedDict()
_images_lock = threading.Lock()


def _stamp(snapshot: WeightsSnapshot) -> str:
    """Return a name for a weight snapshot that the browser echoes back."""
    return f"{snapshot.step}:{snapshot.time:.6f}"


def weights_image(run_id: str, snapshot: WeightsSnapshot) -> str:
    """Return the snapshot's weight tiles as a PNG data URL, encoded once per snapshot."""
    key = (run_id, _stamp(snapshot))
    with _images_lock:
        if key in _images:
            return _images[key]
    columns, size = inside_views.LIVE_TILE_COLUMNS, inside_views.LIVE_TILE_SIZE
    pixels = widgets.weight_grid_image(snapshot.weights, columns, size)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    with _images_lock:
        _images[key] = url
        while len(_images) > CACHED_IMAGES:
            _images.popitem(last=False)
    return url


def _weights(job: Job, snapshot: WeightsSnapshot, held: object) -> dict:
    count, conv = len(snapshot.weights), bool(job.spec.conv)
    total = job.plan.first_layer_units or count
    reply = {
        "title": inside_views.WEIGHTS_TITLE,
        "stamp": _stamp(snapshot),
        "detail": inside_views.step_words(snapshot.step),
        "caption": inside_views.weights_caption(count, conv, total),
        "alt": inside_views.weights_alt(count, conv),
    }
    if held != reply["stamp"]:  # the browser holds another snapshot's picture, or none
        reply["image"] = weights_image(job.run_id, snapshot)
    return reply


def inside_reply(job: Job, columns: StepColumns, have: dict, scale: float) -> dict:
    """Return the view's part of the feed's answer: {"inside": words and the weight image,
    "charts": the live PCA's and the gradient norms' new points}."""
    snapshot = job.snapshot(WeightsSnapshot)
    if job.plan is None or snapshot is None:
        return {"inside": {"waiting": inside_views.WAITING_INSIDE}, "charts": {}}
    inside = {"weights": _weights(job, snapshot, have.get("weights"))}
    charts = {}
    latest = job.snapshot(FeaturesSnapshot)
    if latest is not None:
        classes = get_dataset(job.config.dataset).labels(job.config.classes)
        traces, layout = features_chart(latest, classes, scale)
        # a new projection moves every point: its stamp in the layout makes it a new figure
        layout["meta"] = f"{latest.step}:{latest.time:.6f}"
        charts["features"] = chart_payload(have, "features", traces, layout, FEATURES_HEIGHT)
        inside["features"] = {
            "title": inside_views.FEATURES_TITLE,
            "detail": inside_views.features_heading(latest.step),
            "caption": inside_views.features_caption(len(latest.labels)),
        }
    grads = grad_norms_chart(job, columns, scale)
    if grads is not None:
        charts["grads"] = chart_payload(have, "grads", *grads, GRADS_HEIGHT)
    caption = inside_views.GRAD_NORMS_CAPTION if grads else inside_views.NO_GRADS
    inside["grads"] = {"title": inside_views.GRADS_TITLE, "caption": caption}
    return {"inside": inside, "charts": charts}
