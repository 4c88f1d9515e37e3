"""Live line charts drawn on a canvas in the browser; each rerun sends only the new points.

`live_lines(key, traces, layout)` is called like `st.plotly_chart`, with the full data of every
trace on every rerun, but the browser keeps the chart and appends the new points: the server
no longer rebuilds and re-sends whole figures twice a second, nor does the browser parse and
redraw them whole. The traces and layout are plotly's (checked by plotly.py); the browser draws
them with live_chart_assets/live_canvas.js, a small renderer of the part of plotly that these
charts use (lines and markers, linear and log axes, side-by-side panels, a legend, marker lines
and their words, a hover box). plotly.js took about 35 ms a redraw whatever the points, most of
what watching a run cost the browser (issue 27, docs/performance.md); the canvas takes about a
millisecond. The finished run's charts stay plotly figures.

It is a Streamlit Components v2 element (`st.components.v2.component`): the registered
JavaScript's default export receives `{data, key, parentElement, setStateValue}` each time the
element's data changes (Streamlit skips it when a rerun's delta is byte-identical: an idle chart
costs the browser nothing), and the cleanup it returns runs on unmount. `isolate_styles=False`:
the chart reads Streamlit's theme (its CSS variables) from the page. It lives in the page's DOM
(`div.live-lines`, holding the canvas; like a plotly graph div, `div.data` holds the traces
drawn). `data` goes as bytes of compact JSON, numbers as base64 arrays (`_encoded`), which
Streamlit forwards untouched.

How the JavaScript reaches the browser. The registered JavaScript travels inside every delta
(`BidiComponent.js_content`, see streamlit/components/v2/bidi_component/main.py), so it is a
300-byte loader; Streamlit's custom-component file route serves `ui/charts/live_chart_assets/`
(registered with `components.v1.declare_component(path=...)`, the one public way for a module
that is not an installed package to serve files), and the loader imports live_chart.js and
live_canvas.js from there, each URL carrying the file's hash: Streamlit serves them with
`Cache-Control: public` and no validator, so a changed file must change its URL.

Protocol. Python keeps in `st.session_state` what it sent each chart (`_Sent`): a generation
(bumped by every full figure), the number of points of each trace, and the last point of each.
Each rerun it sends one of:

- a full figure, `{"gen", "layout", "traces"}`, when a trace's style or the layout changed, a
  trace shrank or its last sent point reads differently (another run under the same key), or
  the browser asked for it; the browser draws it with `Plotly.react`;
- else the new points, `{"gen", "start", "x", "y"}`: per trace, the points from `start` on. The
  browser appends what lies beyond the points it holds and ignores any overlap. With nothing
  new the data is about 80 bytes, and the browser is not even called.

Sends are optimistic, as the websocket delivers in order; the browser speaks up only when it
lacks something: a new mount (the chart left the page and came back), a skipped payload (a gap:
`start` beyond what it holds) or a generation it does not hold. It reports
`{"mount", "seq", "gen", "counts"}` with `setStateValue("have", ...)`; that triggers a rerun in
which Python resumes from those counts (or sends a full figure) and echoes `ack: [mount, seq]`,
so the browser reports again only if Python has read its report and the gap remains. Points
already sent are taken as final: a caller whose earlier points change (a smoothing window that
grows) must change the layout or the key. A chart nobody can see stores what arrives and
draws it in one go when it is seen: in a hidden Streamlit tab (at its tab's width, when it shows),
scrolled out of view (an IntersectionObserver) or in a background browser tab
(`document.hidden`); a ResizeObserver fits a shown chart to its container.

Cost, measured by `python tests/live_chart_demo.py` (the demo page through AppTest: the bytes
of the chart's ForwardMsgs and the script thread's CPU time for the call, building the
go.Figure included for st.plotly_chart; 3 traces at 5,000 points, mean of 20 reruns; the
times vary by about 20% between runs on a shared machine):

    20 new points per trace per rerun: live_lines 1,282 B 0.70 ms, st.plotly_chart 175,653 B 6.6 ms
    nothing new:                       live_lines   598 B 0.62 ms, st.plotly_chart 168,177 B 6.4 ms
    first run (whole figure):          live_lines 163,059 B 8 ms,  st.plotly_chart 168,815 B 16 ms

In Chromium, the watched Train page: `python -m core bench --browser` and `bench --app`
(docs/performance.md, "The live charts on a canvas"); the charts cost about 0.01 of a core.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit import config
from streamlit.components.v1 import declare_component

ASSETS_DIR = Path(__file__).with_name("live_chart_assets")
DEFAULT_MARGIN = dict(l=50, r=10, t=36, b=40)  # ui/charts/figures.py's compact look
DEFAULT_FONT_SIZE = 13


@dataclass
class Trace:
    """One line of a live chart: its full data so far and how it looks."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str | None = None
    width: float = 1.5
    dash: str | None = None
    yaxis: str = "y"
    mode: str = "lines"
    xaxis: str = "x"
    showlegend: bool = True
    hovertemplate: str | None = None
    symbol: str | None = None  # the marker's shape, for mode "markers"

    def style(self) -> dict:
        """Return the plotly trace without its points."""
        line = {"color": self.color, "width": self.width, "dash": self.dash}
        marker = {"color": self.color, "symbol": self.symbol} if self.symbol else None
        trace = {
            "type": "scatter",
            "name": self.name,
            "mode": self.mode,
            "line": {k: v for k, v in line.items() if v is not None},
            "marker": marker,
            "xaxis": self.xaxis,
            "yaxis": self.yaxis,
            "showlegend": self.showlegend,
            "hovertemplate": self.hovertemplate,
        }
        return {k: v for k, v in trace.items() if v is not None}


@dataclass
class _Sent:
    """What Python sent one chart: the browser holds this unless it reports otherwise."""

    gen: int = 0
    shape: str = ""
    counts: list[int] | None = None  # None: send a full figure
    last_points: list[tuple[int, object, object]] = field(default_factory=list)
    ack: list = field(default_factory=list)  # [mount, seq] of the last report seen


def _encoded(values: Sequence) -> dict | list:
    """Return values for the browser: numbers as little-endian base64, anything else as a list.

    {"i4": ...} for integers, {"f8": ...} for the rest; NaN, None and infinities become NaN,
    which plotly draws as a gap. Dates and names go as strings.
    """
    if len(values) == 0:
        return []
    array = np.asarray(values)
    if array.dtype.kind in "iub" and array.min() >= -(2**31) and array.max() < 2**31:
        return {"i4": base64.b64encode(array.astype("<i4").tobytes()).decode()}
    try:
        array = np.asarray(values, dtype="<f8")
    except (TypeError, ValueError):
        return [str(v) if v is not None else None for v in values]
    array = np.where(np.isfinite(array), array, np.nan)
    return {"f8": base64.b64encode(array.tobytes()).decode()}


def _point(values: Sequence, index: int) -> object:
    """Return values[index] as a plain Python value that compares equal to itself (NaN: None)."""
    value = values[index]
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _last_point(trace: Trace, count: int) -> tuple[int, object, object]:
    if count == 0:
        return (0, None, None)
    return (count, _point(trace.x, count - 1), _point(trace.y, count - 1))


def _changed(trace: Trace, last: tuple[int, object, object]) -> bool:
    """Whether the point Python sent last for this trace now reads differently (new data)."""
    count = last[0]
    return count > 0 and (
        min(len(trace.x), len(trace.y)) < count or _last_point(trace, count) != last
    )


def plain_value(value: object) -> object:
    """Return numpy arrays and scalars as lists and numbers, for JSON."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _plotly_layout(layout: dict) -> dict:
    """Return layout as plotly.js 3 reads it: checked by plotly.py, titles as {"text": ...}."""
    import plotly.graph_objects as go  # only for full figures: its first import takes a second

    return go.Layout(layout).to_plotly_json()


def figure_layout(layout: dict, height: int) -> dict:
    """Return the plotly layout: ui/charts/figures.py's compact defaults under the caller's layout."""
    defaults = dict(
        height=height,
        margin=DEFAULT_MARGIN,
        font=dict(size=DEFAULT_FONT_SIZE),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )
    return {**defaults, **layout}


def _shape(traces: Sequence[Trace], layout: dict) -> str:
    """Return a name for the figure without its points: the same while only points are added."""
    return hashlib.sha1(
        json.dumps(
            [layout, [t.style() for t in traces]], sort_keys=True, default=plain_value
        ).encode()
    ).hexdigest()[:12]


def _full(traces: Sequence[Trace], counts: list[int], layout: dict) -> dict:
    return {
        "layout": _plotly_layout(layout),
        "traces": [
            {**t.style(), "x": _encoded(t.x[:n]), "y": _encoded(t.y[:n])}
            for t, n in zip(traces, counts)
        ],
    }


def _points_from(traces: Sequence[Trace], starts: list[int], counts: list[int]) -> dict:
    return {
        "start": starts,
        "x": [_encoded(t.x[s:n]) for t, s, n in zip(traces, starts, counts)],
        "y": [_encoded(t.y[s:n]) for t, s, n in zip(traces, starts, counts)],
    }


def feed_payload(held: dict | None, traces: Sequence[Trace], layout: dict) -> dict:
    """Return what a browser needs that holds `held` ({"gen", "counts"} or None): the new
    points, or the whole figure where it holds another one (its generation names the shape)."""
    shape = _shape(traces, layout)
    counts = [min(len(t.x), len(t.y)) for t in traces]
    have = held.get("counts") if held and held.get("gen") == shape else None
    valid = (
        isinstance(have, list)
        and len(have) == len(traces)
        and all(isinstance(h, int) and 0 <= h <= n for h, n in zip(have, counts))
    )
    body = _points_from(traces, have, counts) if valid else _full(traces, counts, layout)
    return {"gen": shape, "height": layout.get("height"), **body}


def chart_payload(have: dict, key: str, traces: Sequence[Trace], layout: dict, height: int):
    """Return feed_payload for the chart `key` of a browser that says it holds `have`."""
    held = have.get(key) if isinstance(have.get(key), dict) else None
    return feed_payload(held, traces, figure_layout(layout, height))


def next_payload(sent: _Sent, report: dict | None, traces: Sequence[Trace], layout: dict) -> dict:
    """Return what to send the browser this rerun, and update sent to match."""
    shape = _shape(traces, layout)
    if report and [report.get("mount"), report.get("seq")] != sent.ack:
        sent.ack = [report.get("mount"), report.get("seq")]
        same_figure = report.get("gen") == sent.gen and len(report.get("counts", ())) == len(traces)
        sent.counts = list(report["counts"]) if same_figure else None
    counts = [min(len(t.x), len(t.y)) for t in traces]
    full = (
        shape != sent.shape
        or sent.counts is None
        or len(sent.counts) != len(traces)
        or any(now < before for now, before in zip(counts, sent.counts))
        or any(_changed(t, last) for t, last in zip(traces, sent.last_points))
    )
    if full:
        sent.gen += 1
        sent.shape = shape
        payload = _full(traces, counts, layout)
    else:
        payload = _points_from(traces, sent.counts, counts)
    sent.counts = counts
    sent.last_points = [_last_point(t, n) for t, n in zip(traces, counts)]
    return {"gen": sent.gen, "ack": sent.ack, "height": layout.get("height"), **payload}


def _files(name: str, folder: Path) -> str:
    """Serve folder at /component/<module>.<name>/ and return that URL path."""
    served = declare_component(name, path=folder)
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/component/{served.name}/" if base else f"/component/{served.name}/"


def _version(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:10]


def _asset_urls(*names: str) -> list[str]:
    """Return the served URLs of asset files, each carrying the file's hash: Streamlit serves
    them with `Cache-Control: public` and no validator, so a changed file must change URL."""
    assets = _files("assets", ASSETS_DIR)
    return [f"{assets}{name}?v={_version(ASSETS_DIR / name)}" for name in names]


def _imports(names: tuple[str, ...]) -> str:
    """Return JavaScript that imports the named assets as the list `modules`."""
    urls = ", ".join(
        f"new URL({json.dumps(url)}, location.origin).href" for url in _asset_urls(*names)
    )
    return (
        f"const urls = [{urls}];\nconst load = () => Promise.all(urls.map((url) => import(url)));\n"
    )


def _loader_js() -> str:
    return _imports(("live_chart.js", "live_canvas.js")) + (
        "export default async (component) => {\n"
        "  const [chart, canvas] = await load();\n"
        "  return chart.render(component, canvas.drawChart);\n"
        "};\n"
    )


def _feed_loader_js() -> str:
    return _imports(("live_feed.js", "live_chart.js", "live_canvas.js")) + (
        "export default async (component) => {\n"
        "  const [feed, chart, canvas] = await load();\n"
        "  return feed.render(component, chart, canvas.drawChart);\n"
        "};\n"
    )


_components: dict[str, object] = {}


def _registered(name: str, js) -> object:
    # registered in the first script run: declare_component serves files only inside one
    if name not in _components:
        _components[name] = st.components.v2.component(name, js=js(), isolate_styles=False)
    return _components[name]


def _live_lines_component():
    return _registered("digitlab.live_lines", _loader_js)


def live_feed_component():
    """Return the fed live view's component (ui/feed/live_feed.py), registered once."""
    return _registered("digitlab.live_feed", _feed_loader_js)


def ignore_change() -> None:
    """Streamlit pairs each state key of a component with an on_<key>_change callback."""


def live_lines(key: str, traces: Sequence[Trace], layout: dict, height: int = 280) -> None:
    """Draw line charts that grow; the browser is sent only the points it does not hold yet."""
    layout = figure_layout(layout, height)
    sent = st.session_state.setdefault(f"_live_lines_sent:{key}", _Sent())
    state = st.session_state.get(key) or {}
    payload = next_payload(sent, state.get("have"), traces, layout)
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=plain_value).encode()
    _live_lines_component()(key=key, data=data, height="content", on_have_change=ignore_change)
