"""The server's first page run starts a thread that does what the pages' first visits would wait
for: the ready model's scores on the test digits (Evaluate: 1.6 s of a first visit here) and its
"not a digit" yardstick (Draw: about 4 s at the first drawing), computed once for every visitor.

A presenter opening the app before a talk then finds every page ready (issue 24: Evaluate's
first visit took 3.5 s in Chromium, the same page 0.44 s after). The thread fills Streamlit's
own caches, so a visitor who asks while it works waits for the same computation instead of
starting a second (the caches lock each key while its value is computed).
"""

from __future__ import annotations

import logging
import threading

import streamlit as st

from ui.shared import state

log = logging.getLogger("digitlab.pages")


def _warm(runs: str) -> None:
    try:
        path = state.ready_model_path(runs)
        if path is None:
            return
        state.cached_evaluation(path)
        state.novelty_of(path)
    except Exception:  # a warm-up never stops the app: the page computes it when asked
        log.exception("warming the ready model's caches failed")


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start, once per server process, the thread that fills the first visits' caches."""
    thread = threading.Thread(
        target=_warm, args=(str(state.runs_dir()),), name="digitlab-warm-up", daemon=True
    )
    thread.start()
    return thread
