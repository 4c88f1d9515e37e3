"""Talk mode: large type, high contrast, no sidebar, and a presenter's bar one key away.

The bar holds a chosen sequence of presets, numbered 1, 2, 3... (a click or that key loads the
preset and opens Train), D for Draw and Esc to leave. The mode and its sequence live in the URL
(?talk=seed-3v7~seed-mlp-128~small-cnn), so a presenter can bookmark the talk's start.
"""

from __future__ import annotations

import streamlit as st

from core.presets import PRESETS
from ui import build_state

TALK_PARAM = "talk"
ACTIVE_KEY = "talk_mode"
SEQUENCE_KEY = "talk_sequence"
PICKER_KEY = "talk_sequence_picker"
LOADED_KEY = "_talk_loaded"
DEFAULT_SEQUENCE = ("seed-3v7", "seed-mlp-128", "small-cnn")
SEPARATOR = "~"
MAX_STEPS = 9  # keys 1..9
FONT_SCALE = 1.3  # charts' text, matching the page's larger type
TRAIN_PAGE = "views/3_Train.py"
DRAW_PAGE = "views/5_Draw.py"

# Streamlit sizes its type in rem: a larger root font scales the whole page. Grey captions and
# thin separators vanish on a projector, so they go black and solid.
TALK_CSS = """
<style>
html { font-size: 21px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stMain"] { color: #000; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #111 !important; }
/* not inside buttons: a primary button's label stays white on the accent */
[data-testid="stMarkdownContainer"] p:not(button *),
[data-testid="stMarkdownContainer"] li:not(button *) { color: #000; }
[data-testid="stMetricValue"] { font-weight: 700; }
hr { border-bottom: 2px solid #000 !important; }
.dl-talk-bar { font-weight: 700; }
</style>
"""


def parse_sequence(text: str) -> list[str]:
    """Return the known presets named in a '~'-separated list ('1' or '' means the default)."""
    if text in ("", "1", "on", "true"):
        return list(DEFAULT_SEQUENCE)
    names = [name for name in text.split(SEPARATOR) if name in PRESETS]
    return names[:MAX_STEPS] or list(DEFAULT_SEQUENCE)


def load_from_url() -> None:
    """Once per session: switch talk mode on if the link asks for it."""
    if st.session_state.get(LOADED_KEY):
        return
    st.session_state[LOADED_KEY] = True
    value = st.query_params.get(TALK_PARAM)
    st.session_state.setdefault(SEQUENCE_KEY, list(DEFAULT_SEQUENCE))
    if value is not None:
        st.session_state[ACTIVE_KEY] = True
        st.session_state[SEQUENCE_KEY] = parse_sequence(value)


def active() -> bool:
    """Return True while this browser tab is in talk mode."""
    try:
        return bool(st.session_state.get(ACTIVE_KEY, False))
    except Exception:  # outside a Streamlit run (a figure built in a plain test) there is none
        return False


def sequence() -> list[str]:
    """Return the presets of the talk, in order."""
    return list(st.session_state.get(SEQUENCE_KEY) or DEFAULT_SEQUENCE)


def font_scale() -> float:
    """Return how much larger chart text should be: FONT_SCALE in talk mode, else 1."""
    return FONT_SCALE if active() else 1.0


def _sync_url() -> None:
    if active():
        st.query_params[TALK_PARAM] = SEPARATOR.join(sequence())
    elif TALK_PARAM in st.query_params:
        del st.query_params[TALK_PARAM]


def start() -> None:
    """Switch talk mode on (button callback)."""
    st.session_state[ACTIVE_KEY] = True
    _sync_url()


def leave() -> None:
    """Switch talk mode off (button callback)."""
    st.session_state[ACTIVE_KEY] = False
    _sync_url()


def style() -> None:
    """Apply talk mode's look to the page when it is on."""
    if active():
        st.html(TALK_CSS)


def _remember_sequence() -> None:
    st.session_state[SEQUENCE_KEY] = list(st.session_state[PICKER_KEY])


def sidebar_controls() -> None:
    """Draw the sidebar's talk-mode section: the sequence to present and the switch."""
    if active():
        return  # the sidebar is hidden; the talk bar has the way out
    with st.expander("Talk mode", icon=":material/co_present:"):
        # the picker's own key is dropped while hidden (talk mode): the sequence lives apart
        st.session_state[PICKER_KEY] = sequence()
        st.multiselect(
            "Presets to present, in order",
            list(PRESETS),
            key=PICKER_KEY,
            on_change=_remember_sequence,
            max_selections=MAX_STEPS,
            help="They appear numbered in the talk bar: press 1, 2, 3… to load one.",
        )
        st.button(
            "Start talk mode",
            on_click=start,
            icon=":material/co_present:",
            width="stretch",
            help="Large type, high contrast, no sidebar; the presets above one key away.",
        )


def _present(name: str) -> None:
    build_state.load_preset(name)
    st.session_state["_talk_open_train"] = True


def bar() -> None:
    """Draw the presenter's bar at the top of the page: numbered presets, Draw and Exit."""
    if not active():
        return
    _sync_url()  # switching pages drops the query string: keep the talk bookmarkable
    if st.session_state.pop("_talk_open_train", False):
        st.switch_page(TRAIN_PAGE)  # outside the callback: switching pages there is a no-op
    steps = sequence()
    current = build_state.current_preset()
    columns = st.columns([*([1] * len(steps)), 0.8, 0.8], gap="small")
    for number, (column, name) in enumerate(zip(columns, steps), start=1):
        column.button(
            f"{number} · {name}",
            key=f"talk-step-{number}",
            on_click=_present,
            args=(name,),
            shortcut=str(number),
            type="primary" if name == current else "secondary",
            width="stretch",
            help=f"{PRESETS[name].title}: load it and open Train (key {number}).",
        )
    if columns[-2].button(
        "Draw", key="talk-draw", shortcut="d", icon=":material/gesture:", width="stretch"
    ):
        st.switch_page(DRAW_PAGE)
    columns[-1].button(
        "Exit talk",
        key="talk-exit",
        on_click=leave,
        shortcut="Escape",
        icon=":material/close:",
        width="stretch",
    )
