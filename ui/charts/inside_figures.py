"""Figures of the Inside page: a layer's activations and the PCA of the last hidden features."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts import palette
from ui.charts.figures import compact

DIGIT_COLORS, DIGIT_SYMBOLS = palette.DIGITS, palette.DIGIT_SYMBOLS


def activation_bars_figure(name: str, values, height: int = 200) -> go.Figure:
    """Return one bar per unit of a layer's output (positive orange, negative blue)."""
    ys = np.asarray(values, dtype=np.float32).reshape(-1)
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(ys)),
            y=ys,
            marker_color=np.where(ys >= 0, palette.POSITIVE, palette.NEGATIVE),
            marker_line_width=0,
            hovertemplate="unit %{x}: %{y:.3f}<extra></extra>",
        )
    )
    return compact(
        fig,
        height,
        title=dict(text=name, font=dict(size=14)),
        margin=dict(l=40, r=10, t=30, b=30),
        bargap=0.05 if len(ys) > 32 else 0.2,
        xaxis=dict(dtick=1 if len(ys) <= 16 else None),
        showlegend=False,
    )


def pca_scatter_figure(coords, labels, indices, explained, height: int = 520) -> go.Figure:
    """Return the 2-D PCA of features as points coloured by digit; hover shows label and index."""
    xy = np.asarray(coords, dtype=np.float32)
    labels = np.asarray(labels)
    indices = np.asarray(indices)
    traces = []
    for digit in sorted(set(labels.tolist())):
        rows = labels == digit
        traces.append(
            # SVG, not WebGL: 2,000 points draw as fast here, without a GPU, and an Inside
            # visit cost Chromium 0.4 CPU-s less (2.2 against 2.6; docs/performance.md)
            go.Scatter(
                x=xy[rows, 0],
                y=xy[rows, 1],
                mode="markers",
                name=str(digit),
                # a shape per digit as well as a colour: ten colours cannot all stay apart
                marker=dict(
                    size=6,
                    color=DIGIT_COLORS[palette.class_position(digit)],
                    symbol=DIGIT_SYMBOLS[palette.class_position(digit)],
                    opacity=0.75,
                ),
                customdata=indices[rows],
                hovertemplate=f"digit {digit} · test #%{{customdata}}<extra></extra>",
            )
        )
    ratio = [float(r) for r in explained]
    return compact(
        go.Figure(traces),
        height,
        xaxis=dict(title=f"PC 1 ({ratio[0]:.0%} of variance)", zeroline=False),
        yaxis=dict(title=f"PC 2 ({ratio[1]:.0%} of variance)", zeroline=False),
        legend=dict(title="digit", orientation="v", x=1.01, y=1),
    )
