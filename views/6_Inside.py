"""Inside: a saved run's first-layer weights, one digit's activations and saliency, and a PCA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
import torch
from torch import nn

from core import inside
from core.data import normalize, to_float
from ui import figures, state, widgets

MAX_WEIGHT_TILES = 64
PCA_POINTS = 2000
# modules whose output repeats its input's values or only reshapes it
SKIPPED_MODULES = (nn.Flatten, nn.Dropout, nn.Dropout2d)


@st.cache_data(max_entries=8, show_spinner="Projecting the test set…")
def _pca_for(path: str, modified: float, data: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    run = state.cached_run(path)
    result = state.cached_evaluation(path)
    count = min(PCA_POINTS, len(result.test_images))
    images = normalize(to_float(result.test_images[:count]), run.config.normalization)
    coords, explained = inside.pca_2d(inside.last_hidden_features(run.model, images))
    labels = [run.classes[int(i)] for i in result.evaluation.labels[:count]]
    return coords.numpy(), explained.numpy(), np.asarray(labels)


def weights_section(run) -> None:
    """Show the first layer's weights, one tile per neuron or filter."""
    weights = inside.first_layer_weights(run.model, run.spec)
    shown = weights[:MAX_WEIGHT_TILES]
    kind = "filter" if run.spec.conv else "neuron"
    st.subheader("First-layer weights")
    st.caption(
        f"One tile per {kind} ({len(shown)} of {len(weights)} shown): red pixels push the "
        "unit up, blue pull it down; each tile is scaled to its own largest weight."
    )
    st.image(widgets.weight_grid_image(shown, columns=16, size=56), width="stretch")


def digit_section(run, result) -> None:
    """Let the user pick a test digit; show its saliency and every layer's activations."""
    evaluation = result.evaluation
    mistakes = (evaluation.predictions != evaluation.labels).nonzero().flatten()
    default = int(mistakes[0]) if len(mistakes) else 0
    st.subheader("One digit, layer by layer")
    picture_column, activation_column = st.columns([1, 2], gap="medium")
    with picture_column:
        index = st.number_input(
            "Test digit number",
            min_value=0,
            max_value=len(result.test_images) - 1,
            value=default,
            help="Starts at the first test digit the model gets wrong.",
        )
    digit = result.test_images[index]
    image = normalize(to_float(digit[None]), run.config.normalization)
    predicted = int(evaluation.predictions[index])
    label = int(evaluation.labels[index])
    heat = inside.saliency(run.model, image, predicted)

    with picture_column:
        verdict = "right" if predicted == label else "wrong"
        st.markdown(
            f"Label **{run.classes[label]}**, predicted **{run.classes[predicted]}** ({verdict}) "
            f"with {float(evaluation.probabilities[index, predicted]):.0%}."
        )
        st.image(widgets.saliency_overlay_image(digit, heat, 224), width=224)
        st.caption(
            f"Saliency: the pixels whose change moves the score of "
            f"{run.classes[predicted]} most (red), over the digit."
        )
    with activation_column:
        layers = [
            (name, output)
            for (name, output), module in zip(inside.layer_activations(run.model, image), run.model)
            if not isinstance(module, SKIPPED_MODULES)
        ]
        st.caption(
            "Each layer's output for this digit; a convolution's maps are shown as one mean "
            "per channel."
        )
        columns = st.columns(2)
        for position, (name, output) in enumerate(layers):
            values = output.mean(dim=(1, 2)) if output.ndim == 3 else output
            with columns[position % 2]:
                st.plotly_chart(
                    figures.activation_bars_figure(f"{name} ({len(values)})", values),
                    config={"displayModeBar": False},
                    key=f"activations-{position}",
                )


def pca_section(path: str) -> None:
    """Show the test set's last-hidden-layer features in 2-D, coloured by digit."""
    st.subheader("Last hidden layer, projected to 2-D")
    modified = (Path(path) / "summary.json").stat().st_mtime
    coords, explained, labels = _pca_for(path, modified, str(state.data_dir()))
    st.caption(
        f"PCA of the features the output layer sees, for the first {len(labels):,} test "
        "digits: well-separated clusters are easy for the last layer to split."
    )
    st.plotly_chart(
        figures.pca_scatter_figure(coords, labels, np.arange(len(labels)), explained),
        config={"displayModeBar": False},
    )


st.title("Inside")
summary = widgets.run_picker("inside-run")
if summary is None:
    st.info(
        "No saved runs yet: train a network on the **Train** page, then come back to look "
        "inside it.",
        icon=":material/info:",
    )
    st.stop()

path = summary["path"]
try:
    run = state.cached_run(path)
    result = state.cached_evaluation(path)
except (OSError, ValueError) as exc:
    st.error(f"This run cannot be opened: {exc}")
    st.stop()

with torch.no_grad():
    weights_section(run)
digit_section(run, result)
pca_section(path)
