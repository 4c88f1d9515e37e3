"""The network as a diagram: one box per stage, its shape above it (Build page).

Drawn as HTML and CSS, not as a chart: the Build page then loads no plotly.js (a page opened
while a run trains costs the training less), the text is the page's own (talk mode's larger
type enlarges it, a screen reader reads it as a list), and a narrow column stacks the stages.
"""

from __future__ import annotations

import html
import math

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


def network_stages(spec) -> list[dict]:
    """Return the network's stages, input to output: kind, title, detail lines, shape, size."""
    stages = [
        dict(
            kind="input",
            title="Input",
            detail=[],
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
                detail=[
                    f"{layer.kernel}×{layer.kernel} {layer.padding}"
                    + (" separable" if layer.separable else ""),
                    *extras,
                ],
                shape=f"{c}×{h}×{w}",
                size=c * h * w,
            )
        )
    features = flat_features(spec)
    title = "Global avg pool" if spec.global_pool else "Flatten"
    stages.append(dict(kind="flatten", title=title, detail=[], shape=str(features), size=features))
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
                detail=extras,
                shape=str(layer.width),
                size=layer.width,
            )
        )
    stages.append(
        dict(
            kind="output",
            title="Output",
            detail=[spec.output],
            shape=str(spec.outputs),
            size=spec.outputs,
        )
    )
    return stages


# more stages than this never run across: they are stacked top to bottom, as every network is in
# a column narrower than ACROSS_REM_PER_STAGE rem a stage (the Build page's column at 1280 px,
# 350 px, and a phone's, 326 px, hold four: there the presets are stacked; across on a projector)
MAX_STAGES_ACROSS = 6
ACROSS_REM_PER_STAGE = 5
ARROW = "#555"
GAP = "1rem"

# stacked: a row per stage, the box on the left third (its width by size) on a line that runs
# through the boxes' centres, the label beside it
STACKED_RULES = """
.dl-net { display: flex; flex-direction: column; gap: 0.45rem; position: relative; }
.dl-net::before { content: ""; position: absolute; left: calc(17% - 0.75px); top: 1rem;
  bottom: 1rem; width: 1.5px; background: ARROW; }
.dl-stage { display: grid; grid-template-columns: 34% 1fr; grid-template-rows: auto auto;
  grid-template-areas: "box head" "box detail"; column-gap: 0.6rem; text-align: left; }
.dl-head { grid-area: head; align-self: end; }
.dl-detail { grid-area: detail; align-self: start; }
.dl-detail span { display: inline; white-space: nowrap; }
.dl-detail span + span::before { content: ", "; }
.dl-box-cell { grid-area: box; display: flex; align-items: center; justify-content: center; }
.dl-box { position: relative; z-index: 1; width: calc(var(--size) * 100%); height: 1.3rem; }
""".replace("ARROW", ARROW)

# across: one column per stage, the labels above and below the boxes in shared rows (subgrid),
# an arrow from each box to the next
ACROSS_RULES = f"""
.dl-net {{ display: grid; grid-template-columns: repeat(var(--stages), minmax(0, 1fr));
  grid-template-rows: auto 7rem auto; column-gap: {GAP}; }}
.dl-net::before {{ content: none; }}
.dl-stage {{ grid-row: span 3; display: grid; grid-template-rows: subgrid; grid-template-columns:
  none; grid-template-areas: none; row-gap: 0.3rem; text-align: center; justify-items: center; }}
.dl-head {{ grid-area: auto; align-self: end; }}
.dl-detail {{ grid-area: auto; align-self: start; }}
.dl-detail span {{ display: block; white-space: normal; }}
.dl-detail span + span::before {{ content: none; }}
.dl-box-cell {{ grid-area: auto; position: relative; width: 100%; height: 100%; }}
.dl-box {{ width: 62%; height: calc(var(--size) * 100%); }}
/* the stages are equal in width, so the previous box ends 19% of a stage plus the gap to the
   left of this one's cell */
.dl-stage + .dl-stage .dl-box-cell::before {{ content: ""; position: absolute;
  left: calc(-19% - {GAP}); top: calc(50% - 0.75px); width: calc(38% + {GAP} - 0.3rem);
  height: 1.5px; background: {ARROW}; }}
.dl-stage + .dl-stage .dl-box-cell::after {{ content: ""; position: absolute;
  left: calc(19% - 0.45rem); top: calc(50% - 0.3rem); border-style: solid;
  border-width: 0.3rem 0 0.3rem 0.45rem;
  border-color: transparent transparent transparent {ARROW}; }}
"""

DIAGRAM_CSS = f"""
<style>
.dl-net-frame {{ container-type: inline-size; }}
.dl-net {{ list-style: none; margin: 0.4rem 0 1rem; padding: 0; font-size: 0.86rem;
  line-height: 1.3; color: #111827; }}
.dl-stage {{ margin: 0; min-width: 0; overflow-wrap: anywhere; }}
.dl-head b {{ font-weight: 600; }}
.dl-detail {{ color: #374151; font-size: 0.95em; }}
.dl-box {{ border: 1px solid #333; border-radius: 2px; }}
{STACKED_RULES}
</style>
"""


def _across_css(stages: int) -> str:
    # the across rules, for this diagram's class only, where its column is wide enough
    scoped = ACROSS_RULES.replace(".dl-net", ".dl-net.dl-across")
    return (
        f"<style>@container (min-width: {stages * ACROSS_REM_PER_STAGE}rem) {{ {scoped} }}</style>"
    )


def _stage_html(stage: dict, size: float) -> str:
    head = f"<b>{html.escape(stage['title'])}</b> {html.escape(stage['shape'])}"
    detail = "".join(f"<span>{html.escape(line)}</span>" for line in stage["detail"])
    color = LAYER_COLORS[stage["kind"]]
    return (
        f'<li class="dl-stage"><span class="dl-head">{head}</span>'
        f'<span class="dl-box-cell" aria-hidden="true"><span class="dl-box" '
        f'style="--size: {size:.3f}; background: {color}"></span></span>'
        f'<span class="dl-detail">{detail}</span></li>'
    )


def network_diagram_html(spec) -> str:
    """Return the network as HTML: one box per stage, its size by the stage's output (log scale).

    Up to MAX_STAGES_ACROSS stages run left to right with their shapes above and details below,
    where the column is wide enough; a deeper network, or any network in a narrow column (a
    phone), is stacked top to bottom with the labels beside the boxes, so that no label runs
    into another however many layers there are.
    """
    stages = network_stages(spec)
    biggest = max(math.log2(s["size"] + 1) for s in stages)
    items = "".join(
        _stage_html(stage, 0.16 + 0.84 * math.log2(stage["size"] + 1) / biggest) for stage in stages
    )
    across = len(stages) <= MAX_STAGES_ACROSS
    label = f"The network, {len(stages)} stages from input to output"
    return (
        f"{DIAGRAM_CSS}{_across_css(len(stages)) if across else ''}"
        f'<div class="dl-net-frame"><ol class="dl-net {"dl-across" if across else "dl-stacked"}" '
        f'style="--stages: {len(stages)}" aria-label="{label}">{items}</ol></div>'
    )
