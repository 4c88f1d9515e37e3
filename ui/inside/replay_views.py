"""The Inside page's replay: a saved run's training, frame by frame (core.train.replay)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.charts import evaluation_figures, palette, replay_figures
from ui.charts.figures import CHART_CONFIG
from ui.charts.shared_figures import run_version, shared_figure
from ui.shared import state, widgets
from ui.shared.words import with_article

FRAME_KEY = "inside-replay-frame"
PLAY_KEY = "inside-replay-play"
PLAY_SECONDS = 1.0  # a frame a second: each step redraws three pictures on the server
NO_REPLAY = (
    "This run was saved before replays were recorded: train it again (or a copy of its "
    "settings) to watch its training replayed here."
)


@st.cache_resource(max_entries=64, show_spinner=False)
def _weights_picture(path: str, modified: float, frame: int) -> np.ndarray:
    replay = state.cached_run(path).replay
    return widgets.weight_grid_image(replay.frame_weights(frame), columns=8, size=56)


def replay_section(path: str, run) -> None:
    """Show the run's replay: the animated projection, then one frame's weights and answers."""
    st.header("Replay training")
    replay = run.replay
    if replay is None:
        st.info(NO_REPLAY, icon=":material/history:")
        return
    points = len(replay.labels)
    st.caption(
        f"The network at {len(replay)} moments of its training: before it, after a few early "
        f"steps and at the ends of epochs. **▶ Play** moves {points:,} fixed test digits "
        "through the last hidden layer's 2-D PCA as the classes pull apart. Each frame is "
        "scaled to the same spread and turned to match the next, so points move instead of "
        "flipping; the last frame keeps its own PCA axes."
    )
    st.plotly_chart(
        shared_figure(
            (*run_version(path), "replay"),
            lambda: replay_figures.replay_scatter_figure(replay, state.class_names(run)),
        ),
        config=CHART_CONFIG,
        key="inside-replay-scatter",
    )
    st.toggle(
        "Play the frames below",
        key=PLAY_KEY,
        help=f"Steps the slider on by one frame every {PLAY_SECONDS:g} s, round and round.",
    )
    playing = st.session_state.get(PLAY_KEY, False)
    st.fragment(run_every=PLAY_SECONDS if playing else None)(frame_panels)(path, playing)


def frame_panels(path: str, playing: bool) -> None:
    """Show the slider over the frames and, at the chosen one, the weights, confusion and answers."""
    run = state.cached_run(path)
    replay = run.replay
    count = len(replay)
    frame = st.session_state.get(FRAME_KEY)
    if frame is None or frame >= count:
        st.session_state[FRAME_KEY] = count - 1
    elif playing:
        st.session_state[FRAME_KEY] = (frame + 1) % count
    frame = st.select_slider(
        "Frame",
        options=list(range(count)),
        format_func=lambda i: replay_figures.frame_label(replay, i),
        key=FRAME_KEY,
    )
    weights_column, confusion_column = st.columns(2, gap="medium")
    with weights_column:
        total = replay.tiles_total
        shown = replay.weights.shape[1]
        kind = "filter" if run.spec.conv else "neuron"
        st.markdown(f"**First-layer weights** · {shown} of {total} {kind}s")
        st.image(
            _weights_picture(*run_version(path), frame),
            width="stretch",
            alt=f"The first layer's weights at {replay_figures.frame_label(replay, frame)}, "
            f"one tile per {kind}: {palette.POSITIVE_WORD} pushes the unit up, "
            f"{palette.NEGATIVE_WORD} pulls it down.",
        )
    with confusion_column:
        st.markdown(
            f"**Confusion matrix** · {replay.accuracy(frame):.0%} of the {len(replay.labels):,} "
            "projected digits right"
        )
        st.plotly_chart(
            evaluation_figures.confusion_matrix_figure(
                replay.confusion[frame], state.class_names(run), False
            ),
            config=CHART_CONFIG,
            key="inside-replay-confusion",
        )
    digits_section(run, frame)


def digits_section(run, frame: int) -> None:
    """Show the replay's fixed test digits and what the network made of each at a frame."""
    replay = run.replay
    probabilities = replay.probabilities[frame].float()
    predicted = probabilities.argmax(1).tolist()
    st.markdown(f"**{len(replay.digits)} fixed test digits** · what the network answers")
    captions = [
        f"{n + 1}: {state.class_names(run)[int(true)]} → {state.class_names(run)[guess]} "
        f"{float(probabilities[n, guess]):.0%}"
        for n, (true, guess) in enumerate(zip(replay.digit_labels, predicted))
    ]
    st.image(
        [widgets.upscale_digit(digit, 56) for digit in replay.digits],
        caption=captions,
        width=56,
        alt=[
            f"Test digit {n + 1}, {with_article(state.class_names(run)[int(c)])}"
            for n, c in enumerate(replay.digit_labels)
        ],
    )
    st.plotly_chart(
        replay_figures.replay_probabilities_figure(
            probabilities.numpy(), replay.digit_labels, state.class_names(run), replay.digit_indices
        ),
        config=CHART_CONFIG,
        key="inside-replay-probabilities",
    )
