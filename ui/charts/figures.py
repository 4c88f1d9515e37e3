"""Plotly figure builders, one function per chart; pages never build figures inline."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from core.events import EpochEnded, Step
from core.spec.image import IMAGE_SIDE
from core.spec.models import feature_shapes, flat_features
from ui.charts import palette
from ui.shared import talk

# --- Evaluate and Draw pages -------------------------------------------------------------

# colours: ui/charts/palette.py, chosen to read under colour-vision deficiencies and in grey-scale
ACCENT, MUTED = palette.ACCENT, palette.MUTED


def _rows(matrix) -> list[list[float]]:
    return matrix.tolist() if hasattr(matrix, "tolist") else [list(row) for row in matrix]


def _percent(value: float) -> str:
    return f"{value:.0%}" if value >= 0.995 or value == 0 else f"{value:.1%}"


def _item(labels: list[str]) -> str:
    # digits are called digits; Fashion-MNIST's named classes are classes
    return "digit" if all(label.isdigit() for label in labels) else "class"


def confusion_matrix_figure(confusion, classes, normalized: bool) -> go.Figure:
    """Return an annotated heatmap of a confusion matrix (rows: true digit, columns: predicted)."""
    counts = _rows(confusion)
    labels = [str(c) for c in classes]
    item = _item(labels)
    if normalized:
        values = [[v / max(sum(row), 1) for v in row] for row in counts]
        text = [[_percent(v) if v else "" for v in row] for row in values]
    else:
        values = [[float(v) for v in row] for row in counts]
        text = [[str(int(v)) if v else "" for v in row] for row in counts]
    k = len(labels)
    # the diagonal dwarfs the mistakes, so each gets its own colour scale
    mistakes = [[None if t == p else values[t][p] for p in range(k)] for t in range(k)]
    correct = [[values[t][p] if t == p else None for p in range(k)] for t in range(k)]
    worst = max((v for row in mistakes for v in row if v is not None), default=0) or 1
    diagonal = [values[i][i] for i in range(k)]
    low, high = min(diagonal, default=0.0), max(diagonal, default=1.0)
    hover = "true %{y} → predicted %{x}: %{text}<extra></extra>"
    fig = go.Figure()
    for z, scale, zmin, zmax in (
        (mistakes, palette.MISTAKE_SCALE, 0.0, worst),
        (correct, palette.CORRECT_SCALE, low, high if high > low else low + 1),
    ):
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                text=text,
                colorscale=scale,
                zmin=zmin,
                zmax=zmax,
                showscale=False,
                hovertemplate=hover,
                xgap=1,
                ygap=1,
            )
        )

    def shade(t: int, p: int) -> float:
        if t == p:
            return (values[t][p] - low) / (high - low) if high > low else 1.0
        return values[t][p] / worst

    # one annotation per cell, so that dark cells can get white text
    fig.update_layout(
        annotations=[
            dict(
                x=labels[p],
                y=labels[t],
                text=text[t][p],
                showarrow=False,
                font=dict(color="white" if shade(t, p) > 0.55 else "#222", size=14),
            )
            for t in range(k)
            for p in range(k)
            if text[t][p]
        ]
    )
    fig.update_layout(
        height=max(240, 34 * k + 60),
        margin=dict(l=60, r=10, t=10, b=50),
        xaxis=dict(title=f"predicted {item}", side="bottom", type="category", constrain="domain"),
        yaxis=dict(title=f"true {item}", autorange="reversed", type="category", scaleanchor="x"),
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(size=14),
    )
    return fig


def per_class_accuracy_figure(
    per_class_accuracy, classes, overall: float | None = None
) -> go.Figure:
    """Return a bar chart of accuracy per true digit, the weakest in the accent colour and named."""
    values = list(per_class_accuracy)
    labels = [str(c) for c in classes]
    item = _item(labels)
    weakest = min(range(len(values)), key=values.__getitem__) if values else -1
    colors = [ACCENT if i == weakest else MUTED for i in range(len(values))]
    low = min(values, default=0.0)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=colors,
            # ten labels would be too small to read: the table beside the chart has them
            text=[f"{v:.1%}" for v in values] if len(values) <= 5 else None,
            textposition="outside",
            textfont=dict(size=14),
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
            cliponaxis=False,
        )
    )
    if overall is not None:
        fig.add_hline(
            y=overall,
            line_dash="dot",
            line_color="#555",
        )
    if weakest >= 0 and len(values) > 1:
        # said in words as well as in colour
        fig.add_annotation(
            x=labels[weakest],
            y=values[weakest],
            text="weakest",
            showarrow=False,
            yanchor="bottom",
            yshift=2,
            font=dict(size=12, color="#111"),
        )
    # zoom in on the top of the scale, where good models differ
    bottom = max(0.0, min(low - (1 - low) * 0.6, 0.9)) if low > 0.5 else 0.0
    fig.update_layout(
        height=300,
        margin=dict(l=50, r=10, t=10, b=40),
        xaxis=dict(title=f"true {item}", type="category"),
        yaxis=dict(title="accuracy", range=[bottom, 1.0], tickformat=".0%"),
        showlegend=False,
        font=dict(size=14),
    )
    return fig


def probability_figure(probabilities, classes, height: int = 300) -> go.Figure:
    """Return one bar per class with its probability, the most likely in the accent colour."""
    values = [float(p) for p in probabilities]
    labels = [str(c) for c in classes]
    top = max(range(len(values)), key=values.__getitem__) if values else -1
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=[ACCENT if i == top else MUTED for i in range(len(values))],
            text=[f"{v:.0%}" if v >= 0.005 else "" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="digit %{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=height,
        margin=dict(l=40, r=10, t=30, b=40),
        xaxis=dict(type="category", tickfont=dict(size=20)),
        yaxis=dict(range=[0, 1.08], tickformat=".0%", showgrid=True),
        showlegend=False,
        font=dict(size=15),
    )
    return fig


def moving_average(values: list[float], weight: float) -> list[float]:
    """Return an exponential moving average of values (weight: how much each keeps of the last)."""
    smoothed, last = [], None
    for value in values:
        last = value if last is None else weight * last + (1 - weight) * value
        smoothed.append(last)
    return smoothed


def _whole_step(series: list[tuple[str, list[float], list[float]]]) -> int:
    """Return a tick spacing in whole units: about ten ticks, never half an epoch."""
    largest = max((x for _, xs, _ in series for x in xs), default=1)
    return max(1, round(largest / 10))


def run_curves_figure(
    series: list[tuple[str, list[float], list[float]]],
    x_title: str,
    y_title: str,
    percent: bool = False,
    smooth: float = 0.0,
    height: int = 300,
    whole_x: bool = False,
) -> go.Figure:
    """Return overlaid curves, one per (label, x values, y values), e.g. several runs' accuracy."""
    fig = go.Figure()
    for i, (label, xs, ys) in enumerate(series):
        ys = [float("nan") if y is None else y for y in ys]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=moving_average(ys, smooth) if smooth else ys,
                name=label,
                mode="lines+markers" if len(xs) <= 30 else "lines",
                line=palette.series_line(i),
            )
        )
    fig.update_layout(
        height=height,
        margin=dict(l=50, r=10, t=30, b=40),
        xaxis=dict(title=x_title, dtick=_whole_step(series) if whole_x else None),
        yaxis=dict(title=y_title, tickformat=".2~%" if percent else None),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        font=dict(size=13),
    )
    return fig


# --- Data, Build and Train pages ---------------------------------------------------------

TRAIN_COLOR, VAL_COLOR = palette.TRAIN, palette.VALIDATION
# validation is dashed as well as coloured: the two stay apart in grey-scale
VAL_DASH = "dash"
LAYER_COLORS = {
    "input": "#9aa5b1",
    "conv": "#f4a259",
    "flatten": "#c8ccd2",
    "dense": palette.SKY,
    "output": palette.VERMILLION,
}
RAW_LINE = "rgba(0, 114, 178, 0.30)"  # palette.TRAIN, faint
MAX_POINTS = 2000
# every chart the same way: no plotly toolbar over a figure people read, on a projector too
CHART_CONFIG = {"displayModeBar": False}
LOG_TICKS = [m * 10.0**e for e in range(-4, 3) for m in (1, 2, 5)]


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
    rows = _rows(image)
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
        font=dict(size=12),
    )
    return fig


def _network_stages(spec) -> list[dict]:
    stages = [
        dict(
            kind="input",
            title="Input",
            detail="",
            shape=f"1×{IMAGE_SIDE}×{IMAGE_SIDE}",
            size=IMAGE_SIDE * IMAGE_SIDE,
        )
    ]
    for i, (layer, (c, h, w)) in enumerate(zip(spec.conv, feature_shapes(spec)), start=1):
        extras = [layer.activation]
        if layer.batch_norm:
            extras.insert(len(extras) if layer.pool_first else 0, "BN")
        if layer.pool != "none":
            extras.insert(0 if layer.pool_first else len(extras), f"{layer.pool} pool")
        if layer.dropout:
            extras.append(f"drop {layer.dropout:g}")
        stages.append(
            dict(
                kind="conv",
                title=f"Conv {i}",
                detail="<br>".join(
                    [
                        f"{layer.kernel}×{layer.kernel} {layer.padding}"
                        + (" separable" if layer.separable else ""),
                        *extras,
                    ]
                ),
                shape=f"{c}×{h}×{w}",
                size=c * h * w,
            )
        )
    features = flat_features(spec)
    title = "Global avg pool" if spec.global_pool else "Flatten"
    stages.append(dict(kind="flatten", title=title, detail="", shape=str(features), size=features))
    for i, layer in enumerate(spec.dense, start=1):
        extras = [layer.activation]
        if layer.batch_norm:
            extras.insert(0, "BN")
        if layer.dropout:
            extras.append(f"drop {layer.dropout:g}")
        stages.append(
            dict(
                kind="dense",
                title=f"Dense {i}",
                detail="<br>".join(extras),
                shape=str(layer.width),
                size=layer.width,
            )
        )
    stages.append(
        dict(
            kind="output",
            title="Output",
            detail=spec.output,
            shape=str(spec.outputs),
            size=spec.outputs,
        )
    )
    return stages


# more stages than this do not fit side by side in the Build page's column: they are stacked
MAX_STAGES_ACROSS = 6
STACKED_ROW_PX = 40


def network_diagram_figure(spec) -> go.Figure:
    """Return a diagram of the network: one box per layer, sized by its output.

    Up to MAX_STAGES_ACROSS stages run left to right with their labels above and below; a
    deeper network is stacked top to bottom, one row per stage with its label beside it, so
    that no label runs into another however many layers there are.
    """
    stages = _network_stages(spec)
    if len(stages) > MAX_STAGES_ACROSS:
        return _stacked_diagram(stages)
    biggest = max(math.log2(s["size"] + 1) for s in stages)
    fig = go.Figure()
    box = 0.62
    for x, stage in enumerate(stages):
        half = 0.5 * (0.18 + 0.82 * math.log2(stage["size"] + 1) / biggest)
        color = LAYER_COLORS[stage["kind"]]
        fig.add_shape(
            type="rect",
            x0=x - box / 2,
            x1=x + box / 2,
            y0=-half,
            y1=half,
            fillcolor=color,
            line=dict(color="#333", width=1),
            layer="below",
        )
        fig.add_annotation(
            x=x,
            y=0.56,
            text=f"<b>{stage['title']}</b><br>{stage['shape']}",
            showarrow=False,
            yanchor="bottom",
            font=dict(size=14),
        )
        if stage["detail"]:
            fig.add_annotation(
                x=x,
                y=-0.56,
                text=stage["detail"],
                showarrow=False,
                yanchor="top",
                font=dict(size=12, color="#444"),
            )
        if x:
            _arrow(fig, (x - 1 + box / 2, 0), (x - box / 2, 0))
    fig.update_layout(
        height=300,
        margin=dict(l=5, r=5, t=5, b=5),
        xaxis=dict(visible=False, range=[-0.55, len(stages) - 0.45]),
        yaxis=dict(visible=False, range=[-1.25, 0.95]),
        plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        font=dict(size=12),
    )
    return fig


def _arrow(fig: go.Figure, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Draw an arrow from one stage's box to the next, in data coordinates."""
    fig.add_annotation(
        x=end[0],
        y=end[1],
        ax=start[0],
        ay=start[1],
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        showarrow=True,
        arrowhead=2,
        arrowwidth=1.5,
        arrowcolor="#555",
        text="",
    )


def _stacked_diagram(stages: list[dict]) -> go.Figure:
    """Return the network top to bottom: a box per stage, its width by size, its label beside it."""
    biggest = max(math.log2(s["size"] + 1) for s in stages)
    fig = go.Figure()
    box = 0.6  # of a row's height
    for row, stage in enumerate(stages):
        half = 0.5 * (0.15 + 0.85 * math.log2(stage["size"] + 1) / biggest)
        y = -row
        fig.add_shape(
            type="rect",
            x0=-half,
            x1=half,
            y0=y - box / 2,
            y1=y + box / 2,
            fillcolor=LAYER_COLORS[stage["kind"]],
            line=dict(color="#333", width=1),
            layer="below",
        )
        detail = stage["detail"].replace("<br>", ", ")
        fig.add_annotation(
            x=0.56,
            y=y,
            text=f"<b>{stage['title']}</b> {stage['shape']}"
            + (f"<br><span style='font-size:11px'>{detail}</span>" if detail else ""),
            showarrow=False,
            xanchor="left",
            align="left",
            font=dict(size=12, color="#222"),
        )
        if row:
            _arrow(fig, (0, y + 1 - box / 2), (0, y + box / 2))
    fig.update_layout(
        height=STACKED_ROW_PX * len(stages) + 10,
        margin=dict(l=5, r=5, t=5, b=5),
        # the boxes take the left third, their labels (up to "3×3 same, BN, relu, max pool,
        # drop 0.25") the rest
        xaxis=dict(visible=False, range=[-0.52, 2.6]),
        yaxis=dict(visible=False, range=[-len(stages) + 0.5, 0.5]),
        plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        font=dict(size=12),
    )
    return fig


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
    return dict(
        xaxis=dict(domain=[0, 0.43], title="epoch", dtick=tick),
        yaxis=dict(title="loss"),
        xaxis2=dict(domain=[0.57, 1], title="epoch", dtick=tick),
        yaxis2=dict(title="accuracy", anchor="x2", tickformat=".1%"),
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


# --- Inside page -------------------------------------------------------------------------

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
            go.Scattergl(
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
            type="log" if log else None,
            exponentformat="power",
        ),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
