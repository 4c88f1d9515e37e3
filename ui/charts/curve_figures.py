"""Training curves: loss per step, train and validation per epoch, the learning rate and the
layers' gradient norms, with the axes they share."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.events import EpochEnded, Step
from ui.charts import palette
from ui.charts.figures import (
    LOG_TICKS,
    RAW_LINE,
    TRAIN_COLOR,
    VAL_COLOR,
    VAL_DASH,
    compact,
    downsample,
    trailing_mean,
)


def loss_axes(log: bool = True) -> dict:
    """Return the loss charts' axes (static and live): steps, and the loss, log-scaled if log."""
    return dict(
        xaxis=dict(title="step", rangemode="tozero"),
        yaxis=dict(
            title="training loss" + (" (log)" if log else ""),
            type="log" if log else None,
            # plotly labels log axes 2, 5, 0.1, 2, 5...: spell every tick out instead
            tickvals=LOG_TICKS if log else None,
            ticktext=[f"{v:g}" for v in LOG_TICKS] if log else None,
        ),
    )


def epoch_axes(tick: int | None) -> dict:
    """Return the epoch charts' two side-by-side panels: loss (left) and accuracy (right)."""
    # A run of one epoch has one point a curve, and plotly's range around a lone point is ±1:
    # its accuracy read 0% to 150% and its loss −0.5 to 1. The ranges are clipped to what the
    # values can be; "~" drops trailing zeros, so that a narrow range (a full-batch run's first
    # epochs) reads 80.21%, 80.22%, not 80.2% three times.
    return dict(
        xaxis=dict(domain=[0, 0.43], title="epoch", dtick=tick),
        yaxis=dict(title="loss", autorangeoptions=dict(clipmin=0)),
        xaxis2=dict(domain=[0.57, 1], title="epoch", dtick=tick),
        yaxis2=dict(
            title="accuracy",
            anchor="x2",
            tickformat=".3~%",
            autorangeoptions=dict(clipmin=0, clipmax=1),
        ),
    )


LR_AXES = dict(
    xaxis=dict(title="step", rangemode="tozero"),
    yaxis=dict(title="learning rate", exponentformat="power", rangemode="tozero"),
)
LR_COLOR = palette.GREEN


def smoothing_window(total_steps: int) -> int:
    """Return the trailing-mean window of the smoothed loss: fixed for a run, about 1/100 of it
    (the live chart and the finished run's use the same, so the curve does not jump at the end)."""
    return max(10, total_steps // 100)


def loss_curve_figure(steps: list[Step], height: int = 280) -> go.Figure:
    """Return the per-step training loss, raw and smoothed, on a log scale (≤ 2000 points each)."""
    # numpy arrays keep this cheap: the live chart is rebuilt twice a second while training
    xs = np.fromiter((s.step for s in steps), dtype=np.int64, count=len(steps))
    ys = np.fromiter((s.loss for s in steps), dtype=float, count=len(steps))
    smoothed = trailing_mean(ys, smoothing_window(len(ys)))  # the live chart's window: no jump
    raw_x, raw_y = downsample(xs, ys)
    smooth_x, smooth_y = downsample(xs, smoothed)
    fig = go.Figure(
        [
            go.Scatter(x=raw_x, y=raw_y, name="loss per step", line=dict(color=RAW_LINE, width=1)),
            go.Scatter(
                x=smooth_x, y=smooth_y, name="smoothed", line=dict(color=TRAIN_COLOR, width=2.5)
            ),
        ]
    )
    log = bool(len(ys)) and bool(np.all(ys > 0))
    return compact(fig, height, **loss_axes(log))


def epoch_points(epochs: list[EpochEnded], field: str) -> tuple[list[int], list[float]]:
    """Return the epochs and their values of one field, leaving out epochs without one (a
    full-batch run is validated every few steps, not at each of its one-step epochs)."""
    points = [(e.epoch, getattr(e, field)) for e in epochs]
    points = [(x, y) for x, y in points if y == y]  # NaN: not measured at that epoch
    return [x for x, _ in points], [y for _, y in points]


def epoch_curves_figure(epochs: list[EpochEnded], height: int = 260) -> go.Figure:
    """Return train and validation loss (left) and accuracy (right) per epoch."""
    traces = []
    for axis, metric in (("", "loss"), ("2", "accuracy")):
        for split, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            number = ".2%" if metric == "accuracy" else ".4f"
            # a full-batch run has an epoch a step: at most MAX_POINTS of them, the last kept
            xs, ys = downsample(*epoch_points(epochs, f"{split}_{metric}"))
            traces.append(
                go.Scatter(
                    x=xs,
                    y=ys,
                    xaxis=f"x{axis}",
                    yaxis=f"y{axis}",
                    name="train" if split == "train" else "validation",
                    mode="lines+markers",
                    line=dict(color=color, width=2, dash=VAL_DASH if split == "val" else None),
                    showlegend=not axis,
                    hovertemplate=f"epoch %{{x}}: %{{y:{number}}}<extra></extra>",
                )
            )
    # two side-by-side panels by hand: make_subplots is slow for a chart redrawn twice a second
    tick = 1 if len(epochs) <= 20 else None
    return compact(go.Figure(traces), height, **epoch_axes(tick))


def lr_figure(steps: list[Step], height: int = 260) -> go.Figure:
    """Return the learning rate at each step."""
    xs, ys = downsample([s.step for s in steps], [s.lr for s in steps])
    fig = go.Figure(
        go.Scatter(x=xs, y=ys, name="learning rate", line=dict(color=LR_COLOR, width=2))
    )
    return compact(fig, height, showlegend=False, **LR_AXES)


def log_ticks(values: np.ndarray) -> dict:
    """Return a log axis whose labels read at a glance: powers of ten (10⁻³, 10⁻², …) where the
    values span a decade or more, else 1-2-5 steps as plain numbers (0.2, 0.5, 1).

    plotly's own choice mixed both ("5, 10⁻¹, 2, 5, 1"), which no student reads as one scale.
    """
    low, high = float(np.min(values)), float(np.max(values))
    if np.log10(high) - np.log10(low) >= 1:
        return dict(type="log", dtick=1, exponentformat="power")
    decades = range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 1)
    steps = [m * 10.0**d for d in decades for m in (1, 2, 5)]
    shown = [v for v in steps if low / 2.5 <= v <= high * 2.5]
    return dict(type="log", tickvals=shown, ticktext=[f"{v:g}" for v in shown])


def grad_norms_figure(steps: list[Step], layers: list[str], height: int = 300) -> go.Figure:
    """Return each layer's weight-gradient norm over the steps that sampled it, on a log scale."""
    sampled = [s for s in steps if s.grad_norms]
    xs = np.fromiter((s.step for s in sampled), dtype=np.int64, count=len(sampled))
    norms = np.asarray([s.grad_norms for s in sampled], dtype=float).reshape(len(sampled), -1)
    traces = []
    for position, name in enumerate(layers[: norms.shape[1]]):
        x, y = downsample(xs, norms[:, position])
        traces.append(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                line=palette.series_line(position),
                hovertemplate=f"{name}, step %{{x}}: %{{y:.3g}}<extra></extra>",
            )
        )
    positive = norms[np.isfinite(norms)]
    log = bool(positive.size) and bool(np.all(positive > 0))
    return compact(
        go.Figure(traces),
        height,
        xaxis=dict(title="step", rangemode="tozero"),
        yaxis=dict(
            title="‖∂L/∂W‖" + (" (log)" if log else ""),
            **(log_ticks(positive) if log else {}),
        ),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
