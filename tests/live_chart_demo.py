"""A page whose live charts grow by a few points twice a second, and the measurement of their cost.

`streamlit run tests/live_chart_demo.py` shows ui.charts.live_chart's charts (the browser test drives
it). `?chart=plotly` draws the same data with st.plotly_chart instead, to compare, and
`?chart=none` neither (the page's own cost); `?total=`, `?step=` and `?start=` set how many
points each trace reaches, gains per rerun and starts with.

`python tests/live_chart_demo.py` (plain Python, no server) runs the page through AppTest in both
ways at 5,000 points and prints the bytes each rerun sends and the server CPU it costs.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `streamlit run` puts only tests/ on the path

from ui.charts.curve_figures import LR_AXES, LR_COLOR, loss_axes  # noqa: E402
from ui.charts.figures import RAW_LINE, TRAIN_COLOR, VAL_COLOR  # noqa: E402
from ui.charts.live_chart import Trace, figure_layout, live_lines  # noqa: E402

STATS_KEY = "demo_stats"
LOSS_LAYOUT = loss_axes()  # the Train page's
LR_LAYOUT = dict(showlegend=False, **LR_AXES)
VAL_EVERY = 100  # one validation point per 100 steps, as after each epoch


@st.cache_resource
def curves(total: int) -> dict[str, np.ndarray]:
    """Return made-up training curves of total steps: noisy loss with gaps, its mean, val, lr."""
    rng = np.random.default_rng(0)
    steps = np.arange(total)
    loss = (2.3 * np.exp(-steps / 1500) + 0.08) * np.exp(rng.normal(0, 0.25, total))
    loss[steps % 997 == 500] = np.nan  # a diverged step: plotly leaves a gap
    window = 50
    sums = np.cumsum(np.nan_to_num(loss))
    smoothed = (sums - np.concatenate([np.zeros(window), sums[:-window]])) / np.minimum(
        steps + 1, window
    )
    val_steps = steps[VAL_EVERY - 1 :: VAL_EVERY]
    val = 2.3 * np.exp(-val_steps / 1500) + 0.1
    lr = 0.1 * 0.5 * (1 + np.cos(np.pi * steps / total))
    return dict(steps=steps, loss=loss, smoothed=smoothed, val_steps=val_steps, val=val, lr=lr)


def loss_traces(data: dict[str, np.ndarray], n: int) -> list[Trace]:
    val_n = n // VAL_EVERY
    return [
        Trace("loss per step", data["steps"][:n], data["loss"][:n], color=RAW_LINE, width=1),
        Trace("smoothed", data["steps"][:n], data["smoothed"][:n], color=TRAIN_COLOR, width=2.5),
        Trace(
            "validation",
            data["val_steps"][:val_n],
            data["val"][:val_n],
            color=VAL_COLOR,
            width=2,
            mode="lines+markers",
        ),
    ]


def lr_traces(data: dict[str, np.ndarray], n: int) -> list[Trace]:
    return [Trace("learning rate", data["steps"][:n], data["lr"][:n], color=LR_COLOR, width=2)]


def plotly_chart(key: str, traces: list[Trace], layout: dict, height: int) -> None:
    """Draw the same traces the way the Train page does today: a whole new figure each rerun."""
    import plotly.graph_objects as go

    figure = go.Figure(
        [
            go.Scatter(
                x=t.x, y=t.y, name=t.name, mode=t.mode, line=dict(color=t.color, width=t.width)
            )
            for t in traces
        ],
        layout=figure_layout(layout, height),
    )
    st.plotly_chart(figure, key=key, config={"displayModeBar": False})


@contextmanager
def measured(label: str):
    """Record the bytes this block sends the browser and the CPU it takes, under label."""
    ctx = get_script_run_ctx()
    sizes: list[int] = []
    send = ctx._enqueue  # every ForwardMsg of this run passes here, already serialised once

    def counting(msg):
        sizes.append(msg.ByteSize())
        send(msg)

    ctx._enqueue = counting
    cpu = time.thread_time()
    try:
        yield
    finally:
        ctx._enqueue = send
        stats = st.session_state.setdefault(STATS_KEY, [])
        stats.append(dict(label=label, bytes=sum(sizes), cpu_ms=1000 * (time.thread_time() - cpu)))


def page() -> None:
    st.set_page_config(page_title="Live chart demo", layout="wide")  # the app is wide too
    params = st.query_params
    chart = params.get("chart", "live")
    total, step = int(params.get("total", 10_000)), int(params.get("step", 20))
    st.session_state.setdefault("points", int(params.get("start", 0)))
    st.session_state.setdefault("pings", 0)
    data = curves(total)

    st.title("Live chart demo")
    st.caption(f"{chart}: three traces grow by {step} points every half second up to {total:,}.")
    if st.button("Ping"):
        st.session_state.pings += 1
    st.write(f"Pings: {st.session_state.pings}")
    shown = st.toggle("Show the charts", value=True)  # off and on again: a new mount

    draw = {"live": live_lines, "plotly": plotly_chart, "none": lambda *args, **kwargs: None}[chart]

    @st.fragment(run_every=float(params.get("every", 0.5)))
    def live() -> None:
        n = st.session_state.points = min(total, st.session_state.points + step)
        st.session_state.reruns = st.session_state.get("reruns", 0) + 1
        if not shown:
            st.caption(f"rerun {st.session_state.reruns} · step {n:,}/{total:,}")
            return
        loss_tab, lr_tab = st.tabs(["Loss", "Learning rate"])
        with loss_tab, measured(f"{chart} loss"):
            draw("demo-loss", loss_traces(data, n), LOSS_LAYOUT, height=280)
        with lr_tab, measured(f"{chart} lr"):
            draw("demo-lr", lr_traces(data, n), LR_LAYOUT, height=190)
        last = st.session_state[STATS_KEY][-2]
        st.caption(
            f"rerun {st.session_state.reruns} · step {n:,}/{total:,} · the loss chart sent"
            f" {last['bytes']:,} bytes and took {last['cpu_ms']:.2f} ms of server CPU this rerun"
        )

    live()


def bench(points: int = 5000, reruns: int = 20) -> None:
    """Print bytes and server CPU per rerun for live_lines and st.plotly_chart at points."""
    import logging

    from streamlit.testing.v1 import AppTest

    # AppTest itself writes session state outside a script run, which Streamlit warns about
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").disabled = True
    print(f"the loss chart: 3 traces at {points:,} points; mean of {reruns} reruns after the first")
    for growth, chart in [(20, "live"), (20, "plotly"), (0, "live"), (0, "plotly")]:
        app = AppTest.from_file(str(Path(__file__).resolve()), default_timeout=60)
        total = points + growth * (reruns + 1)
        app.query_params.update(chart=chart, start=str(points), total=str(total), step=str(growth))
        for _ in range(reruns + 1):
            app.run()
        loss = [s for s in app.session_state[STATS_KEY] if s["label"].endswith("loss")]
        first, later = loss[0], loss[1:]
        mean_bytes = sum(s["bytes"] for s in later) / len(later)
        mean_cpu = sum(s["cpu_ms"] for s in later) / len(later)
        print(
            f"{chart:>6}, +{growth} points per trace per rerun:"
            f" first run {first['bytes']:>7,} B {first['cpu_ms']:5.1f} ms,"
            f" then {mean_bytes:>7,.0f} B {mean_cpu:5.2f} ms per rerun"
        )


if get_script_run_ctx(suppress_warning=True) is not None:
    page()
elif __name__ == "__main__":
    bench()
