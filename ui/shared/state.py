"""Cached, shared resources for the pages: data, saved runs, loaded models and the job registry."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st
import torch

from core.analysis import derived
from core.analysis.evaluation import Evaluation, evaluate_probabilities
from core.analysis.novelty import Novelty, novelty_for_run
from core.data.datasets import DEFAULT_DATASET, Dataset, get_dataset
from core.data.mnist import (
    DataUnavailable,
    Mnist,
    Split,
    resolve_data_dir,
    shared_mnist,
    task_test_split,
)
from core.runs import listing
from core.runs.ready import install_ready_model, ready_run_id
from core.runs.store import SUMMARY_FILE, Run, load_run, resolve_runs_dir
from core.train import jobs
from ui.shared import build_state


def data_dir() -> Path:
    """Return the MNIST folder ($DIGITLAB_DATA or ./data)."""
    return resolve_data_dir(None).resolve()


def runs_dir() -> Path:
    """Return the runs folder ($DIGITLAB_RUNS or ./runs)."""
    return resolve_runs_dir(None).resolve()


@st.cache_resource(show_spinner="Loading the images…")
def _mnist_for(path: str, dataset: str = DEFAULT_DATASET) -> Mnist:
    return shared_mnist(path, dataset)


def mnist() -> Mnist:
    """Return MNIST as uint8 tensors, loaded once per server process (raises DataUnavailable)."""
    return _mnist_for(str(data_dir()))


def dataset_data(name: str) -> Mnist:
    """Return a dataset (MNIST or Fashion-MNIST) as uint8 tensors, loaded once per process."""
    return _mnist_for(str(data_dir()), name)


def current_dataset() -> Dataset:
    """Return the dataset this session trains on (the Data page's picker, or the link)."""
    return get_dataset(build_state.current_config().dataset)


def dataset_of(summary_or_run) -> Dataset:
    """Return the dataset a run was trained on (runs from before Fashion-MNIST: MNIST)."""
    if isinstance(summary_or_run, Run):
        return get_dataset(summary_or_run.config.dataset)
    return get_dataset(summary_or_run.get("dataset", DEFAULT_DATASET))


def class_names(run: Run) -> list[str]:
    """Return the names of a run's classes in output order ("3", or "Dress" on Fashion-MNIST)."""
    return dataset_of(run).labels(run.classes)


def runs_of_current_dataset() -> list[dict]:
    """Return saved_runs() trained on this session's dataset."""
    name = current_dataset().name
    return [s for s in saved_runs() if s.get("dataset", DEFAULT_DATASET) == name]


@st.cache_resource
def registry() -> jobs.JobRegistry:
    """Return the process-wide registry of training jobs."""
    # held by Streamlit's cache too, so a module reload during development keeps running jobs
    return jobs.registry()


def saved_runs() -> list[dict]:
    """Return the summaries of every saved run, newest first (cheap: reads only summary.json).

    A job still training keeps a checkpoint in its run folder: that is not a result yet.
    """
    training = registry().active_run_ids()
    _offer_ready_model(str(runs_dir()))
    return [s for s in listing.list_runs(runs_dir()) if s.get("run_id") not in training]


@st.cache_resource(show_spinner=False)
def _offer_ready_model(folder: str) -> str | None:
    # once per runs folder and server process: a stat of its marker after the first time
    installed = install_ready_model(folder)
    return str(installed) if installed is not None else None


def ready_model_path(folder: str) -> str | None:
    """Return the ready model's folder in a runs folder (offered once), or None if not there."""
    path = _offer_ready_model(folder)
    return path if path is not None and (Path(path) / SUMMARY_FILE).exists() else None


@st.cache_resource(max_entries=16, show_spinner=False)
def _run_at(path: str, modified: float) -> Run:
    return load_run(path, runs_dir())  # a path from the URL or a picker stays inside runs/


def cached_run(path: str | Path) -> Run:
    """Return the run saved at path, loaded once and kept while its files are unchanged."""
    summary = Path(path) / SUMMARY_FILE
    return _run_at(str(path), summary.stat().st_mtime)


@st.cache_resource(max_entries=8, show_spinner="Learning what its digits look like…")
def _novelty_at(path: str, modified: float, data: str) -> Novelty:
    return novelty_for_run(_run_at(path, modified), _mnist_for(data))


def novelty_of(path: str | Path) -> Novelty | None:
    """Return the run's yardstick for 'that does not look like a digit' (fit once, about a
    second), or None where its digits cannot be loaded."""
    summary = Path(path) / SUMMARY_FILE
    try:
        return _novelty_at(str(path), summary.stat().st_mtime, str(data_dir()))
    except DataUnavailable:
        return None


@st.cache_resource(show_spinner="Loading the images (the first time: fetching them)…")
def _data_problem_for(path: str, dataset: str = DEFAULT_DATASET) -> str | None:
    try:
        _mnist_for(path, dataset)
    except DataUnavailable as exc:
        return str(exc)
    return None


def data_problem(dataset: str = DEFAULT_DATASET) -> str | None:
    """Return why a dataset (MNIST) cannot be loaded, or None; kept until retry_data()."""
    # a failed load tries a download with a timeout: remembering the failure keeps pages fast
    return _data_problem_for(str(data_dir()), dataset)


def retry_data() -> None:
    """Forget a remembered data failure so the next page load tries again."""
    _data_problem_for.clear()


ACTIVE_RUN_KEY = "active_run"


def active_run_path() -> str | None:
    """Return the folder of the active model: the sidebar's choice, else the ready model (a run
    trained later replaces it only when someone chooses that run), else the newest run."""
    path = st.session_state.get(ACTIVE_RUN_KEY)
    newest = runs_of_current_dataset()
    # a run of the other dataset stays chosen until the dataset is switched back
    if path and (Path(path) / SUMMARY_FILE).exists() and any(s["path"] == path for s in newest):
        return path
    ready = ready_run_id()
    pinned = [s["path"] for s in newest if ready is not None and s.get("run_id") == ready]
    return pinned[0] if pinned else newest[0]["path"] if newest else None


def set_active_run(path: str | Path) -> None:
    """Make the run saved at path the active model on every page."""
    st.session_state[ACTIVE_RUN_KEY] = str(path)


class RunEvaluation(NamedTuple):
    """A run's scores on its test set, with the test digits they refer to."""

    evaluation: Evaluation
    test_images: torch.Tensor  # uint8 (N, 28, 28), rows as in evaluation.labels


@st.cache_resource(max_entries=16, show_spinner=False)
def _test_split_for(data: str, classes: tuple[int, ...], dataset: str = DEFAULT_DATASET) -> Split:
    # one copy of a task's test digits for every run and session that scores on it
    return task_test_split(_mnist_for(data, dataset), classes)


# runs whose test scores are kept (8 MB each); their figures are kept as long (shared_figures)
RUNS_EVALUATED = 8


@st.cache_resource(max_entries=RUNS_EVALUATED, show_spinner="Evaluating on the test set…")
def _evaluation_at(path: str, modified: float, data: str) -> RunEvaluation:
    run = _run_at(path, modified)
    test = _test_split_for(data, tuple(run.classes), run.config.dataset)
    probabilities = derived.probabilities_of(run, test.images)
    return RunEvaluation(
        evaluate_probabilities(probabilities, test.labels, run.classes), test.images
    )


def cached_evaluation(path: str | Path) -> RunEvaluation:
    """Return a run's scores on the test set of its digits, computed once per run and data."""
    summary = Path(path) / SUMMARY_FILE
    return _evaluation_at(str(path), summary.stat().st_mtime, str(data_dir()))


@st.cache_resource(show_spinner=False)
def _class_means_for(path: str, dataset: str = DEFAULT_DATASET):
    data = _mnist_for(path, dataset)
    return [
        data.train_images[data.train_labels == digit].float().mean(0).round().to(torch.uint8)
        for digit in range(10)
    ]


def class_mean_images(dataset: str = DEFAULT_DATASET) -> list[torch.Tensor]:
    """Return the average training image of each class 0-9 as uint8 (28, 28), computed once."""
    return _class_means_for(str(data_dir()), dataset)
