"""The Inside page's "Step through backprop": one hand-written training step on one test digit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.analysis import backprop
from core.analysis.backprop import BackwardStage, ForwardStage, StageEquations, StepTrace, norm
from core.spec.compatible import check_network_supported
from core.spec.config import LIMITS
from ui.charts import inside_figures, palette
from ui.charts.figures import CHART_CONFIG
from ui.charts.shared_figures import run_version
from ui.shared import state, talk, widgets
from ui.shared.words import article

DIGIT_KEY = "backprop-digit"
DRAWS_KEY = "backprop-draws"
LR_KEY = "backprop-lr"
TILES = 16  # first-layer weight-gradient tiles shown, the units with the largest |δ| first
AGREEMENT = 1e-6  # in float64 the two engines differ by rounding only, far below this


@dataclass(frozen=True)
class WalkFigures:
    """The bar charts of one traced step: the same for every session that picks this digit."""

    forward: tuple[go.Figure, ...]  # one a layer, first layer first; shared: never changed
    backward: tuple[go.Figure, ...]  # last layer first, as the step computes them


def backprop_panel(path: str) -> None:
    """Walk through one scratch-engine step of the run saved at path on a chosen test digit."""
    run = state.cached_run(path)
    try:
        check_network_supported(run.spec)
    except ValueError as exc:
        _not_dense(bool(run.spec.conv), exc)
        return
    result = state.cached_evaluation(path)
    index, lr = _controls(len(result.test_images), run.config.lr)
    image = result.test_images[index]
    label = int(result.evaluation.labels[index])
    try:
        trace = backprop.trace_run_step(run, image, label, lr)
        difference = backprop.check_against_autograd(
            run.spec, run.model, image, trace, run.config.normalization
        )
    except ValueError as exc:
        st.error(f"This step cannot be traced: {exc}.")
        return
    figures = _walk_figures(*run_version(path), index, lr, talk.font_scale(), trace)
    equations = backprop.stage_equations(run.spec, run.config.loss)
    classes = run.classes
    st.markdown(
        f"Test digit **#{index}**: {article(classes[label])} **{classes[label]}**; "
        "the network says "
        f"**{classes[trace.predicted]}** ({float(trace.probabilities[trace.predicted]):.0%})."
    )
    st.subheader("Forward: the digit goes in")
    _input_stage(image, trace, equations, run.config.normalization)
    for stage, lines, figure in zip(trace.forward, equations.forward, figures.forward):
        _forward_stage(stage, lines, figure, last=stage is trace.forward[-1])
    st.subheader("The loss")
    _loss_stage(trace, equations, classes, run.spec.output)
    st.subheader("Backward: the gradient comes back")
    for stage, lines, figure in zip(trace.backward, equations.backward, figures.backward):
        _backward_stage(stage, lines, figure)
    _agreement(difference)
    st.subheader("The update")
    _update_stage(trace)


# the step itself is traced at every rerun; its bar charts (six for seed-mlp-128) are kept per
# run version, digit, rate and font size. Only the charts: a trace holds the network's weights,
# gradients and updated weights in float64 (3.2 MB for seed-mlp-128), and eight kept traces
# pinned 25 MB, which the soak test saw grow
@st.cache_resource(max_entries=8, show_spinner=False)
def _walk_figures(
    path: str, modified: float, index: int, lr: float, font_scale: float, _trace: StepTrace
) -> WalkFigures:
    return WalkFigures(
        tuple(_forward_figure(stage, last=stage is _trace.forward[-1]) for stage in _trace.forward),
        tuple(_backward_figure(stage) for stage in _trace.backward),
    )


def _not_dense(conv: bool, exc: ValueError) -> None:
    hint = (
        "Build **seed-mlp-128** on the Build page (784→128→128→10, ReLU), train it, and pick "
        "it above."
    )
    if conv:
        st.info(
            "The walk-through needs a dense network: this run has convolutions, and the "
            f"from-scratch engine steps dense layers only. {hint}",
            icon=":material/info:",
        )
    else:
        st.info(
            "The walk-through needs a dense network with relu, sigmoid, tanh or identity "
            f"units and no dropout or batch norm ({exc}). {hint}",
            icon=":material/info:",
        )


def _another_digit(count: int) -> None:
    # seeded by how many were drawn: every session walks through the same sequence of digits
    draws = st.session_state.get(DRAWS_KEY, 0) + 1
    st.session_state[DRAWS_KEY] = draws
    st.session_state[DIGIT_KEY] = int(np.random.default_rng(draws).integers(count))


def _controls(count: int, run_lr: float) -> tuple[int, float]:
    """Draw the digit and learning-rate pickers; return (test digit number, rate)."""
    # set before the widgets are made, so neither is given a value twice
    st.session_state[DIGIT_KEY] = min(int(st.session_state.get(DIGIT_KEY, 0)), count - 1)
    st.session_state.setdefault(LR_KEY, float(run_lr))
    low, high = LIMITS["lr"]
    st.caption(
        "One training step of the from-scratch engine (core/train/scratch.py) on one test digit, in "
        "float64: every layer's input and output on the way forward, the loss, then each "
        "layer's gradient on the way back, and plain SGD's update. The saved run is not changed."
    )
    digit_column, button_column, lr_column = st.columns([2, 1, 2], vertical_alignment="bottom")
    with digit_column:
        index = st.number_input(
            "Digit to step through", min_value=0, max_value=count - 1, step=1, key=DIGIT_KEY
        )
    with button_column:
        st.button(
            "Another digit",
            on_click=_another_digit,
            args=(count,),
            icon=":material/casino:",
            key="backprop-another",
        )
    with lr_column:
        lr = st.number_input(
            "Learning rate η",
            min_value=float(low),
            max_value=float(high),
            format="%g",
            key=LR_KEY,
            help="The step size of the update W ← W − η ∂L/∂W; starts at the run's rate.",
        )
    return int(index), float(lr)


def _shape(tensor: torch.Tensor) -> str:
    return " × ".join(str(n) for n in tensor.shape)


def _metrics(values: list[tuple[str, torch.Tensor]]) -> None:
    """Show one norm per column, the tensor's shape under it."""
    for column, (name, tensor) in zip(st.columns(len(values)), values):
        column.metric(
            name, f"{norm(tensor):.4g}", _shape(tensor), delta_color="off", delta_arrow="off"
        )


def _input_stage(
    image: torch.Tensor, trace: StepTrace, equations: StageEquations, normalization: str
) -> None:
    st.latex(equations.input)
    picture_column, numbers_column = st.columns([1, 3], vertical_alignment="center")
    with picture_column:
        st.image(widgets.upscale_digit(image, 112), width=112, alt="The digit stepped through")
    with numbers_column:
        x = trace.forward[0].x
        _metrics([("‖A₀‖, the 784 pixels as one row", x)])
        scaled = "" if normalization == "none" else f", then normalised ({normalization})"
        st.caption(f"Pixels from 0-255 to 0-1{scaled}; a batch of one: B = 1.")


def _forward_stage(
    stage: ForwardStage, lines: tuple[str, ...], figure: go.Figure, last: bool
) -> None:
    fan_out, fan_in = stage.weight.shape
    what = "the scores (no activation)" if last else stage.activation
    st.markdown(f"**Layer {stage.layer}** · {fan_in} → {fan_out}, {what}")
    for line in lines:
        st.latex(line)
    i = stage.layer
    numbers = [(f"‖A{_sub(i - 1)}‖ in", stage.x), (f"‖W{_sub(i)}‖", stage.weight)]
    numbers += [(f"‖Z{_sub(i)}‖", stage.z)]
    if not last:
        numbers.append((f"‖A{_sub(i)}‖ out", stage.a))
    _metrics(numbers)
    st.plotly_chart(figure, config=CHART_CONFIG, key=f"backprop-forward-{i}")


def _forward_figure(stage: ForwardStage, last: bool) -> go.Figure:
    i, fan_out = stage.layer, stage.weight.shape[0]
    shown = stage.z if last else stage.a
    name = f"Z{_sub(i)}, the scores" if last else f"A{_sub(i)} = {stage.activation}(Z{_sub(i)})"
    return inside_figures.activation_bars_figure(
        f"{name} ({fan_out})", shown[0].numpy().copy(), height=180
    )


def _loss_stage(trace: StepTrace, equations: StageEquations, classes, output_head: str) -> None:
    st.latex(equations.loss)
    if not backprop.equations_are_exact(output_head, trace.loss_name):
        st.caption(
            f"This network ends in a {output_head} head and is trained with {trace.loss_name}: "
            "δ also passes through the head's derivative (scratch.head_backward), which the "
            "numbers below include and the line above leaves out."
        )
    numbers_column, bars_column = st.columns([1, 2], vertical_alignment="center")
    with numbers_column:
        st.metric(f"Loss ({trace.loss_name.replace('_', '-')})", f"{trace.loss:.4g}")
        st.metric(
            f"Probability of the label, {classes[trace.label]}",
            f"{float(trace.probabilities[trace.label]):.1%}",
        )
    with bars_column:
        widgets.probability_bars(trace.probabilities, classes, height=200, key="backprop-probs")


def _backward_stage(stage: BackwardStage, lines: tuple[str, ...], figure: go.Figure) -> None:
    i = stage.layer
    st.markdown(f"**Layer {i}**, backwards")
    for line in lines:
        st.latex(line)
    below = f"A{_sub(i - 1)}" + (", the pixels" if i == 1 else "")
    _metrics(
        [
            (f"‖δ{_sub(i)}‖", stage.dz),
            (f"‖∂L/∂W{_sub(i)}‖", stage.dw),
            (f"‖∂L/∂b{_sub(i)}‖", stage.db),
            (f"‖∂L/∂{below}‖", stage.da_prev),
        ]
    )
    st.plotly_chart(figure, config=CHART_CONFIG, key=f"backprop-backward-{i}")
    if i == 1:
        _first_layer_pictures(stage)


def _backward_figure(stage: BackwardStage) -> go.Figure:
    i = stage.layer
    return inside_figures.activation_bars_figure(
        f"δ{_sub(i)} = ∂L/∂Z{_sub(i)} ({stage.dz.shape[1]})", stage.dz[0].numpy().copy(), height=180
    )


def _first_layer_pictures(stage: BackwardStage) -> None:
    units = stage.dz[0].abs().argsort(descending=True)[:TILES]
    tiles = stage.dw[units].reshape(-1, 28, 28)
    grid_column, pixels_column = st.columns([3, 1], gap="medium")
    with grid_column:
        st.image(
            widgets.weight_grid_image(tiles, columns=8, size=56),
            width="stretch",
            alt=f"∂L/∂W₁ for the {len(tiles)} units with the largest δ, as 28 by 28 tiles",
        )
        st.caption(
            f"∂L/∂W₁ of the {len(tiles)} units with the largest |δ₁|, one 28×28 tile each. With "
            "one digit, row j is δ₁[j] times the pixels: every tile is the digit, "
            f"{palette.POSITIVE_WORD} where the step will lower those weights, "
            f"{palette.NEGATIVE_WORD} where it will raise them."
        )
    with pixels_column:
        st.image(
            widgets.weight_grid_image(stage.da_prev.reshape(1, 28, 28), columns=1, size=140),
            width=140,
            alt="∂L/∂pixels: how each pixel would move the loss",
        )
        st.caption(
            f"∂L/∂pixels: {palette.POSITIVE_WORD} pixels raise the loss when brighter, "
            f"{palette.NEGATIVE_WORD} ones lower it."
        )


def _agreement(difference: float) -> None:
    shown = "0" if difference == 0 else f"{difference:.0e}"
    if difference <= AGREEMENT:
        st.success(
            f"Hand-written gradients match autograd: max difference {shown}",
            icon=":material/check_circle:",
        )
    else:
        st.warning(
            f"Hand-written gradients differ from autograd's by up to {shown}",
            icon=":material/warning:",
        )


def _update_stage(trace: StepTrace) -> None:
    st.latex(
        r"W_i \leftarrow W_i - \eta \frac{\partial L}{\partial W_i},\qquad "
        rf"b_i \leftarrow b_i - \eta \frac{{\partial L}}{{\partial b_i}},\qquad \eta = {trace.lr:g}"
    )
    forward = {stage.layer: stage for stage in trace.forward}
    rows = [
        {
            "layer": stage.layer,
            "W": _shape(stage.dw),
            "‖W‖": norm(forward[stage.layer].weight),
            "‖∂L/∂W‖": norm(stage.dw),
            "‖∂L/∂b‖": norm(stage.db),
            "‖ΔW‖ / ‖W‖": norm(stage.new_weight - forward[stage.layer].weight)
            / max(norm(forward[stage.layer].weight), 1e-30),
        }
        for stage in reversed(trace.backward)
    ]
    table_column, loss_column = st.columns([3, 1], vertical_alignment="center")
    with table_column:
        st.dataframe(
            rows,
            hide_index=True,
            column_config={
                name: st.column_config.NumberColumn(format="%.3e")
                for name in ("‖W‖", "‖∂L/∂W‖", "‖∂L/∂b‖", "‖ΔW‖ / ‖W‖")
            },
        )
    with loss_column:
        st.metric(
            "This digit's loss after the step",
            f"{trace.loss_after:.4g}",
            f"{trace.loss_after - trace.loss:+.3g}",
            delta_color="inverse",
        )


def _sub(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
