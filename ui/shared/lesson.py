"""Lesson links in the app: settings a link fixes stay fixed on every page until the lesson is left.

The link's `lock=` and `hide=` parameters (core.spec.lesson) are read once per session, after the
link's settings are loaded, and their current values become the lesson's. The lesson lives in
st.session_state, so it survives page switches; the widget code asks `hidden(name)` (then it
draws nothing) and `locked(name)` (then it draws the widget disabled, with `note(name)` under
it). Disabled widgets are not trusted: `enforce()` puts the lesson's values back into the
session's ModelSpec and TrainConfig wherever a widget, a callback or session state changed them,
before a page uses them and again after it. "Leave lesson" (sidebar, or the talk bar) drops it.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import streamlit as st

from core.spec.config import TrainConfig
from core.spec.lesson import NETWORK as NETWORK  # re-exported: pages write lesson.NETWORK
from core.spec.lesson import PARAMS, Lesson, from_params, impose
from core.spec.models import ModelSpec
from ui.shared import build_state

KEY = "lesson"
LOADED_KEY = "_lesson_loaded"
RERAN_KEY = "_lesson_reran"
NOTE = ":material/lock: set by this lesson"


class Held(NamedTuple):
    """The lesson being followed, with the values it fixes."""

    lesson: Lesson
    spec: ModelSpec
    config: TrainConfig


def _held() -> Held | None:
    try:
        return st.session_state.get(KEY)
    except Exception:  # outside a Streamlit run (a widget helper in a plain test) there is none
        return None


def current() -> Lesson:
    """Return the lesson being followed (an empty one, which fixes nothing, when none is)."""
    held = _held()
    return held.lesson if held else Lesson()


def active() -> bool:
    """Return True while a lesson fixes anything."""
    return bool(current())


def hidden(*names: str) -> bool:
    """Return True when the lesson hides any of these settings: draw nothing for them.

    A widget that sets several (the batch slider: batch_size and full_batch) names them all.
    """
    lesson = current()
    return any(name in lesson.hidden for name in names)


def locked(*names: str) -> bool:
    """Return True when the lesson fixes any of these settings: draw them disabled."""
    fixed = current().fixed()
    return any(name in fixed for name in names)


def note(*names: str, where=None) -> None:
    """Under a widget the lesson locks, draw a small "set by this lesson" caption."""
    if locked(*names):
        (where or st).caption(NOTE)


def url_params() -> dict[str, str]:
    """Return the query parameters that carry the lesson (for the URL and the share link)."""
    return current().to_params()


def begin(lesson: Lesson) -> None:
    """Follow this lesson, fixing its settings at their current values (an empty one: leave)."""
    if not lesson:
        leave()
        return
    spec, config = build_state.current_spec(), build_state.current_config()
    st.session_state[KEY] = Held(lesson, copy.deepcopy(spec), copy.deepcopy(config))
    build_state.bump_revision()  # the widgets are drawn again, locked


def leave() -> None:
    """Drop the lesson: every setting keeps its value and can be changed again (button callback)."""
    st.session_state.pop(KEY, None)
    for param in PARAMS:
        if param in st.query_params:
            del st.query_params[param]
    build_state.bump_revision()  # the widgets are drawn again, unlocked


def load_from_url() -> None:
    """Once per session, after the link's settings are loaded: follow the lesson it names."""
    if st.session_state.get(LOADED_KEY):
        return
    st.session_state[LOADED_KEY] = True
    params = st.query_params.to_dict()
    if not any(param in params for param in PARAMS):
        return
    lesson, problems = from_params(params)
    if lesson:
        begin(lesson)
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems)
        st.warning(
            f"This lesson link names settings it cannot fix:\n{listed}\n\n"
            "They stay free to change; the link's other locks apply.",
            icon=":material/lock_open:",
        )


def enforce() -> list[str]:
    """Put the lesson's values back where anything changed them; return the names put back."""
    held = _held()
    if held is None:
        return []
    changed = impose(
        held.lesson,
        held.spec,
        held.config,
        build_state.current_spec(),
        build_state.current_config(),
    )
    if changed:
        build_state.bump_revision()  # the next run draws the widgets from the lesson's values
    return changed


def enforce_after_page() -> None:
    """After a page ran: undo what it changed of the lesson, and draw it again at once."""
    reran = st.session_state.pop(RERAN_KEY, False)
    if enforce() and not reran:  # at most once in a row: a page cannot make it loop
        st.session_state[RERAN_KEY] = True
        st.rerun()


def leave_button(key: str = "lesson-leave") -> None:
    """Draw the "Leave lesson" button."""
    st.button(
        "Leave lesson",
        key=key,
        on_click=leave,
        icon=":material/lock_open:",
        width="stretch",
        help="Drop the lesson's locks: every setting keeps its value and can be changed again.",
    )


def sidebar_controls() -> None:
    """Draw the sidebar's lesson box while a lesson is followed: what it fixes, and the way out."""
    if not active():
        return
    lesson = current()
    with st.container(border=True):
        st.markdown(f"**Lesson** · fixes {', '.join(lesson.fixed())}")
        st.caption("Locked settings are greyed out; hidden ones are not shown.")
        leave_button()
