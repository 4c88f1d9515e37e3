"""The Build page's layer editor: one row of widgets per layer, writing into the ModelSpec.

Each widget starts from the spec in session state and writes its value back on every run, so
the spec always holds what the user sees. Adding, removing or moving a layer changes the list
in a callback and bumps the settings revision, so the rows are drawn again from the new list.
With `disabled` (a lesson fixes the network) every widget is drawn greyed out, to be read only.
"""

from __future__ import annotations

import copy

import streamlit as st

from core.spec.models import (
    ACTIVATIONS,
    INITS,
    MAX_CHANNELS,
    MAX_CONV_LAYERS,
    MAX_DENSE_LAYERS,
    MAX_DROPOUT,
    MAX_WIDTH,
    OUTPUT_HEADS,
    PADDINGS,
    POOLS,
    ConvLayer,
    DenseLayer,
    ModelSpec,
)
from ui.shared import build_state
from ui.shared.build_state import widget_key

ACTIVATION_NAMES = list(ACTIVATIONS)
KERNELS = list(range(1, 10))
# a convolution's on/off settings, stacked in one column: (field, label, key suffix, help)
CONV_FLAGS = (
    ("batch_norm", "Batch norm", "bn", None),
    (
        "pool_first",
        "Pool first",
        "pool_first",
        "conv → pool → activation → batch norm: the activation and the norm then work on a "
        "quarter of the pixels, which is faster and trains as well.",
    ),
    (
        "separable",
        "Separable",
        "separable",
        "A k×k filter per input channel, then a 1×1 convolution that mixes them: far fewer "
        "weights for almost the same features (MobileNet's depthwise-separable convolution).",
    ),
)


def _layers(kind: str) -> list:
    return getattr(build_state.current_spec(), kind)


def _add(kind: str) -> None:
    layers = _layers(kind)
    if layers:
        layers.append(copy.deepcopy(layers[-1]))
    else:
        layers.append(DenseLayer() if kind == "dense" else ConvLayer())
    build_state.bump_revision()


def _remove(kind: str, index: int) -> None:
    del _layers(kind)[index]
    spec = build_state.current_spec()
    if not spec.conv:
        spec.global_pool = False  # there are no maps left to average
    build_state.bump_revision()


def _move(kind: str, index: int, offset: int) -> None:
    layers = _layers(kind)
    other = index + offset
    if 0 <= other < len(layers):
        layers[index], layers[other] = layers[other], layers[index]
        build_state.bump_revision()


def _add_button(
    kind: str, label: str, count: int, limit: int, what: str, disabled: bool = False
) -> None:
    # a greyed-out button says nothing by itself: at the limit, say why next to it
    full = count >= limit
    reason = f"At most {limit} {what}: remove one to add another."
    st.button(
        label,
        icon=":material/add:",
        key=widget_key(f"{kind}_add"),
        disabled=full or disabled,
        on_click=_add,
        args=(kind,),
        help=reason if full else None,
    )
    if full:
        st.caption(reason)


def _row_buttons(columns, kind: str, index: int, count: int, disabled: bool = False) -> None:
    up, down, remove = columns
    up.button(
        "",
        icon=":material/arrow_upward:",
        key=widget_key(f"{kind}{index}_up"),
        help="Move up",
        disabled=disabled or index == 0,
        on_click=_move,
        args=(kind, index, -1),
    )
    down.button(
        "",
        icon=":material/arrow_downward:",
        key=widget_key(f"{kind}{index}_down"),
        help="Move down",
        disabled=disabled or index == count - 1,
        on_click=_move,
        args=(kind, index, 1),
    )
    remove.button(
        "",
        icon=":material/close:",
        key=widget_key(f"{kind}{index}_remove"),
        help="Remove this layer",
        disabled=disabled,
        on_click=_remove,
        args=(kind, index),
    )


DENSE_COLUMNS = [0.35, 1.4, 1.6, 1.3, 0.85, 0.5, 0.5, 0.5]


def dense_editor(spec: ModelSpec, disabled: bool = False) -> None:
    """Draw one row per hidden dense layer: width, activation, dropout, batch norm, move, remove."""
    for i, layer in enumerate(spec.dense):
        # only the first row shows labels: they head the columns like a table
        labels = "visible" if i == 0 else "collapsed"
        cells = st.columns(DENSE_COLUMNS, vertical_alignment="bottom")
        cells[0].markdown(f"**{i + 1}**")
        layer.width = cells[1].number_input(
            "Width",
            min_value=1,
            max_value=MAX_WIDTH,
            value=layer.width,
            step=16,
            key=widget_key(f"dense{i}_width"),
            disabled=disabled,
            label_visibility=labels,
        )
        layer.activation = _activation_box(cells[2], f"dense{i}", layer, disabled, labels)
        layer.dropout = _dropout_box(cells[3], f"dense{i}", layer, disabled, labels)
        layer.batch_norm = cells[4].checkbox(
            "BN",
            value=layer.batch_norm,
            key=widget_key(f"dense{i}_bn"),
            disabled=disabled,
        )
        _row_buttons(cells[5:], "dense", i, len(spec.dense), disabled)
    if not spec.dense:
        st.caption("No hidden layers: the inputs go straight to the output layer.")
    _add_button(
        "dense", "Add dense layer", len(spec.dense), MAX_DENSE_LAYERS, "dense layers", disabled
    )


# the two rows of a convolution's block share their first widths, so their cells line up
CONV_TOP_COLUMNS = [1.1, 1.4, 1.1, 1.4, 0.5, 0.5, 0.5]
CONV_BOTTOM_COLUMNS = [1.1, 1.4, 1.1, 1.4, 1.5]


def _conv_filter_row(spec: ModelSpec, i: int, layer: ConvLayer, disabled: bool) -> None:
    top = st.columns(CONV_TOP_COLUMNS, vertical_alignment="bottom")
    top[0].markdown(f"**Conv {i + 1}**")
    layer.channels = top[1].number_input(
        "Channels",
        min_value=1,
        max_value=MAX_CHANNELS,
        value=layer.channels,
        step=8,
        key=widget_key(f"conv{i}_channels"),
        disabled=disabled,
    )
    layer.kernel = top[2].selectbox(
        "Kernel",
        KERNELS,
        index=KERNELS.index(layer.kernel),
        format_func=lambda k: f"{k}×{k}",
        key=widget_key(f"conv{i}_kernel"),
        disabled=disabled,
    )
    layer.padding = top[3].selectbox(
        "Padding",
        PADDINGS,
        index=PADDINGS.index(layer.padding),
        key=widget_key(f"conv{i}_padding"),
        disabled=disabled,
    )
    _row_buttons(top[4:], "conv", i, len(spec.conv), disabled)


def _activation_box(cell, prefix: str, layer, disabled: bool, labels: str = "visible") -> str:
    # a dense or convolutional layer's activation: one widget, keyed by the layer
    return cell.selectbox(
        "Activation",
        ACTIVATION_NAMES,
        index=ACTIVATION_NAMES.index(layer.activation),
        key=widget_key(f"{prefix}_activation"),
        disabled=disabled,
        label_visibility=labels,
    )


def _dropout_box(cell, prefix: str, layer, disabled: bool, labels: str = "visible") -> float:
    return cell.number_input(
        "Dropout",
        min_value=0.0,
        max_value=MAX_DROPOUT,
        value=float(layer.dropout),
        step=0.05,
        format="%.2f",
        key=widget_key(f"{prefix}_dropout"),
        disabled=disabled,
        label_visibility=labels,
    )


def _conv_options_row(i: int, layer: ConvLayer, disabled: bool) -> None:
    bottom = st.columns(CONV_BOTTOM_COLUMNS, vertical_alignment="bottom")
    layer.activation = _activation_box(bottom[1], f"conv{i}", layer, disabled)
    layer.pool = bottom[3].selectbox(
        "Pool 2×2",
        POOLS,
        index=POOLS.index(layer.pool),
        key=widget_key(f"conv{i}_pool"),
        disabled=disabled,
    )
    layer.dropout = _dropout_box(bottom[2], f"conv{i}", layer, disabled)
    for name, label, key, help_text in CONV_FLAGS:
        setattr(
            layer,
            name,
            bottom[4].checkbox(
                label,
                value=getattr(layer, name),
                key=widget_key(f"conv{i}_{key}"),
                disabled=disabled,
                help=help_text,
            ),
        )


def _global_pool_checkbox(spec: ModelSpec, disabled: bool) -> None:
    spec.global_pool = st.checkbox(
        "Average each map (global average pooling)",
        value=spec.global_pool,
        key=widget_key("global_pool"),
        disabled=disabled,
        help="The last convolution's maps are averaged to one number per channel instead of "
        "flattened: the next layer then needs C weights per unit instead of C·H·W.",
    )


def conv_editor(spec: ModelSpec, disabled: bool = False) -> None:
    """Draw one block per convolution layer: channels, kernel, padding, activation, pool, BN."""
    if not spec.conv:
        st.caption(
            "No convolutions: the 28×28 image is flattened to 784 numbers. "
            "Add a convolution to look at small patches first."
        )
    for i, layer in enumerate(spec.conv):
        with st.container(border=True):
            _conv_filter_row(spec, i, layer, disabled)
            _conv_options_row(i, layer, disabled)
    if spec.conv:
        _global_pool_checkbox(spec, disabled)
    _add_button(
        "conv", "Add convolution", len(spec.conv), MAX_CONV_LAYERS, "convolutions", disabled
    )


def output_editor(spec: ModelSpec, n_classes: int, disabled: bool = False) -> None:
    """Draw the output layer's settings: number of outputs, output head and initialisation."""
    columns = st.columns(3)
    spec.outputs = columns[0].number_input(
        "Outputs",
        min_value=1,
        max_value=10,
        value=spec.outputs,
        key=widget_key("outputs"),
        disabled=disabled,
        help=f"One per digit ({n_classes} now), or 1 with a sigmoid to separate two digits.",
    )
    spec.output = columns[1].selectbox(
        "Output head",
        OUTPUT_HEADS,
        index=OUTPUT_HEADS.index(spec.output),
        key=widget_key("output"),
        disabled=disabled,
        help="logits for cross-entropy, log_softmax for NLL, sigmoid for one output with MSE.",
    )
    spec.init = columns[2].selectbox(
        "Initial weights",
        INITS,
        index=INITS.index(spec.init),
        key=widget_key("init"),
        disabled=disabled,
        help="default: PyTorch's scaled uniform; randn: standard normal, as in the from-scratch tutorial.",
    )
