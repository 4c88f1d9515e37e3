"""The phone's page: one prompt, a canvas as wide as the screen, Send, and the model's answer."""

from __future__ import annotations

import html
import math

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.draw.preprocess import read_drawing
from core.room.codes import normalize_code
from core.room.store import Room, RoomRefused
from ui.room import hub
from ui.room.canvas_message import canvas_pixels
from ui.shared.words import article

# drawn at 320 px, zoomed to the screen's width (upright) or height (sideways) by PHONE_CSS
CANVAS_SIZE = 320
STROKE_WIDTH = 24  # at 320 px: the Draw page's 20 px at 280, for a finger's wider line
BACKGROUND = (0, 0, 0)
CODE_PARAM = "room"
# why a drawing cannot be sent, in the Draw page's words (core.draw.preprocess.Reading.problem)
NOT_SENDABLE = {
    "empty": "Draw the digit first, then press Send.",
    "speck": "That is a dot, not a digit yet: draw the whole digit.",
    "covered": "The square is almost all ink: press Clear and draw one digit, with black around it.",
}
CANVAS_VERSION_KEY = "join-canvas"
IMAGE_KEY = "join-image"
RESULT_KEY = "join-result"  # what the last Send gave: said above the next prompt

# A phone sees nothing of the presenter's: no header, sidebar or navigation. Upright, the page
# is the prompt, the canvas as wide as the screen, Send and Clear, the answer; turned sideways,
# a one-line prompt, the canvas as tall as the rest of the screen, the buttons and the answer
# beside it. The
# canvas is drawn at CANVAS_SIZE and zoomed (CSS zoom keeps a finger's position right), in
# steps of media queries; it does not let a finger scroll or zoom the page while it draws.
CANVAS_SELECTOR = '[class*="st-key-join-canvas"]'


def _zoom(room: float) -> float:
    """Return the canvas's zoom to fill room CSS pixels, rounded down to a fiftieth."""
    return math.floor(room / CANVAS_SIZE * 50) / 50


def _zoom_rules() -> list[str]:
    """Return media queries that zoom the canvas to the screen, in 10 px steps."""
    rules = []
    for width in range(300, 640, 10):  # upright phones: the columns stack, the canvas is wide
        rules.append(("portrait", "width", width, _zoom(width - 28)))
    for width in range(640, 1300, 20):  # upright tablets: canvas and controls side by side
        rules.append(("portrait", "width", width, _zoom((width - 28) / 2 - 12)))
    for height in range(250, 560, 10):  # sideways: under the one-line prompt
        rules.append(("landscape", "height", height, _zoom(height - 80)))
    return [
        f"@media (orientation: {side}) and (min-{extent}: {size}px) "
        f"{{{CANVAS_SELECTOR} {{zoom: {zoom}}}}}"
        for side, extent, size, zoom in rules
    ]


PHONE_CSS = (
    """<style>
header[data-testid="stHeader"], [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
[data-testid="stMainBlockContainer"] {padding: 0.6rem 0.75rem 1rem !important;}
.st-key-join-buttons [data-testid="stHorizontalBlock"] {flex-wrap: nowrap !important;
  gap: 0.5rem !important;}
.st-key-join-buttons [data-testid="stColumn"] {min-width: 0 !important; flex: 1 1 0 !important;
  width: auto !important;}
.dl-prompt {font-size: 2rem !important; font-weight: 700; line-height: 1.1; margin: 0;
  padding: 0 !important;}
.dl-prompt b {font-size: 2.6rem; color: #1d4ed8;}
.dl-room {font-size: 0.95rem; color: #4b5563; margin: 0;}
.dl-said {font-size: 1.15rem; margin: 0.2rem 0;}
@media (orientation: landscape) {
  .dl-room {display: none;}
  .dl-prompt {font-size: 1.5rem !important; margin-bottom: 0.3rem;}
  .dl-prompt b {font-size: 1.8rem;}
  .st-key-join-stage [data-testid="stHorizontalBlock"] {flex-wrap: nowrap !important;}
}
button[kind="primary"], button[kind="secondary"] {min-height: 3rem; font-size: 1.15rem;}
"""
    + "\n".join(_zoom_rules())
    + "</style>"
)


def code_from_url() -> str:
    """Return the room code the link carried, as typed ('' when none)."""
    return (st.query_params.get(CODE_PARAM) or "")[:64]


def ask_for_code(problem: str | None) -> None:
    """Show a short form for a typed code, with why the last one did not open a room."""
    st.markdown('<h1 class="dl-prompt">Join a room</h1>', unsafe_allow_html=True)
    if problem:
        st.error(problem, icon=":material/error:")
    with st.form("join-code", border=False):
        typed = st.text_input("Room code", max_chars=12, placeholder="e.g. K7QA4")
        if st.form_submit_button("Join", type="primary", use_container_width=True):
            code = normalize_code(typed)
            st.query_params[CODE_PARAM] = code or typed.strip()[:12]
            st.rerun()
    st.caption("The code is on the presenter's screen, under the QR code.")


def _clear() -> None:
    st.session_state[CANVAS_VERSION_KEY] = st.session_state.get(CANVAS_VERSION_KEY, 0) + 1
    st.session_state[IMAGE_KEY] = None


def _canvas_key() -> str:
    return f"join-canvas-{st.session_state.get(CANVAS_VERSION_KEY, 0)}"


def _drawn(key: str):
    """Return the canvas's pixels as its last message sent them, or None."""
    return canvas_pixels(st.session_state.get(key), 4 * CANVAS_SIZE)


def _send(room: Room, phone: str) -> None:
    """Send the drawing on the canvas (button callback): keep it, score it, ask the next digit."""
    # the canvas's own value first: a stroke and a tap on Send can arrive in the same message
    image = _drawn(_canvas_key())
    if image is None:
        image = st.session_state.get(IMAGE_KEY)
    reading = read_drawing(image, BACKGROUND) if image is not None else None
    if reading is None or reading.digit is None:
        st.session_state[RESULT_KEY] = (
            "warning",
            NOT_SENDABLE[getattr(reading, "problem", "empty") or "empty"],
        )
        return
    try:
        drawing = hub.store().send(room.code, phone, reading.digit, image)
    except RoomRefused as exc:
        st.session_state[RESULT_KEY] = ("warning", str(exc))
        return
    reader = hub.reader(room, hub.room_model(room))
    if reader is None:
        said = f"Sent your {drawing.label}! The model is not ready yet: watch the wall."
        st.session_state[RESULT_KEY] = ("info", said)
    else:
        guess = reader.classes[int(reader.score(reading.digit).argmax())]
        right = guess == drawing.label
        said = f"Sent! {reader.called.capitalize()} read your {drawing.label} as **{guess}**: " + (
            "right ✓" if right else "wrong ✗ — it will learn from yours"
        )
        st.session_state[RESULT_KEY] = ("success" if right else "error", said)
    _clear()


def draw_for(room: Room) -> None:
    """The phone's whole page in a room: prompt, canvas, Send and Clear, the model's answer."""
    phone = hub.phone_id()
    store = hub.store()
    store.join(room.code, phone)
    digit = store.prompt(room.code, phone)
    heading = (
        f'<p class="dl-room">Room {html.escape(room.code)}</p>'
        f'<h1 class="dl-prompt">Draw {article(digit)} <b>{digit}</b></h1>'
    )
    st.markdown(heading, unsafe_allow_html=True)
    with st.container(key="join-stage"):
        board, controls = st.columns(2, gap="small")
    with board:
        canvas = st_canvas(
            fill_color="#000000",
            stroke_width=STROKE_WIDTH,
            stroke_color="#FFFFFF",
            background_color="#000000",
            update_streamlit=True,
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            return_image_data=True,
            key=_canvas_key(),
        )
    if canvas.json_data is not None:
        has_strokes = bool(canvas.json_data.get("objects"))
        st.session_state[IMAGE_KEY] = canvas.image_data if has_strokes else None
    with controls:
        with st.container(key="join-buttons"):
            send, clear = st.columns([3, 2])
        send.button(
            "Send",
            type="primary",
            icon=":material/send:",
            use_container_width=True,
            on_click=_send,
            args=(room, phone),
            key="join-send",
        )
        clear.button(
            "Clear",
            icon=":material/delete:",
            use_container_width=True,
            on_click=_clear,
            key="join-clear",
        )
        _answer(room)


def _answer(room: Room) -> None:
    """Say what the last Send gave, or else what the model reads in the drawing so far."""
    said = st.session_state.pop(RESULT_KEY, None)
    if said is not None:
        getattr(st, said[0])(said[1])
    else:
        live_guess(room)


def live_guess(room: Room) -> None:
    """Say what the model reads in the drawing so far, before it is sent."""
    image = st.session_state.get(IMAGE_KEY)
    reader = hub.reader(room, hub.room_model(room))
    if image is None or reader is None:
        st.caption("Draw with your finger, then press Send. Your drawing goes to the wall.")
        return
    reading = read_drawing(image, BACKGROUND)
    if reading.digit is None:
        st.caption(NOT_SENDABLE.get(reading.problem, NOT_SENDABLE["empty"]))
        return
    probabilities = reader.score(reading.digit)
    best = int(probabilities.argmax())
    st.markdown(
        f'<p class="dl-said">{reader.called.capitalize()} reads <b>{reader.classes[best]}</b> '
        f"({float(probabilities[best]):.0%} sure). Press Send when it is your best.</p>",
        unsafe_allow_html=True,
    )
