"""The inside views that Train, Inside and Draw share: weights, gradient norms, features, layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from torch import nn

from core.analysis import inside
from core.data.datasets import get_dataset
from core.data.mnist import normalize, to_float
from core.events import FeaturesSnapshot, Step, WeightsSnapshot
from core.train.job import Job
from ui.charts import curve_figures, inside_figures, live_curves, palette
from ui.charts.figures import CHART_CONFIG
from ui.charts.shared_figures import figure_for, run_version
from ui.shared import state, talk, widgets

SNAPSHOT_CACHE_KEY = "_live_snapshot_pictures"
GRAD_NORMS_CAPTION = (
    "How large each layer's weight gradient is. Lines that fall towards zero for the first "
    "layers while the output layer's stay up mean vanishing gradients (try sigmoid against "
    "ReLU); lines shooting up mean exploding ones."
)
# modules whose output repeats its input's values or only reshapes it
SKIPPED_MODULES = (nn.Flatten, nn.Dropout, nn.Dropout2d)


def weights_caption(count: int, conv: bool, total: int) -> str:
    """Return the words under the first layer's weight tiles."""
    kind = "filter" if conv else "neuron"
    return (
        f"One tile per {kind} ({count} of {total} shown): {palette.POSITIVE_WORD} "
        f"pixels push the unit up, {palette.NEGATIVE_WORD} pull it down; each tile is scaled "
        "to its own largest weight."
    )


def weights_alt(count: int, conv: bool) -> str:
    """Return the weight tiles' text alternative."""
    kind = "filter" if conv else "neuron"
    return (
        f"The first layer's weights as {count} tiles, one per {kind}, each 28 by 28 "
        f"for a dense layer or the kernel's size for a convolution: {palette.POSITIVE_WORD} "
        f"pushes the unit up, {palette.NEGATIVE_WORD} pulls it down."
    )


def step_words(step: int) -> str:
    """Return what follows a live view's title: the step its snapshot was taken at."""
    return f"step {step:,}"


def features_heading(step: int) -> str:
    """Return what follows the live PCA's title: when its projection was taken."""
    return "before training" if step == 0 else step_words(step)


def features_caption(count: int) -> str:
    """Return the words under the live PCA."""
    return (
        f"PCA of {count:,} test digits' features, redrawn every two seconds: watch the "
        "clusters form."
    )


LIVE_TILE_COLUMNS, LIVE_TILE_SIZE = 8, 56  # the live weight tiles, polled or fed
WEIGHTS_TITLE = "First-layer weights"
FEATURES_TITLE = "Last hidden layer in 2-D"
GRADS_TITLE = "Gradient norms per layer"
WAITING_INSIDE = "The network's insides appear once training has started."
NO_GRADS = "Gradient norms appear after the first steps."


def weight_tiles(
    weights: torch.Tensor, conv: bool, total: int, columns: int = 16, image=None
) -> None:
    """Show first-layer weights as a grid of tiles, one per neuron or filter."""
    st.caption(weights_caption(len(weights), conv, total))
    if image is None:
        image = widgets.weight_grid_image(weights, columns=columns, size=56)
    st.image(image, width="stretch", alt=weights_alt(len(weights), conv))


def _per_snapshot(kind: str, snapshot, make):
    """Return make()'s result for this snapshot, made once: a rerun without a new one is free."""
    cache = st.session_state.setdefault(SNAPSHOT_CACHE_KEY, {})
    stamp = (snapshot.step, snapshot.time)
    if kind not in cache or cache[kind][0] != stamp:
        cache[kind] = (stamp, make())
    return cache[kind][1]


def grad_norms_chart(
    steps: list[Step],
    layers: list[str],
    key: str,
    live: bool = True,
    height: int = 280,
    version: tuple | None = None,
) -> None:
    """Show each layer's gradient norm over training, or say why there is none.

    version names a saved run's files (shared_figures.run_version): its figure is built once.
    """
    if not any(s.grad_norms for s in steps):
        st.caption(
            NO_GRADS
            if live
            else "This run was saved without gradient norms (trained before they were recorded)."
        )
        return

    def build():
        return curve_figures.grad_norms_figure(steps, layers, height=height)

    figure = figure_for(version, ("grad norms", height), build)
    st.plotly_chart(figure, key=key, config=CHART_CONFIG)
    st.caption(GRAD_NORMS_CAPTION)


def features_chart(
    coords, labels, classes, explained, key: str, caption: str, height: int = 460
) -> None:
    """Show digits' last-hidden-layer features in 2-D, coloured by digit."""
    digits = np.asarray([classes[int(i)] for i in labels])
    figure = inside_figures.pca_scatter_figure(
        np.asarray(coords), digits, np.arange(len(digits)), explained, height=height
    )
    st.plotly_chart(figure, key=key, config=CHART_CONFIG)
    st.caption(caption)


def live_inside(job: Job, key: str) -> None:
    """Show a running job's first-layer weights, feature PCA and gradient norms as they change."""
    plan = job.plan
    snapshot = job.snapshot(WeightsSnapshot)
    latest = job.snapshot(FeaturesSnapshot)
    if plan is None or snapshot is None:
        st.caption(WAITING_INSIDE)
        return
    weights_column, features_column = st.columns(2, gap="medium")
    with weights_column:
        st.markdown(f"**{WEIGHTS_TITLE}** · {step_words(snapshot.step)}")
        total = plan.first_layer_units or len(snapshot.weights)
        image = _per_snapshot(
            "weights",
            snapshot,
            lambda: widgets.weight_grid_image(snapshot.weights, LIVE_TILE_COLUMNS, LIVE_TILE_SIZE),
        )
        weight_tiles(snapshot.weights, bool(job.spec.conv), total, image=image)
    with features_column:
        if latest is not None:
            st.markdown(f"**{FEATURES_TITLE}** · {features_heading(latest.step)}")
            # a live chart: redrawn when a new projection arrives, and not in between
            live_curves.live_features(
                latest,
                get_dataset(job.config.dataset).labels(job.config.classes),
                key=f"{key}-features",
            )
            st.caption(features_caption(len(latest.labels)))
    st.markdown(f"**{GRADS_TITLE}**")
    if live_curves.live_grad_norms(job, key=f"{key}-grads"):
        st.caption(GRAD_NORMS_CAPTION)
    else:
        st.caption(NO_GRADS)


@dataclass(frozen=True)
class DigitViews:
    """What digit_layers draws for one digit: its saliency picture and one figure per layer."""

    saliency: np.ndarray  # RGB uint8: the digit with its saliency over it
    predicted_name: str
    layers: tuple  # of plotly figures, one per layer that changes the values


def digit_views(run, digit: torch.Tensor, predicted: int) -> DigitViews:
    """Compute one digit's saliency and every layer's activation figure.

    digit is a (28, 28) uint8 test digit or a (1, 28, 28) float drawing in [0, 1].
    """
    pixels = to_float(digit[None]) if digit.dtype == torch.uint8 else digit.reshape(1, 1, 28, 28)
    image = normalize(pixels.to(torch.float32), run.config.normalization)
    heat = inside.saliency(run.model, image, predicted)
    layers = []
    for (name, output), module in zip(inside.layer_activations(run.model, image), run.model):
        if isinstance(module, SKIPPED_MODULES):
            continue
        values = output.mean(dim=(1, 2)) if output.ndim == 3 else output
        layers.append(inside_figures.activation_bars_figure(f"{name} ({len(values)})", values))
    return DigitViews(
        widgets.saliency_overlay_image(digit, heat, 224),
        state.class_names(run)[predicted],
        tuple(layers),
    )


@st.cache_resource(max_entries=state.RUNS_EVALUATED, show_spinner=False)
def _views_of_test_digit(path: str, modified: float, index: int, font_scale: float) -> DigitViews:
    # shared by every session: the figures are only read (st.plotly_chart copies them)
    run = state.cached_run(path)
    result = state.cached_evaluation(path)
    predicted = int(result.evaluation.predictions[index])
    return digit_views(run, result.test_images[index], predicted)


def views_of_test_digit(path: str, index: int) -> DigitViews:
    """Return digit_views for a saved run's test digit number index, computed once for everyone."""
    return _views_of_test_digit(*run_version(path), int(index), talk.font_scale())


def digit_layers(views: DigitViews, key: str) -> None:
    """Show one digit's saliency for the predicted class and every layer's activations."""
    picture_column, activation_column = st.columns([1, 2], gap="medium")
    with picture_column:
        st.image(
            views.saliency,
            width=224,
            alt=f"The digit with its saliency for {views.predicted_name} laid over it: the "
            f"pixels that move that score most are brightest ({palette.SALIENCY_WORD}).",
        )
        st.caption(
            f"Saliency: the pixels whose change moves the score of {views.predicted_name} "
            f"most (bright {palette.SALIENCY_WORD}), over the dimmed digit."
        )
    with activation_column:
        st.caption(
            "Each layer's output for this digit; a convolution's maps are shown as one mean "
            "per channel."
        )
        columns = st.columns(2)
        for position, figure in enumerate(views.layers):
            with columns[position % 2]:
                st.plotly_chart(figure, config=CHART_CONFIG, key=f"{key}-activations-{position}")
