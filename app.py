"""Digit Lab: explore MNIST, build a network, train it live, evaluate it and draw digits for it.

Run with `streamlit run app.py`. This file declares the pages and draws what they share.
"""

from __future__ import annotations

import streamlit as st

from core.data.mnist import DataUnavailable
from ui.feed import live_feed
from ui.shared import (
    guard,
    lesson,
    long_addresses,
    pages,
    session,
    share,
    sidebar,
    state,
    talk,
    warm_up,
)

st.set_page_config(
    page_title="Digit Lab",
    page_icon=":material/draw:",
    layout="wide",
    # "auto": open on a computer, closed on a phone, where it would cover the page (and the
    # canvas: the first strokes landed on it)
    initial_sidebar_state="auto",
)

DATA_PAGE = st.Page(
    pages.DATA_PAGE, title="Data", icon=":material/grid_view:", url_path="start", default=True
)
BUILD_PAGE = st.Page(
    pages.BUILD_PAGE, title="Build", icon=":material/account_tree:", url_path="build"
)
TRAIN_PAGE = st.Page(
    pages.TRAIN_PAGE, title="Train", icon=":material/monitoring:", url_path="train"
)
EVALUATE_PAGE = st.Page(
    pages.EVALUATE_PAGE, title="Evaluate", icon=":material/fact_check:", url_path="evaluate"
)
DRAW_PAGE = st.Page(pages.DRAW_PAGE, title="Draw", icon=":material/gesture:", url_path="draw")
INSIDE_PAGE = st.Page(
    pages.INSIDE_PAGE, title="Inside", icon=":material/visibility:", url_path="inside"
)
ROOM_PAGE = st.Page(pages.ROOM_PAGE, title="Room", icon=":material/groups:", url_path="room")
# a phone's page in a room: reached by the room's link only, never listed
JOIN_PAGE = st.Page(
    pages.JOIN_PAGE,
    title="Join a room",
    icon=":material/draw:",
    url_path="join",
    visibility="hidden",
)


def _to_data_page() -> None:
    """Never run: app.py switches to the Data page when this one is asked for."""


# /data: the Data page is the default one, served at "/" only (Streamlit reserves its
# url_path, "start", but finds no page there): a typed /data said "Page not found"
DATA_ADDRESS = st.Page(_to_data_page, title="Data", url_path="data", visibility="hidden")
# pages that work without MNIST (they only need a network or a saved run)
WORKS_WITHOUT_DATA = {BUILD_PAGE.url_path}

# Streamlit's wide layout keeps 5rem on each side; a projector at 1280 px needs that room
# Streamlit's page links show no focus ring: a keyboard user must see where the focus is
st.html(
    "<style>[data-testid='stMainBlockContainer']"
    "{padding-left: 2rem; padding-right: 2rem; max-width: 1600px;}"
    "a:focus-visible {outline: 3px solid #1d4ed8 !important; outline-offset: 2px;}</style>"
)

long_addresses.serve_long_addresses()
live_feed.install(state.registry)  # once per server: the Train page's curves over HTTP
warm_up.start()  # once per server: the ready model's scores, for Evaluate's and Draw's first visit
talk.load_from_url()
page = st.navigation(
    [
        DATA_PAGE,
        BUILD_PAGE,
        TRAIN_PAGE,
        EVALUATE_PAGE,
        DRAW_PAGE,
        INSIDE_PAGE,
        ROOM_PAGE,
        JOIN_PAGE,
        DATA_ADDRESS,
    ],
    # talk mode hides the sidebar: the pages move to the top bar
    position="top" if talk.active() else "sidebar",
)
if page.url_path == JOIN_PAGE.url_path:
    # a phone in a room sees its one task, nothing of the presenter's: no sidebar, no talk bar
    with guard.section("the room's page"):
        page.run()
    st.stop()
if page is DATA_ADDRESS:  # before anything that reads the link: the Data page reads it
    st.switch_page(DATA_PAGE, query_params=st.query_params.to_dict())
talk.show_link_problems()
# a shared link's settings replace the defaults before the sidebar or a page reads them
share.load_from_url()
# then a lesson link's locks, at those values; a preset loaded by a callback gets them back
lesson.load_from_url()
lesson.enforce()
problem = state.data_problem()
with guard.section("the sidebar"):  # drawn on every page: its failure must not stop them all
    # on the Train page, its live view polls this tab's job: one poll, not two (issue 27); the
    # Inside page shows its progress too, fed, and the sidebar's poll keeps the job going
    train, inside = (page.url_path == p.url_path for p in (TRAIN_PAGE, INSIDE_PAGE))
    live = (train or (inside and live_feed.served())) and not problem
    shown = session.job_shown_live() if live else None
    sidebar.draw(problem, shown, page_polls=train)
session.keep_job_in_url()  # every page: a refresh anywhere reattaches to the running job
talk.style()
talk.bar()

if problem:
    st.error(problem, icon=":material/error:")
    if st.button("Try again", icon=":material/refresh:"):
        state.retry_data()
        st.rerun()
    if page.url_path not in WORKS_WITHOUT_DATA:
        st.stop()

try:
    page.run()
except DataUnavailable as exc:  # data vanished while the server was running
    st.error(str(exc), icon=":material/error:")
# a page whose widgets know nothing of lessons (Data's digits) may have changed a locked value
lesson.enforce_after_page()
session.write_secret_cookies()  # after the page: a job it started is among them
