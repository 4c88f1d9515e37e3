"""Build: choose a preset or edit the layers; see the size, the diagram and the PyTorch code.

A lesson that locks `network` shows the editor greyed out (no preset, no layer changes); one that
hides it shows only the network's size, diagram and code.
"""

from __future__ import annotations

import streamlit as st

from core.analysis.inside import layer_equations
from core.spec import models
from core.spec.presets import PRESETS
from core.train.checks import check_trainable
from ui.build.layer_editor import conv_editor, dense_editor, output_editor
from ui.build.network_diagram import network_diagram_html
from ui.shared import build_state, guide, lesson, share
from ui.shared.pages import BUILD_PAGE

try:
    from core.export.script import export_script
except ImportError:  # the exporter is optional while it is being written
    export_script = None


def _load_chosen_preset() -> None:
    if lesson.locked(lesson.NETWORK):
        return  # a greyed-out picker changed through session state: the lesson's network stays
    build_state.load_preset(st.session_state["preset_picker"])


title_column, share_column = st.columns([5, 1], vertical_alignment="bottom")
title_column.title("Build")

names = list(PRESETS)
network_hidden = lesson.hidden(lesson.NETWORK)
network_locked = lesson.locked(lesson.NETWORK)
preset_column, description_column = st.columns([2, 3], vertical_alignment="bottom")
with preset_column:
    st.session_state["preset_picker"] = build_state.current_preset()
    if not network_hidden:
        st.selectbox(
            "Start from a preset",
            names,
            format_func=lambda name: f"{PRESETS[name].title} ({name})",
            key="preset_picker",
            on_change=_load_chosen_preset,
            disabled=network_locked,
            help="Loads the network and its training settings (Train page).",
        )
with description_column:
    preset = PRESETS[build_state.current_preset()]
    modified = " · **modified**" if build_state.is_modified() else ""
    reported = f"  \n:gray[{preset.reported}]" if preset.reported else ""
    st.markdown(f"{preset.description}{modified}{reported}")

spec = build_state.current_spec()
config = build_state.current_config()

if network_hidden:
    view_column = st.container()
else:
    editor_column, view_column = st.columns([3, 2], gap="medium")
    with editor_column:
        lesson.note(lesson.NETWORK)
        dense_tab, conv_tab, output_tab = st.tabs(
            [
                f"Dense layers ({len(spec.dense)})",
                f"Convolutions ({len(spec.conv)})",
                "Output",
            ]
        )
        with dense_tab:
            dense_editor(spec, disabled=network_locked)
        with conv_tab:
            conv_editor(spec, disabled=network_locked)
        with output_tab:
            output_editor(spec, len(config.classes), disabled=network_locked)
# greyed-out widgets are not trusted: what the lesson fixes is put back before it is used
lesson.enforce()

# after every widget has written its value: the URL and the link show what the page shows
share.sync_to_url()
with share_column:
    share.copy_link_button()

with view_column:
    try:
        spec.validate()
        valid = True
    except ValueError as exc:
        valid = False
        st.error(f"{exc}. Your other settings are kept; change this one to continue.")
    if valid:
        try:
            # also the batch against the task's size and the whole run against the memory budget
            check_trainable(spec, config)
        except ValueError as exc:
            st.error(f"With the training settings: {exc}.")
        metrics = st.columns(2)
        metrics[0].metric("Parameters", f"{models.parameter_count(spec):,}")
        metrics[1].metric(
            "Multiply-adds", f"{models.multiply_adds(spec):,}", help="Per image, forward pass."
        )
        st.html(network_diagram_html(spec))

if valid:
    with st.expander(
        "Under the hood: the equations of one training step", icon=":material/functions:"
    ):
        if spec.conv:
            st.info("This panel covers dense networks; remove the convolutions to see it.")
        else:
            batch = "B" if config.full_batch else config.batch_size
            loss = "mse" if config.loss == "mse" else "cross_entropy"
            st.caption(
                f"Forward pass, loss gradient and backward pass for a batch of B = {batch} "
                "images (batch norm and dropout left out). Rows of X are images; "
                "⊙ multiplies element by element."
            )
            for equation in layer_equations(spec, batch, loss):
                st.latex(equation)

    model_tab, code_tab = st.tabs(["print(model)", "PyTorch code"])
    with model_tab:
        st.code(models.summary(spec), language="text")
    with code_tab:
        if export_script is None:
            st.info("The PyTorch code export is not available in this version.")
        else:
            script = export_script(spec, config)
            st.caption(
                "A self-contained script (model, data loading, training loop) equivalent to "
                "these settings: `python train_mnist.py` trains it."
            )
            st.download_button(
                "Download train_mnist.py",
                script,
                file_name="train_mnist.py",
                mime="text/x-python",
                icon=":material/download:",
            )
            st.code(script, language="python", line_numbers=True, height=420)
guide.next_step(BUILD_PAGE)
