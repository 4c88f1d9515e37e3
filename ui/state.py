"""Cached, shared resources for the pages: data, saved runs, loaded models and the job registry."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import jobs, runs
from core.data import Mnist, resolve_data_dir
from core.runs import Run, load_run, resolve_runs_dir


def data_dir() -> Path:
    """Return the MNIST folder ($DIGITLAB_DATA or ./data)."""
    return resolve_data_dir(None).resolve()


def runs_dir() -> Path:
    """Return the runs folder ($DIGITLAB_RUNS or ./runs)."""
    return resolve_runs_dir(None).resolve()


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist_for(path: str) -> Mnist:
    return jobs.shared_mnist(path)


def mnist() -> Mnist:
    """Return MNIST as uint8 tensors, loaded once per server process (raises DataUnavailable)."""
    return _mnist_for(str(data_dir()))


def registry() -> jobs.JobRegistry:
    """Return the process-wide registry of training jobs."""
    return jobs.registry()


def saved_runs() -> list[dict]:
    """Return the summaries of every saved run, newest first (cheap: reads only summary.json)."""
    return runs.list_runs(runs_dir())


@st.cache_resource(max_entries=16, show_spinner=False)
def _run_at(path: str, modified: float) -> Run:
    return load_run(path)


def cached_run(path: str | Path) -> Run:
    """Return the run saved at path, loaded once and kept while its files are unchanged."""
    summary = Path(path) / "summary.json"
    return _run_at(str(path), summary.stat().st_mtime)
