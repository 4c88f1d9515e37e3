"""Parts of a page that fail alone: an unexpected error is logged, and one short line shown.

A page is drawn in sections (a run's scores, its curves, the Import tab). One run with an odd
file must not take the other sections down with it, and a user must never see a traceback with
the server's paths: the traceback goes to the server's log. Anything that escapes a section
is Streamlit's to show, and .streamlit/config.toml has it shown without details.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from core.data.mnist import DataUnavailable

logger = logging.getLogger("digitlab.pages")


@contextmanager
def section(what: str) -> Iterator[None]:
    """Draw one part of a page; if it fails unexpectedly, log the traceback and say so in its place."""
    try:
        yield
    except DataUnavailable:
        raise  # not this section's fault: app.py says so once, for the whole page
    except Exception as exc:  # st.stop() and st.rerun() are BaseExceptions: they pass through
        logger.exception("%s could not be drawn", what)
        st.error(
            f"{what[:1].upper()}{what[1:]} could not be drawn ({type(exc).__name__}); "
            "the details are in the server's log.",
            icon=":material/error:",
        )
