"""The network as a diagram: one box per stage, its shape beneath (Build page)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from core.spec.image import IMAGE_SIDE
from core.spec.models import feature_shapes, flat_features
from ui.charts import palette

LAYER_COLORS = {
    "input": "#9aa5b1",
    "conv": "#f4a259",
    "flatten": "#c8ccd2",
    "dense": palette.SKY,
    "output": palette.VERMILLION,
}


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
