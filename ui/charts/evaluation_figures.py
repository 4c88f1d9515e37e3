"""Figures of how good a model is: the confusion matrix, per-class accuracy, a digit's
probabilities, and saved runs' curves side by side (Evaluate and Draw pages)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from ui.charts import palette
from ui.charts.figures import ACCENT, MUTED, matrix_rows, moving_average
from ui.shared import talk


def _percent(value: float) -> str:
    return f"{value:.0%}" if value >= 0.995 or value == 0 else f"{value:.1%}"


def _item(labels: list[str]) -> str:
    # digits are called digits; Fashion-MNIST's named classes are classes
    return "digit" if all(label.isdigit() for label in labels) else "class"


def cell_targets(labels: list[str], text: list[list[str]], hover: str) -> go.Scatter:
    """Return an all but invisible square marker on each confusion-matrix cell, with its (true,
    predicted) positions: heatmaps are not selectable in Streamlit, markers take the click."""
    k = len(labels)
    cells = [(t, p) for t in range(k) for p in range(k)]
    return go.Scatter(
        x=[labels[p] for _, p in cells],
        y=[labels[t] for t, _ in cells],
        customdata=[[t, p] for t, p in cells],
        text=[text[t][p] or "0" for t, p in cells],
        mode="markers",
        marker=dict(symbol="square", size=max(12, 300 // k), opacity=0.01, color="#000"),
        hovertemplate=hover,
        showlegend=False,
        name="cells",
    )


def confusion_matrix_figure(confusion, classes, normalized: bool) -> go.Figure:
    """Return an annotated heatmap of a confusion matrix (rows: true digit, columns: predicted)."""
    counts = matrix_rows(confusion)
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
    type_scale = talk.font_scale()  # on a projector the cells and their numbers grow with the type
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
                font=dict(
                    color="white" if shade(t, p) > 0.55 else "#222", size=round(14 * type_scale)
                ),
            )
            for t in range(k)
            for p in range(k)
            if text[t][p]
        ]
    )
    fig.add_trace(cell_targets(labels, text, hover))
    fig.update_layout(
        height=max(240, round(34 * type_scale) * k + 60),
        margin=dict(l=60, r=10, t=10, b=50),
        clickmode="event+select",
        xaxis=dict(title=f"predicted {item}", side="bottom", type="category", constrain="domain"),
        yaxis=dict(title=f"true {item}", autorange="reversed", type="category", scaleanchor="x"),
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(size=round(14 * talk.font_scale())),
    )
    return fig


def _bar_words(values: list, counts: list[int] | None) -> list[str] | None:
    """Return the words over each bar: how many were right of how many, where counts are
    known (a room's few drawings); the percentage for five classes or fewer; else none (ten
    percentages would be too small to read: the table beside the chart has them)."""
    if counts is not None:
        return [
            f"{round(v * n)}/{n}" if v is not None else ""
            for v, n in zip(values, counts, strict=True)
        ]
    return [f"{v:.1%}" for v in values] if len(values) <= 5 else None


def _tick_words(labels: list[str], weakest: int) -> list[str]:
    """Return the axis's words: each class, and "weakest" under the weakest one (-1: none).

    Said in words as well as in colour, under its digit: over its bar the word met the mean's
    line when the two were close (a 98.8% nine beside a 99.4% mean) and the words a room's bars
    carry there."""
    return [
        f"{label}<br><b>weakest</b>" if i == weakest else label for i, label in enumerate(labels)
    ]


def per_class_accuracy_figure(
    per_class_accuracy, classes, overall: float | None = None, counts=None
) -> go.Figure:
    """Return a bar chart of accuracy per true digit, the weakest in the accent colour and named.

    With `counts` (digits of each true class), a class with none has no bar and says so: a
    room's digit that nobody drew yet is not one the model got 0% of.
    """
    labels = [str(c) for c in classes]
    counts = [int(n) for n in counts] if counts is not None else None
    scored = [counts is None or counts[i] > 0 for i in range(len(labels))]
    values = [float(v) if scored[i] else None for i, v in enumerate(per_class_accuracy)]
    item = _item(labels)
    words = _bar_words(values, counts)
    drawn = [i for i in range(len(values)) if scored[i]]
    weakest = min(drawn, key=values.__getitem__) if drawn else -1
    colors = [ACCENT if i == weakest else MUTED for i in range(len(values))]
    low = min((values[i] for i in drawn), default=0.0)
    hover = "digit %{x}: %{y:.2%}<extra></extra>"
    if counts is not None:
        hover = "digit %{x}: %{y:.2%} of %{customdata:,}<extra></extra>"
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            customdata=counts,
            marker_color=colors,
            text=words,
            textposition="outside",
            # ten columns side by side: their words stand upright to fit
            textangle=-90 if len(values) > 5 else 0,
            textfont=dict(size=14 if len(values) <= 5 else 11, color="#111"),
            hovertemplate=hover,
            cliponaxis=False,
        )
    )
    if overall is not None and drawn:
        fig.add_hline(
            y=overall,
            line_dash="dot",
            line_color="#555",
        )
    for i in range(len(values)):
        if not scored[i]:  # no bar: say why, at the foot of its column
            fig.add_annotation(
                x=labels[i],
                yref="paper",
                y=0,
                text="none yet",
                textangle=-90,
                showarrow=False,
                yanchor="bottom",
                font=dict(size=11, color="#555"),
            )
    # zoom in on the top of the scale, where good models differ
    bottom = max(0.0, min(low - (1 - low) * 0.6, 0.9)) if low > 0.5 else 0.0
    fig.update_layout(
        height=300,
        # room over the bars for their words: a full bar's upright "3/3" was cut off at the top
        margin=dict(l=50, r=10, t=34 if words else 10, b=40),
        xaxis=dict(
            title=f"true {item}",
            type="category",
            tickmode="array",
            tickvals=labels,
            ticktext=_tick_words(labels, weakest if len(drawn) > 1 else -1),
            tickangle=0,  # upright: the word under one digit is wider than a column
            automargin=True,  # room for the second line under the weakest digit
        ),
        yaxis=dict(title="accuracy", range=[bottom, 1.0], tickformat=".0%"),
        showlegend=False,
        font=dict(size=round(14 * talk.font_scale())),
    )
    return fig


def confidence_text(probability: float) -> str:
    """Return a probability as a person reads it, never rounded up to a certainty it is not:
    0.99996 is "99.9%", not "100%"."""
    if 0.99 <= probability < 1.0:
        return f"{math.floor(probability * 1000) / 10:.1f}%"
    return f"{probability:.0%}"


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
            text=[confidence_text(v) if v >= 0.005 else "" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="digit %{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=height,
        margin=dict(l=40, r=10, t=30, b=40),
        xaxis=dict(type="category", tickfont=dict(size=round(20 * talk.font_scale()))),
        yaxis=dict(range=[0, 1.08], tickformat=".0%", showgrid=True),
        showlegend=False,
        font=dict(size=round(15 * talk.font_scale())),
    )
    return fig


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
        font=dict(size=round(13 * talk.font_scale())),
    )
    return fig
