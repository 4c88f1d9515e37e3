"""Figures of saved runs, built once and shared by every session.

A saved run does not change while its files do not, so its figures need not be rebuilt on
every rerun of every session: building a plotly figure (validation included) was most of the
Evaluate and Inside pages' server time. A key names what a figure shows, and the run's files'
version (path and modification time) is part of it; talk mode's font scale is added here,
because the shared look (ui.charts.figures) reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from core.runs.store import SUMMARY_FILE
from ui.shared import state, talk

# the figures of as many runs as have their scores kept: five each (a run shows up to eight:
# per-digit accuracy, two confusion matrices, the PCA, the gradient norms, and the Train page's
# loss, epoch and rate curves, but not all on one page); the least recently used go first
FIGURES_PER_RUN = 5
MAX_FIGURES = state.RUNS_EVALUATED * FIGURES_PER_RUN


@st.cache_resource(max_entries=MAX_FIGURES, show_spinner=False)
def _built(key: tuple, _build: Callable[[], go.Figure]) -> go.Figure:
    # the figure is shared, so nobody may change it: st.plotly_chart only reads it
    return _build()


def run_version(path: str | Path) -> tuple[str, float]:
    """Return what identifies a saved run's files as they are now: its path and summary's mtime."""
    return str(path), (Path(path) / SUMMARY_FILE).stat().st_mtime


def shared_figure(key: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """Return build()'s figure, built once per key (and font scale), for every session."""
    return _built((*key, talk.font_scale()), build)


def figure_for(version: tuple | None, what: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """Return build()'s figure: built once and shared where version names a saved run's files
    (run_version), built afresh for a run still training (None)."""
    return build() if version is None else shared_figure((*version, *what), build)
