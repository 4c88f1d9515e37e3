"""The guided path through the app for a first visit: Data → Build → Train → Evaluate → Draw
(→ Inside), a "start here" on the first page and a "Next" step at the end of each (issue 24)."""

from __future__ import annotations

from contextlib import suppress

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ui.shared.pages import BUILD_PAGE, DATA_PAGE, DRAW_PAGE, EVALUATE_PAGE, INSIDE_PAGE, TRAIN_PAGE

# each page, and what the step after it is for, in the order of the path
PATH = (
    (DATA_PAGE, "Data", "look at the digits"),
    (BUILD_PAGE, "Build", "build a network"),
    (TRAIN_PAGE, "Train", "train it and watch it learn"),
    (EVALUATE_PAGE, "Evaluate", "find the digits it gets wrong"),
    (DRAW_PAGE, "Draw", "draw a digit for it"),
    (INSIDE_PAGE, "Inside", "look inside the network"),
)
ICONS = {
    BUILD_PAGE: ":material/account_tree:",
    TRAIN_PAGE: ":material/monitoring:",
    EVALUATE_PAGE: ":material/fact_check:",
    DRAW_PAGE: ":material/draw:",
    INSIDE_PAGE: ":material/visibility:",
}


def start_here() -> None:
    """Say, on the first page, where a first visit goes from here."""
    steps = " → ".join(f"**{title}**" for _, title, _ in PATH[:5])
    st.info(
        f"**Start here.** Look at the digits a network learns from, then {steps}: build a "
        "network, train it live, find the digits it gets wrong, and draw your own for it. "
        "A ready model is there already: Draw works at once.",
        icon=":material/flag:",
    )


def next_step(page: str) -> None:
    """End a page with a link to the next step of the path (none after the last)."""
    pages = [step[0] for step in PATH]
    if page not in pages or pages.index(page) + 1 == len(PATH):
        return
    target, title, purpose = PATH[pages.index(page) + 1]
    st.divider()
    # a page run on its own (AppTest.from_file, no navigation) has no page to link to
    with suppress(StreamlitAPIException):
        st.page_link(target, label=f"Next: {title} — {purpose}", icon=ICONS[target])
