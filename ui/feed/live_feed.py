"""A running job's live views fed over HTTP: the browser fetches the new points itself.

Used by the Train page (its curves, or the network's insides) and the Inside page's live part.

Polled by a Streamlit fragment, the live curves reran the page's script twice a second, and
each rerun cost the browser about 0.06 of a core whatever it drew (Streamlit redrawing the app
around the fragment; `python -m core bench --browser`, docs/performance.md). Here a small
component (ui/charts/live_chart_assets/live_feed.js) asks `GET <FEED_PATH>/<run id>` twice a second for
the job's progress line and the points its charts do not hold yet, and draws them with the
live charts' canvas renderer; the page's script does not run while a run trains, but for a
fragment every JOBS_POLL_SECONDS that keeps the tab's jobs alive and notices when they end.

The route is added to the running server's Starlette app (found through its uvicorn server:
Streamlit offers no other way for `streamlit run app.py` to add one). Where there is none (a
page run by AppTest, another server), `served()` is False and the page polls as before.
Answers are stateless: the browser says what it holds (`have`: per chart, the figure's
generation and its points per trace) and gets the rest, as in ui/charts/live_chart.py.
"""

from __future__ import annotations

import gc
import json
import math
import threading
from collections import OrderedDict
from urllib.parse import quote

from core.train.job import Job
from ui.charts.live_chart import (
    chart_payload,
    ignore_change,
    live_feed_component,
    plain_value,
)
from ui.charts.live_curves import StepColumns, curve_charts
from ui.feed.inside_feed import inside_reply
from ui.feed.progress_line import progress_line

FEED_PATH = "/_digitlab/live"
POLL_SECONDS = 0.5  # as the polled fragment did: the curves grow twice a second
MAX_HAVE_BYTES = 4096  # what the browser says it holds: a few charts' counts, a snapshot's stamp
CACHED_JOBS = 4  # step columns kept, one per job being watched
VIEWS = ("curves", "inside")  # what a feed answers: the Train page's two views

_installed = False
_tried = False  # a process either runs a server or not: one scan tells
_install_lock = threading.Lock()
_columns: OrderedDict[str, tuple[threading.Lock, StepColumns]] = OrderedDict()
_columns_lock = threading.Lock()


def served() -> bool:
    """Return whether this server answers the feed (install() found a uvicorn server)."""
    return _installed


def _starlette_app():
    """Return the running uvicorn server's Starlette app, or None where there is none."""
    try:
        import uvicorn
        from starlette.applications import Starlette
    except ImportError:
        return None
    # type(), not isinstance(): the latter reads some objects' __class__, and a few of torch's
    # warn when theirs is read
    for thing in gc.get_objects():
        if issubclass(type(thing), uvicorn.Server) and isinstance(thing.config.app, Starlette):
            return thing.config.app
    return None


def install(registry_of) -> bool:
    """Add the feed's route to the running server once; return whether it is served.

    registry_of() returns the job registry (ui.shared.state.registry, given here so that this
    module needs no Streamlit session). One scan of the live objects, once per process.
    """
    global _installed, _tried
    with _install_lock:
        if _installed or _tried:
            return _installed
        _tried = True
        app = _starlette_app()
        if app is None:
            return False
        from starlette.responses import Response
        from starlette.routing import Route

        async def endpoint(request) -> Response:
            import anyio

            run_id = request.path_params["run_id"]
            have = request.query_params.get("have", "")
            scale = request.query_params.get("scale", "1")
            view = request.query_params.get("view", "curves")
            body = await anyio.to_thread.run_sync(answer, registry_of(), run_id, have, scale, view)
            return Response(body, media_type="application/json", headers=NO_STORE)

        path = f"{_base()}{FEED_PATH}/{{run_id}}"
        app.router.routes.insert(0, Route(path, endpoint, methods=["GET"]))
        _installed = True
        return True


NO_STORE = {"Cache-Control": "no-store"}


def _base() -> str:
    """Return the server's base URL path ("" or "/some/path")."""
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def live_feed_view(job: Job, key: str, scale: float, view: str = "curves") -> None:
    """Draw the job's progress line and its curves (or, view "inside", the network's insides),
    which the browser then fetches by itself."""
    settings = {
        "url": f"{_base()}{FEED_PATH}/{quote(job.run_id, safe='')}",
        "view": view if view in VIEWS else "curves",
        "state": job.state,
        "device": job.progress()["device"],
        "scale": scale,
        "every": round(POLL_SECONDS * 1000),
    }
    data = json.dumps(settings, separators=(",", ":")).encode()
    live_feed_component()(key=key, data=data, height="content", on_moved_change=ignore_change)


def _job_columns(job: Job) -> tuple[threading.Lock, StepColumns]:
    """Return the job's step columns and their lock; shared by every browser watching it."""
    with _columns_lock:
        if job.run_id not in _columns:
            _columns[job.run_id] = (threading.Lock(), StepColumns())
            while len(_columns) > CACHED_JOBS:
                _columns.popitem(last=False)
        _columns.move_to_end(job.run_id)
        return _columns[job.run_id]


def _parse_have(text: str) -> dict:
    if not text or len(text) > MAX_HAVE_BYTES:
        return {}
    try:
        have = json.loads(text)
    except ValueError:
        return {}
    return have if isinstance(have, dict) else {}


def _curves_reply(job: Job, columns: StepColumns, have: dict, scale: float) -> dict:
    """Return the curves' new points, and the words that stand for charts not drawn yet."""
    charts, captions = curve_charts(job, columns, scale)
    payloads = {key: chart_payload(have, key, *chart) for key, *chart in charts}
    return {"charts": payloads, "captions": captions}


def answer(
    registry, run_id: str, have_text: str, scale_text: str = "1", view: str = "curves"
) -> bytes:
    """Return the feed's JSON for a job: its state, progress line and its charts' new points
    (view "inside": also the first layer's weights and the words around them)."""
    job = registry.get(run_id)
    if job is None:
        return json.dumps({"state": "gone"}).encode()
    try:
        scale = float(scale_text)
    except ValueError:
        scale = 1.0
    scale = min(max(scale, 0.5), 3.0) if math.isfinite(scale) else 1.0
    progress = job.progress()
    reply = {
        "state": job.state,
        "device": progress["device"],
        "fraction": min(progress["fraction"], 1.0),
        "text": progress_line(job, progress),
        "notice": job.plan.notice if job.plan is not None else None,
        "charts": {},
        "captions": [],
    }
    if job.state != "queued":
        have = _parse_have(have_text)
        lock, columns = _job_columns(job)
        with lock:  # two browsers' requests must not extend the same columns at once
            columns.update(job)
            feed = inside_reply if view == "inside" else _curves_reply
            reply.update(feed(job, columns, have, scale))
    return json.dumps(reply, separators=(",", ":"), allow_nan=False, default=plain_value).encode()
