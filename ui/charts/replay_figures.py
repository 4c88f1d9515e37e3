"""Plotly figures of a run's replay (core.train.replay): the animated projection, the digits' answers."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.runs.replay_files import Replay
from ui.charts import palette
from ui.charts.figures import compact
from ui.shared.words import with_article

FRAME_MS = 700  # how long each frame of the browser's animation shows
MOVE_MS = 500  # of which the points spend this long moving to their next place


def frame_label(replay: Replay, frame: int) -> str:
    """Return how a frame is named on the sliders: 'step 200 · epoch 1'."""
    step, epoch = replay.steps[frame], replay.epochs[frame]
    return "before training" if step == 0 else f"step {step:,} · epoch {epoch}"


def _points(replay: Replay, frame: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coords = replay.coords[frame].float().numpy()
    return coords[rows, 0], coords[rows, 1]


def _rows_by_class(replay: Replay) -> dict[int, np.ndarray]:
    labels = replay.labels.numpy()
    present = sorted(set(labels.tolist()))
    return {c: np.flatnonzero(labels == c) for c in present}


def _digit_trace(
    replay: Replay, frame: int, digit, rows: np.ndarray, indices: np.ndarray
) -> go.Scatter:
    x, y = _points(replay, frame, rows)
    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=str(digit),
        marker=dict(
            size=6,
            color=palette.DIGITS[palette.class_position(digit)],
            symbol=palette.DIGIT_SYMBOLS[palette.class_position(digit)],
            opacity=0.75,
        ),
        customdata=indices[rows],
        hovertemplate=f"digit {digit} · test #%{{customdata}}<extra></extra>",
    )


def _frame_traces(
    replay: Replay, frame: int, classes, rows_by_class: dict[int, np.ndarray]
) -> list[go.Scatter]:
    indices = np.asarray(replay.probe_indices)
    return [
        _digit_trace(replay, frame, classes[c], rows, indices) for c, rows in rows_by_class.items()
    ]


def _frame_title(replay: Replay, frame: int) -> str:
    share = replay.explained[frame].sum().item()
    return (
        f"{frame_label(replay, frame)}: {replay.accuracy(frame):.0%} of these digits right, "
        f"the two axes hold {share:.0%} of the variance"
    )


def _still() -> dict:
    return {"frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}


def _play_buttons() -> list[dict]:
    moving = {
        "frame": {"duration": FRAME_MS, "redraw": False},
        "transition": {"duration": MOVE_MS, "easing": "cubic-in-out"},
        "fromcurrent": True,
        "mode": "immediate",
    }
    return [
        dict(
            type="buttons",
            direction="left",
            x=0,
            y=-0.04,
            xanchor="left",
            yanchor="top",
            showactive=False,
            buttons=[
                dict(label="▶ Play", method="animate", args=[None, moving]),
                dict(label="❚❚ Pause", method="animate", args=[[None], _still()]),
            ],
        )
    ]


def _frame_slider(replay: Replay) -> list[dict]:
    return [
        dict(
            active=0,
            x=0.2,
            len=0.8,
            y=-0.02,
            yanchor="top",
            # the ticks' own labels would overlap: the current frame is named above them
            font=dict(color="rgba(0,0,0,0)"),
            currentvalue=dict(prefix="", font=dict(size=13, color="#222")),
            steps=[
                dict(
                    label=frame_label(replay, i),
                    method="animate",
                    args=[[str(i)], {**_still(), "mode": "immediate"}],
                )
                for i in range(len(replay))
            ],
        )
    ]


def replay_scatter_figure(replay: Replay, classes, height: int = 520) -> go.Figure:
    """Return the projection of the replay's digits at every frame, with a play button and slider.

    The browser animates it: no server round trip per frame. The axes stay fixed across frames.
    """
    rows_by_class = _rows_by_class(replay)
    extent = float(replay.coords.float().abs().max()) * 1.08 or 1.0
    frames = [
        go.Frame(
            data=_frame_traces(replay, i, classes, rows_by_class),
            name=str(i),
            layout=go.Layout(title_text=_frame_title(replay, i)),
        )
        for i in range(len(replay))
    ]
    figure = go.Figure(data=_frame_traces(replay, 0, classes, rows_by_class), frames=frames)
    axis = dict(range=[-extent, extent], zeroline=False, showticklabels=False, fixedrange=True)
    return compact(
        figure,
        height,
        title=dict(text=_frame_title(replay, 0), x=0, font=dict(size=14)),
        margin=dict(l=20, r=10, t=40, b=20),
        xaxis=dict(axis, title="PC 1, turned to follow the frames"),
        yaxis=dict(axis, title="PC 2", scaleanchor="x"),
        legend=dict(title="digit", orientation="v", x=1.01, y=1),
        updatemenus=_play_buttons(),
        sliders=_frame_slider(replay),
    )


def replay_probabilities_figure(
    probabilities, digit_labels, classes, indices, height: int | None = None
) -> go.Figure:
    """Return a heatmap of each replay digit's probabilities (rows: digits, columns: classes)."""
    values = np.asarray(probabilities, dtype=np.float32)
    names = [f"{n + 1}: {with_article(classes[int(c)])}" for n, c in enumerate(digit_labels)]
    columns = [str(c) for c in classes]
    text = [[f"{v:.0%}" if v >= 0.005 else "" for v in row] for row in values]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=columns,
            y=names,
            text=text,
            texttemplate="%{text}",
            zmin=0.0,
            zmax=1.0,
            colorscale=palette.CORRECT_SCALE,
            showscale=False,
            customdata=np.asarray(indices)[:, None].repeat(len(columns), 1),
            hovertemplate="%{y} (test #%{customdata}) → %{x}: %{z:.1%}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    return compact(
        figure,
        height or 26 * len(names) + 70,
        margin=dict(l=70, r=10, t=10, b=40),
        xaxis=dict(title="probability of each digit", type="category", side="bottom"),
        yaxis=dict(type="category", autorange="reversed"),
        showlegend=False,
    )
