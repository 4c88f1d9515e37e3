"""Figures of races and of cost: mean curves with their spread, seeds' scores, the Pareto front."""

from __future__ import annotations

import math
from dataclasses import dataclass

import plotly.graph_objects as go

from core.spec.compute import pareto_front
from core.train.race import SPREAD, VariantResult
from ui.charts import palette
from ui.charts.figures import compact

BAND_OPACITY = 0.18


@dataclass(frozen=True)
class Band:
    """One variant's curve over seeds: x, the mean, and the lowest and highest seed at each x."""

    variant: str
    x: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]


def band_of(variant: str, curves: list[tuple[list[float], list[float]]]) -> Band:
    """Return the band of several seeds' (x, y) curves, over the x values they all have."""
    shared = set(curves[0][0])
    for xs, _ in curves[1:]:
        shared &= set(xs)
    xs = sorted(shared)
    by_x = [dict(zip(cx, cy)) for cx, cy in curves]
    columns = [[c[x] for c in by_x] for x in xs]
    return Band(
        variant,
        xs,
        [sum(col) / len(col) for col in columns],
        [min(col) for col in columns],
        [max(col) for col in columns],
    )


def _rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def band_figure(
    bands: list[Band],
    x_title: str,
    y_title: str,
    percent: bool = False,
    whole_x: bool = False,
    height: int = 320,
) -> go.Figure:
    """Return each variant's mean curve over a shaded band from its lowest to its highest seed."""
    fig = go.Figure()
    for i, band in enumerate(bands):
        line = palette.series_line(i)
        fill = _rgba(line["color"], BAND_OPACITY)
        fig.add_trace(
            go.Scatter(
                x=band.x + band.x[::-1],
                y=band.high + band.low[::-1],
                fill="toself",
                fillcolor=fill,
                mode="lines",
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                name=f"{band.variant}: min–max",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=band.x,
                y=band.mean,
                name=f"{band.variant} (mean)",
                mode="lines+markers" if len(band.x) <= 30 else "lines",
                line=line,
            )
        )
    return compact(
        fig,
        height,
        xaxis=dict(title=x_title, dtick=1 if whole_x and len(bands[0].x) <= 12 else None)
        if bands
        else dict(title=x_title),
        yaxis=dict(title=y_title, tickformat=".2~%" if percent else None),
    )


def race_scores_figure(results: list[VariantResult]) -> go.Figure:
    """Return every seed's test accuracy as a dot, and each variant's mean ± std as a bar."""
    fig = go.Figure()
    for i, result in enumerate(results):
        colour = palette.SERIES[i % len(palette.SERIES)]
        fig.add_trace(
            go.Scatter(
                x=list(result.accuracies),
                y=[result.variant] * result.seeds,
                mode="markers",
                marker=dict(color=colour, size=9, opacity=0.6, symbol=palette.DIGIT_SYMBOLS[i]),
                name=f"{result.variant}: each seed",
                hovertemplate="%{x:.2%}<extra>one seed</extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[result.mean],
                y=[result.variant],
                mode="markers",
                marker=dict(color=colour, size=16, symbol="line-ns-open", line=dict(width=3)),
                error_x=dict(type="constant", value=result.std, thickness=2, width=8),
                name=f"{result.variant}: mean ± std",
                hovertemplate=f"mean {result.mean:.2%} ± {result.std:.2%}<extra></extra>",
            )
        )
    return compact(
        fig,
        70 * len(results) + 110,
        xaxis=dict(title=f"test accuracy (bar: mean, whiskers: {SPREAD})", tickformat=".2~%"),
        yaxis=dict(title="", autorange="reversed", automargin=True),
        showlegend=False,
    )


@dataclass(frozen=True)
class CostPoint:
    """One run on the cost plots."""

    label: str
    cost: float
    accuracy: float


def cost_figure(points: list[CostPoint], x_title: str, height: int = 340) -> go.Figure:
    """Return test accuracy against a cost (log x), with the Pareto front as a step line."""
    points = [p for p in points if p.cost > 0 and math.isfinite(p.accuracy)]
    front = pareto_front([p.cost for p in points], [p.accuracy for p in points])
    on_front = set(front)
    fig = go.Figure()
    others = [p for i, p in enumerate(points) if i not in on_front]
    best = [points[i] for i in front]
    for group, name, colour, symbol in (
        (others, "other runs", palette.GREY, "circle-open"),
        (best, "Pareto front: best for what it costs", palette.VERMILLION, "diamond"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[p.cost for p in group],
                y=[p.accuracy for p in group],
                text=[p.label for p in group],
                mode="markers",
                marker=dict(color=colour, size=10, symbol=symbol),
                name=name,
                hovertemplate="%{text}<br>%{x:.3s}<br>%{y:.2%}<extra></extra>",
            )
        )
    if len(best) > 1:
        fig.add_trace(
            go.Scatter(
                x=[p.cost for p in best],
                y=[p.accuracy for p in best],
                mode="lines",
                line=dict(color=palette.VERMILLION, shape="hv", width=1.5, dash="dot"),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    return compact(
        fig,
        height,
        xaxis=dict(title=x_title, type="log"),
        yaxis=dict(title="test accuracy", tickformat=".2~%"),
    )
