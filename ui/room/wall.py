"""The presenter's wall: the room's QR code and address, its drawings as they arrive, its scores."""

from __future__ import annotations

import html

import streamlit as st
import torch

from core.analysis.evaluation import evaluate_probabilities
from core.room.address import join_address
from core.room.store import Room, RoomDrawing, RoomRefused
from ui.charts import evaluation_figures
from ui.charts.figures import CHART_CONFIG
from ui.room import hub, take_home, teach_panel
from ui.room.qr import QR_PIXELS, TALK_QR_PIXELS, qr_png
from ui.shared import state, talk, widgets
from ui.shared.words import with_article

WALL_TILES = 18  # the newest drawings on the wall: three rows of six
PER_ROW = 6
TILE_PIXELS = 84
TALK_TILE_PIXELS = 120  # on a projector, read from the back of the room
REFRESH_SECONDS = 1.0  # a phone's drawing is on the wall within about this long
WALL_CSS = """<style>
.dl-code {font-size: 3.2rem; font-weight: 800; letter-spacing: 0.25em; line-height: 1;
  margin: 0.2rem 0 0.6rem;}
.dl-link {font-size: 1.25rem; word-break: break-all;}
.dl-tile {font-size: 1.05rem; line-height: 1.2; margin: 0;}
.dl-right {color: #15803d; font-weight: 700;}
.dl-wrong {color: #b91c1c; font-weight: 700;}
</style>"""


def open_room() -> None:
    """Open a room for this browser (button callback)."""
    secret = hub.presenter_secret(make=True)
    room = hub.store().open_room(secret)
    if path := state.active_run_path():
        hub.store().set_model(room.code, secret, path)


def close_room(code: str) -> None:
    """Close this browser's room (button callback): its drawings stay, as a set of my digits."""
    try:
        hub.store().close(code, hub.presenter_secret() or "")
    except RoomRefused as exc:
        st.session_state["room-problem"] = str(exc)


def offer_a_room() -> None:
    """Say what a room is, and open one in one click."""
    st.markdown(
        "Let the audience take part: they scan a QR code with their phones, draw the digits "
        "the app asks each of them for, and their drawings appear here as they arrive, read "
        "by your model. Their drawings are kept as a set of your own digits."
    )
    st.button("Open a room", type="primary", icon=":material/qr_code_2:", on_click=open_room)


def follow_active_model(room: Room) -> Room:
    """Let the presenter's active model read the room's drawings (it changes with the sidebar)."""
    path = state.active_run_path()
    if path and path != room.model and (secret := hub.presenter_secret()):
        return hub.store().set_model(room.code, secret, path)
    return room


def invitation(room: Room) -> None:
    """Show the QR code, the room's code and link, and why phones may not reach it."""
    port = int(st.get_option("server.port") or 8501)
    address = join_address(room.code, port, st.get_option("server.address"))
    picture = qr_png(address.url, TALK_QR_PIXELS if talk.active() else QR_PIXELS)
    # shown at its own size, as a PNG: a QR code scaled or made a JPEG scans worse
    st.image(
        picture, output_format="PNG", caption="Scan with your phone's camera",
        alt=f"QR code of the room's link, {address.url}",
    )  # fmt: skip
    st.markdown(
        f'<div class="dl-code" aria-label="room code {" ".join(room.code)}">{room.code}</div>'
        f'<div class="dl-link">{html.escape(address.url)}</div>',
        unsafe_allow_html=True,
    )
    if address.problem:
        st.warning(address.problem, icon=":material/wifi_off:")


def _hide(code: str, digit_id: str) -> None:
    try:
        hub.store().hide(code, hub.presenter_secret() or "", digit_id)
    except RoomRefused as exc:
        st.session_state["room-problem"] = str(exc)


def tiles(room: Room, shown: list[RoomDrawing], guesses: list[int | None]) -> None:
    """Show the newest drawings, each with the digit asked, the model's guess, and Hide."""
    images = hub.store().images(room.code, [d.id for d in shown])
    size = TALK_TILE_PIXELS if talk.active() else TILE_PIXELS
    for start in range(0, len(shown), PER_ROW):
        for column, drawing, guess, image in zip(
            st.columns(PER_ROW),
            shown[start : start + PER_ROW],
            guesses[start : start + PER_ROW],
            images[start : start + PER_ROW],
            strict=False,
        ):
            with column:
                st.image(
                    widgets.upscale_digit(image, size),
                    width=size,
                    alt=f"A drawn {drawing.label}",
                )
                said = with_article(drawing.label)
                if guess is not None:
                    kind, sign = ("dl-right", "✓") if guess == drawing.label else ("dl-wrong", "✗")
                    said += f', read <span class="{kind}">{guess} {sign}</span>'
                st.markdown(f'<p class="dl-tile">{said}</p>', unsafe_allow_html=True)
                st.button(
                    "Hide",
                    key=f"room-hide-{drawing.id}",
                    on_click=_hide,
                    args=(room.code, drawing.id),
                    icon=":material/visibility_off:",
                    help="Off the wall and out of the set: for a joke or a rude one.",
                )


def _read(room: Room):
    """Return the room's drawings, its model, each drawing's guess, and the room's scores."""
    drawings = hub.store().drawings(room.code)
    run = hub.room_model(room)
    guesses: list[int | None] = [None] * len(drawings)
    evaluation = None
    if run is not None and drawings:
        probabilities = hub.probabilities(run, room, [d.id for d in drawings])
        guesses = [run.classes[int(row.argmax())] for row in probabilities]
        known = [i for i, d in enumerate(drawings) if d.label in run.classes]
        if known:
            labels = torch.tensor([run.classes.index(drawings[i].label) for i in known])
            evaluation = evaluate_probabilities(
                torch.from_numpy(probabilities[known]), labels, tuple(run.classes)
            )
    return drawings, run, guesses, evaluation


def counts(room: Room, drawings, run, evaluation) -> None:
    """How many phones joined and drew, and how well the model reads the room against MNIST."""
    joined, drew = hub.store().phones(room.code, drawings)
    top, bottom = st.columns(2), st.columns(2)
    top[0].metric("Phones joined", joined)
    top[1].metric("Drawings", len(drawings), help=f"from {drew} phones")
    bottom[0].metric(
        "The room's accuracy",
        f"{evaluation.accuracy:.0%}" if evaluation is not None else "–",
        help="How many of the room's drawings the model reads right.",
    )
    test = run.summary.get("test_accuracy") if run is not None else None
    bottom[1].metric("On MNIST's test digits", f"{test:.1%}" if test is not None else "–")
    if run is None:
        st.info(
            "No model reads the drawings yet: choose or train one (the sidebar's active "
            "model reads the room).",
            icon=":material/model_training:",
        )


@st.fragment(run_every=REFRESH_SECONDS)
def live_wall(code: str) -> None:
    """The wall, redrawn every second: the invitation, the counts, the drawings, the scores."""
    room = hub.store().room(code)
    if room is None or not room.is_open(hub.store().clock()):
        st.rerun()  # closed: the whole page says so
    room = teach_panel.settle(room)  # a fine-tune that ended makes its run the room's model
    drawings, run, guesses, evaluation = _read(room)
    left, right = st.columns([1, 2], gap="large")
    with left:
        invitation(room)
        counts(room, drawings, run, evaluation)
        teach_panel.teach(room)
        take_home.take_home(room)
        st.button(
            "Close the room",
            icon=":material/door_front:",
            on_click=close_room,
            args=(room.code,),
            key="room-close",
            help="Phones can no longer send. The drawings stay, as a set of your digits "
            f"named “{room.set_name}”.",
        )
    with right:
        if problem := st.session_state.pop("room-problem", None):
            st.error(problem)
        if not drawings:
            st.info(
                "No drawings yet: they appear here, newest first, as the phones send them.",
                icon=":material/hourglass_empty:",
            )
            return
        tiles(room, drawings[:WALL_TILES], guesses[:WALL_TILES])
        if evaluation is not None:
            scores(evaluation, run.classes)


def scores(evaluation, classes) -> None:
    """The room's accuracy per digit and its confusion matrix."""
    names = [str(c) for c in classes]
    height = 420 if talk.active() else 320
    left, right = st.columns(2)
    with left:
        st.markdown("**The room's accuracy per digit**")
        # a digit nobody drew yet has no bar, not a bar of 0%
        figure = evaluation_figures.per_class_accuracy_figure(
            evaluation.per_class_accuracy,
            names,
            evaluation.accuracy,
            counts=evaluation.class_counts(),
        )
        st.plotly_chart(
            figure.update_layout(height=height), config=CHART_CONFIG, key="room-per-digit"
        )
    with right:
        st.markdown("**The room's confusion matrix**")
        figure = evaluation_figures.confusion_matrix_figure(evaluation.confusion, names, False)
        st.plotly_chart(
            figure.update_layout(height=height), config=CHART_CONFIG, key="room-confusion"
        )
