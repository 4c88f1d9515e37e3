"""Data: what MNIST looks like, and which digits and normalisation the Train page uses."""

from __future__ import annotations

import streamlit as st
import torch

from core.data import ALL_DIGITS, NORMALIZATIONS, validate_classes
from ui import build_state, figures, guard, lesson, mydigits_views, state, widgets
from ui.widgets import digit_grid_image

SUBSETS = {"All ten digits": list(ALL_DIGITS), "3 vs 7": [3, 7], "Custom": None}
NORMALIZATION_HELP = {
    "none": "pixels / 255 → [0, 1]",
    "mnist": "(x − 0.1307) / 0.3081: MNIST's mean and std",
    "half": "(x − 0.5) / 0.5 → [−1, 1]",
}
GRID_DIGITS = 24

data = state.mnist()
config = build_state.current_config()

st.title("Data")
st.caption(
    "MNIST: 70,000 handwritten digits, 28×28 grey pixels each, written by US census staff "
    "and students."
)

counts = st.columns(4)
counts[0].metric("Training images", f"{len(data.train_labels):,}")
counts[1].metric("Test images", f"{len(data.test_labels):,}")
counts[2].metric("Loaded from", data.source, help=str(data.root))

balance_column, task_column = st.columns([3, 2], gap="large")
with task_column, st.container(border=True):
    st.markdown("**Task for the Train page**")
    if not lesson.hidden("classes"):
        current = next(
            (name for name, digits in SUBSETS.items() if digits == config.classes), "Custom"
        )
        subset = st.segmented_control(
            "Digits",
            list(SUBSETS),
            default=current,
            key=build_state.widget_key("subset"),
            disabled=lesson.locked("classes"),
        )
        subset = subset or current  # clicking the selected option again deselects it
        if subset == "Custom":
            chosen = st.pills(
                "Choose at least two digits",
                list(ALL_DIGITS),
                selection_mode="multi",
                default=config.classes,
                key=build_state.widget_key("digits"),
                disabled=lesson.locked("classes"),
            )
        else:
            chosen = SUBSETS[subset]
        lesson.note("classes")
        try:
            build_state.set_classes(list(validate_classes(chosen)))
        except ValueError as exc:
            st.error(f"{exc}. The Train page keeps digits {config.classes}.")
    if not lesson.hidden("normalization"):
        config.normalization = st.radio(
            "Normalisation",
            list(NORMALIZATIONS),
            index=list(NORMALIZATIONS).index(config.normalization),
            format_func=lambda mode: f"{mode}: {NORMALIZATION_HELP[mode]}",
            key=build_state.widget_key("normalization"),
            disabled=lesson.locked("normalization"),
        )
        lesson.note("normalization")
# filled in after the picker, so that it shows this run's choice
counts[3].metric("Digits to train on", len(config.classes))

with balance_column:
    st.markdown("**Images per digit**")
    st.plotly_chart(
        figures.class_balance_figure(
            data.class_counts(train=True).tolist(),
            data.class_counts(train=False).tolist(),
            selected=config.classes,
        ),
        config={"displayModeBar": False},
    )

title_column, button_column = st.columns([5, 1], vertical_alignment="bottom")
title_column.header("Random training digits")
if button_column.button("Reshuffle", icon=":material/shuffle:", width="stretch"):
    st.session_state["grid_seed"] = st.session_state.get("grid_seed", 0) + 1
generator = torch.Generator().manual_seed(st.session_state.get("grid_seed", 0))
pool = torch.nonzero(torch.isin(data.train_labels, torch.tensor(config.classes))).flatten()
picked = pool[torch.randperm(len(pool), generator=generator)[:GRID_DIGITS]]
widgets.show_digit_grid(
    data.train_images[picked].numpy(),
    [str(int(d)) for d in data.train_labels[picked]],
    what="random training digits, labelled",
)

pixel_column, mean_column = st.columns([1, 1], gap="large")
with pixel_column:
    st.header("One digit, pixel by pixel")
    index = st.number_input(
        "Training image number",
        min_value=0,
        max_value=len(data.train_labels) - 1,
        value=int(picked[0]) if len(picked) else 0,
        step=1,
        key=f"pixel_index_{st.session_state.get('grid_seed', 0)}",
        help="The first digit of the grid above, unless you choose another.",
    )
    label = int(data.train_labels[index])
    st.plotly_chart(
        figures.digit_heatmap_figure(
            data.train_images[index], f"Image {index:,}: a {label}, values 0–255"
        ),
        config={"displayModeBar": False},
    )
with mean_column:
    st.header("The average digit")
    st.caption("Mean of all training images of each digit: where the ink usually goes.")
    st.image(
        digit_grid_image(
            torch.stack(state.class_mean_images()).numpy(),
            [str(d) for d in ALL_DIGITS],
            columns=5,
        ),
        width="stretch",
        alt="The mean training image of each digit, 0 to 9: blurred strokes where the ink "
        "usually goes.",
    )

with guard.section("my digits"):
    mydigits_views.data_section()
