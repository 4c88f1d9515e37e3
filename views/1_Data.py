"""Data: what MNIST looks like, and which digits and normalisation the Train page uses."""

from __future__ import annotations

import streamlit as st
import torch

from core.data.datasets import DATASETS, DEFAULT_DATASET
from core.spec.presets import suited_to
from core.spec.task import ALL_DIGITS, NORMALIZATIONS, validate_classes
from ui.charts import figures
from ui.charts.figures import CHART_CONFIG
from ui.shared import build_state, guard, guide, lesson, mydigits_views, state, widgets
from ui.shared.pages import DATA_PAGE
from ui.shared.widgets import digit_grid_image

SUBSETS = {"All ten digits": list(ALL_DIGITS), "3 vs 7": [3, 7], "Custom": None}
NORMALIZATION_HELP = {
    "none": "pixels / 255 → [0, 1]",
    "mnist": "(x − 0.1307) / 0.3081: MNIST's mean and std",
    "half": "(x − 0.5) / 0.5 → [−1, 1]",
}
GRID_DIGITS = 24

config = build_state.current_config()

st.title("Data")
guide.start_here()
if not lesson.hidden("dataset"):
    chosen_dataset = st.segmented_control(
        "Dataset",
        list(DATASETS),
        default=config.dataset,
        format_func=lambda name: DATASETS[name].title,
        key=build_state.widget_key("dataset"),
        disabled=lesson.locked("dataset"),
        help="Every page follows: training, the runs listed, class names in every chart.",
    )
    lesson.note("dataset")
    if chosen_dataset and chosen_dataset != config.dataset:
        augmenting = config.augment.enabled
        suited_to(config, chosen_dataset, build_state.current_preset())
        if augmenting and not config.augment.enabled:
            st.toast(
                "Augmentation is off for Fashion-MNIST: its turns and stroke changes are shaped "
                "for handwriting (small-cnn: 92.9% without, 90.9% with).",
                icon=":material/info:",
            )
dataset = state.current_dataset()
problem = state.data_problem(dataset.name)
if problem:
    st.error(f"{dataset.title} cannot be loaded. {problem}")
    if st.button("Try again", icon=":material/refresh:", key="data-retry"):
        state.retry_data()
        st.rerun()
    st.stop()
data = state.dataset_data(dataset.name)
names = list(dataset.class_names)
st.caption(f"{dataset.title}: {dataset.about}")

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
            "Classes" if dataset.name != DEFAULT_DATASET else "Digits",
            list(SUBSETS),
            # the options keep MNIST's names (links, tests); another dataset shows its own
            format_func=lambda option: (
                option
                if dataset.name == DEFAULT_DATASET
                else {
                    "All ten digits": "All ten",
                    "3 vs 7": " vs ".join(dataset.labels([3, 7])),
                }.get(option, option)
            ),
            default=current,
            key=build_state.widget_key("subset"),
            disabled=lesson.locked("classes"),
        )
        subset = subset or current  # clicking the selected option again deselects it
        if subset == "Custom":
            chosen = st.pills(
                f"Choose at least two {'digits' if dataset.name == DEFAULT_DATASET else 'classes'}",
                list(ALL_DIGITS),
                format_func=dataset.label,
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
            st.error(f"{exc}. The Train page keeps {', '.join(dataset.labels(config.classes))}.")
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
counts[3].metric(
    f"{'Digits' if dataset.item == 'digit' else 'Classes'} to train on", len(config.classes)
)

with balance_column:
    st.markdown(f"**Images per {'digit' if dataset.item == 'digit' else 'class'}**")
    st.plotly_chart(
        figures.class_balance_figure(
            data.class_counts(train=True).tolist(),
            data.class_counts(train=False).tolist(),
            selected=config.classes,
            names=names,
            item="digit" if dataset.item == "digit" else "class",
        ),
        config=CHART_CONFIG,
    )

title_column, button_column = st.columns([5, 1], vertical_alignment="bottom")
title_column.header(f"Random training {dataset.item}s")
if button_column.button("Reshuffle", icon=":material/shuffle:", width="stretch"):
    st.session_state["grid_seed"] = st.session_state.get("grid_seed", 0) + 1
generator = torch.Generator().manual_seed(st.session_state.get("grid_seed", 0))
pool = torch.nonzero(torch.isin(data.train_labels, torch.tensor(config.classes))).flatten()
picked = pool[torch.randperm(len(pool), generator=generator)[:GRID_DIGITS]]
widgets.show_digit_grid(
    data.train_images[picked].numpy(),
    [dataset.short_names[int(d)] for d in data.train_labels[picked]],
    what=f"random training {dataset.item}s, labelled",
)

pixel_column, mean_column = st.columns([1, 1], gap="large")
with pixel_column:
    st.header(f"One {dataset.item}, pixel by pixel")
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
            data.train_images[index], f"Image {index:,}: {dataset.label(label)}, values 0–255"
        ),
        config=CHART_CONFIG,
    )
with mean_column:
    st.header(f"The average {dataset.item}")
    st.caption(
        f"Mean of all training images of each {'digit' if dataset.item == 'digit' else 'class'}: "
        "where the ink usually goes."
    )
    st.image(
        digit_grid_image(
            torch.stack(state.class_mean_images(dataset.name)).numpy(),
            list(dataset.short_names),
            columns=5,
        ),
        width="stretch",
        alt="The mean training image of each digit, 0 to 9: blurred strokes where the ink "
        "usually goes.",
    )

with guard.section("my digits"):
    mydigits_views.data_section()
guide.next_step(DATA_PAGE)
