"""Inside: a saved run's first-layer weights, one digit's activations, saliency and backprop,
a PCA, and the replay of its training."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.analysis import inside, probes
from core.data.mnist import normalize, to_float
from ui.charts import inside_figures
from ui.charts.figures import CHART_CONFIG
from ui.charts.shared_figures import run_version, shared_figure
from ui.feed import live_feed
from ui.inside import backprop_panel, replay_views
from ui.shared import guard, inside_views, session, state, talk, widgets
from ui.shared.words import article, with_article

MAX_WEIGHT_TILES = 64
PCA_POINTS = 2000


@st.cache_data(max_entries=8, show_spinner="Projecting the test set…")
def _pca_for(path: str, modified: float, data: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    run = state.cached_run(path)
    result = state.cached_evaluation(path)
    count = min(PCA_POINTS, len(result.test_images))
    images = normalize(to_float(result.test_images[:count]), run.config.normalization)
    coords, explained = inside.pca_2d(inside.last_hidden_features(run.model, images))
    names = state.class_names(run)
    labels = [names[int(i)] for i in result.evaluation.labels[:count]]
    return coords.numpy(), explained.numpy(), np.asarray(labels)


def weights_section(run) -> None:
    """Show the first layer's weights, one tile per neuron or filter."""
    weights = inside.first_layer_weights(run.model, run.spec)
    st.header("First-layer weights")
    st.caption(
        "What to look for: each tile is the pattern of ink one neuron or filter answers to. "
        "Strokes and blobs mean it has learnt shapes; fine static means it has not learnt much "
        "yet."
    )
    inside_views.weight_tiles(weights[:MAX_WEIGHT_TILES], bool(run.spec.conv), len(weights))


def digit_section(path: str, run, result) -> None:
    """Let the user pick a test digit; show its saliency and every layer's activations."""
    evaluation = result.evaluation
    mistakes = (evaluation.predictions != evaluation.labels).nonzero().flatten()
    default = int(mistakes[0]) if len(mistakes) else 0
    st.header("One digit, layer by layer")
    st.caption(
        "What to look for: the glow over the digit is where ink mattered most to the answer "
        "(averaged over slightly noisy copies, so strokes show rather than speckle); the "
        "layers below show how the digit turns into a few strong numbers the last layer reads."
    )
    choice, verdict_column = st.columns([1, 2], vertical_alignment="bottom")
    with choice:
        index = st.number_input(
            "Test digit number",
            min_value=0,
            max_value=len(result.test_images) - 1,
            value=default,
            help="Starts at the first test digit the model gets wrong.",
        )
    predicted = int(evaluation.predictions[index])
    label = int(evaluation.labels[index])
    with verdict_column:
        verdict = "right" if predicted == label else "wrong"
        st.markdown(
            f"Label **{state.class_names(run)[label]}**, predicted "
            f"**{state.class_names(run)[predicted]}** ({verdict}) "
            f"with {float(evaluation.probabilities[index, predicted]):.0%}."
        )
    inside_views.digit_layers(inside_views.views_of_test_digit(path, index), key="inside-digit")


def gradients_section(path: str, run) -> None:
    """Show how each layer's gradient norm moved while this run trained."""
    st.header("Gradient norms per layer")
    st.caption(
        "What to look for: how hard each layer was being pushed at each step. Lines that fall "
        "steadily mean it is settling; one layer far below the others (several powers of ten) "
        "barely learns: a vanishing gradient. Spikes are a learning rate too high."
    )
    inside_views.grad_norms_chart(
        run.steps,
        probes.layer_labels(run.model),
        key="inside-grads",
        live=False,
        version=run_version(path),
    )


def live_section(job) -> None:
    """Follow this session's running job: its weights, features and gradients as they change.

    Where the server answers the live feed, the browser fetches them itself and the page's
    script does not run while the job trains (ui/feed/live_feed.py); the feed's element reruns
    the page when the job ends or changes state, and the sidebar keeps the tab's jobs going.
    """
    st.header(f"Live: {widgets.escape_markdown(job.name)} is training")
    if job.state != "queued" and live_feed.served():
        scale = talk.font_scale()
        live_feed.live_feed_view(job, key="inside-live-feed", scale=scale, view="inside")
    else:
        polled_live_section(job.run_id)
    st.divider()


@st.fragment(run_every=0.5)
def polled_live_section(run_id: str) -> None:
    """Poll the running job twice a second and draw its insides (no feed, or still queued)."""
    job = state.registry().get(run_id)
    if job is None or not job.active:
        st.rerun()  # the whole page shows the finished run instead
    if job.state == "queued":
        st.info("It is queued: the views start when its training does.")
        return
    if live_feed.served():
        st.rerun()  # it has started: the browser fetches the views from now on
    inside_views.live_inside(job, key="inside-live")


def pca_section(path: str, result) -> None:
    """Show the test set's last-hidden-layer features in 2-D; a clicked point shows its digit."""
    st.header("Last hidden layer, projected to 2-D")
    coords, explained, labels = _pca_for(*run_version(path), str(state.data_dir()))
    st.caption(
        f"PCA of the features the output layer sees, for the first {len(labels):,} test "
        "digits: well-separated clusters are easy for the last layer to split. Hover a point "
        "for its digit and number; click it to see the digit."
    )
    chart_column, digit_column = st.columns([4, 1], gap="medium")
    with chart_column:
        event = st.plotly_chart(
            shared_figure(
                (*run_version(path), "pca"),
                lambda: inside_figures.pca_scatter_figure(
                    coords, labels, np.arange(len(labels)), explained
                ),
            ),
            config=CHART_CONFIG,
            on_select="rerun",
            selection_mode="points",
            key="inside-pca",
        )
    points = event.selection.points if event else []
    with digit_column:
        if not points:
            st.caption("Click a point to see its digit here.")
            return
        index = int(points[0]["customdata"])
        predicted = result.evaluation.predictions[index]
        st.image(
            widgets.upscale_digit(result.test_images[index], 140),
            width=140,
            alt=f"Test digit #{index}, {with_article(labels[index])}",
        )
        st.markdown(
            f"Test digit **#{index}**: {article(labels[index])} **{labels[index]}**, predicted "
            f"**{state.class_names(state.cached_run(path))[int(predicted)]}**."
        )


st.title("Inside")
live_job = session.find_job()
if live_job is not None and live_job.active:
    live_section(live_job)
summary = widgets.run_picker("inside-run")
if summary is None and live_job is not None and live_job.active:
    st.stop()
if summary is None:
    st.info(
        "No saved runs yet: train a network on the **Train** page, then come back to look "
        "inside it.",
        icon=":material/info:",
    )
    st.stop()

path = summary["path"]
with guard.section("this run"):
    try:
        run = state.cached_run(path)
        result = state.cached_evaluation(path)
    except (OSError, ValueError) as exc:
        st.error(f"This run cannot be opened: {exc}")
        st.stop()
    # each part on its own: one that fails leaves the others drawn
    with guard.section("the first-layer weights"), torch.no_grad():
        weights_section(run)
    with guard.section("the digit's layers"):
        digit_section(path, run, result)
    with (
        guard.section("the backprop walk-through"),
        st.expander("Step through backprop", icon=":material/school:"),
    ):
        backprop_panel.backprop_panel(path)
    with guard.section("the projection"):
        pca_section(path, result)
    with guard.section("the replay"):
        replay_views.replay_section(path, run)
    with guard.section("the gradient norms"):
        gradients_section(path, run)
