"""What every figure shares (colours, the compact look, downsampling, the chart config), and the
Data page's figures. One function per chart, in the module of its page: pages never build
figures inline (curves: curve_figures; evaluation: evaluation_figures; the Inside page:
inside_figures). The Build page's network diagram is HTML, not a figure: ui/build/network_diagram."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts import palette
from ui.shared import talk

# colours: ui/charts/palette.py, chosen to read under colour-vision deficiencies and in grey-scale
ACCENT = palette.ACCENT
MUTED = palette.MUTED


def moving_average(values: list[float], weight: float) -> list[float]:
    """Return an exponential moving average of values (weight: how much each keeps of the last)."""
    smoothed, last = [], None
    for value in values:
        last = value if last is None else weight * last + (1 - weight) * value
        smoothed.append(last)
    return smoothed


TRAIN_COLOR = palette.TRAIN
VAL_COLOR = palette.VALIDATION
# validation is dashed as well as coloured: the two stay apart in grey-scale
VAL_DASH = "dash"
RAW_LINE = "rgba(0, 114, 178, 0.30)"  # palette.TRAIN, faint
MAX_POINTS = 2000
# every chart the same way: no plotly toolbar over a figure people read, on a projector too
CHART_CONFIG = {"displayModeBar": False}
LOG_TICKS = [m * 10.0**e for e in range(-4, 3) for m in (1, 2, 5)]


def matrix_rows(matrix) -> list[list[float]]:
    return matrix.tolist() if hasattr(matrix, "tolist") else [list(row) for row in matrix]


def compact(fig: go.Figure, height: int, **layout) -> go.Figure:
    """Apply the shared look: small margins, readable fonts, legend on top."""
    defaults = dict(
        height=height,
        margin=dict(l=50, r=10, t=36, b=40),
        font=dict(size=round(13 * talk.font_scale())),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )
    fig.update_layout(**{**defaults, **layout})
    return fig


def downsample(xs, ys, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Return every k-th point so that at most max_points remain (the last point is kept)."""
    xs, ys = np.asarray(xs), np.asarray(ys, dtype=float)
    if len(xs) <= max_points:
        return xs, ys
    keep = np.linspace(0, len(xs) - 1, max_points).round().astype(int)
    return xs[keep], ys[keep]


def trailing_mean(values, window: int) -> np.ndarray:
    """Return the mean of each value and the window - 1 before it (fewer at the start)."""
    values = np.asarray(values, dtype=float)
    sums = np.cumsum(values)
    sums[window:] = sums[window:] - sums[:-window]
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return sums / counts


def class_balance_figure(
    train_counts, test_counts, selected=None, names=None, item: str = "digit"
) -> go.Figure:
    """Return grouped bars of images per class in the train and test sets; selected ones stand out."""
    digits = list(names) if names is not None else [str(d) for d in range(len(train_counts))]
    chosen = set(range(10) if selected is None else selected)
    opacity = [1.0 if d in chosen else 0.3 for d in range(len(digits))]
    fig = go.Figure()
    for name, counts, color in (
        ("train", train_counts, TRAIN_COLOR),
        ("test", test_counts, VAL_COLOR),
    ):
        values = [int(c) for c in counts]
        fig.add_trace(
            go.Bar(
                x=digits,
                y=values,
                name=name,
                marker=dict(color=color, opacity=opacity),
                text=[f"{v:,}" for v in values],
                textposition="outside",
                cliponaxis=False,
                textfont=dict(size=10),
                hovertemplate=f"{item} %{{x}}: %{{y:,}} {name} images<extra></extra>",
            )
        )
    return compact(
        fig,
        290,
        barmode="group",
        xaxis=dict(title=item, type="category"),
        yaxis=dict(title="images"),
    )


def digit_heatmap_figure(image, title: str = "") -> go.Figure:
    """Return a 28×28 heatmap of one digit's pixel values (0-255), non-zero pixels annotated."""
    rows = matrix_rows(image)
    text = [[str(int(v)) if v else "" for v in row] for row in rows]
    fig = go.Figure(
        go.Heatmap(
            z=rows,
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=7),
            colorscale="Greys",
            reversescale=True,
            zmin=0,
            zmax=255,
            showscale=False,
            hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
            xgap=0.5,
            ygap=0.5,
        )
    )
    fig.update_layout(
        height=500,
        margin=dict(l=30, r=10, t=36 if title else 10, b=30),
        title=dict(text=title, x=0, font=dict(size=15)),
        xaxis=dict(constrain="domain", dtick=4, showgrid=False),
        yaxis=dict(autorange="reversed", scaleanchor="x", dtick=4, showgrid=False),
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(size=round(13 * talk.font_scale())),
    )
    return fig
