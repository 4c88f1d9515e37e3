"""Shared fixtures: where the real MNIST is, and a throwaway runs folder for every test."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def find_data_dir() -> Path | None:
    """Return a folder holding MNIST's raw files: $DIGITLAB_DATA, ../shared/data or ./data."""
    candidates = [os.environ.get("DIGITLAB_DATA"), REPO.parent / "shared" / "data", REPO / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists():
            return Path(candidate).resolve()
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST folder; tests that need it are skipped where it is missing."""
    found = find_data_dir()
    if found is None:
        pytest.skip("MNIST not found: set DIGITLAB_DATA or run 'python -m core data'")
    return found


@pytest.fixture(scope="session")
def mnist(data_dir):
    """The real MNIST as uint8 tensors, loaded once per test session."""
    from core.data import shared_mnist

    return shared_mnist(data_dir)


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path, monkeypatch):
    """Point every test's runs and my-digits folders at fresh temporary ones, the data at the real MNIST."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("DIGITLAB_RUNS", str(runs))
    # my digits too: never in the shared MNIST folder
    monkeypatch.setenv("DIGITLAB_MY_DIGITS", str(tmp_path / "my-digits"))
    found = find_data_dir()
    if found is not None:
        monkeypatch.setenv("DIGITLAB_DATA", str(found))
    return runs


@pytest.fixture
def checkpoint_every_epoch(monkeypatch):
    """Checkpoint at every epoch's end (not every 30 s of training), for the tests of resuming."""
    from core.train.callbacks import CHECKPOINT_ENV

    monkeypatch.setenv(CHECKPOINT_ENV, "0")


def train_tiny_run(runs_dir: Path, data_dir: Path, name: str, spec, config) -> Path:
    """Train a small real run through the job registry, wait for it, and return its folder."""
    from core.train.jobs import JobRegistry

    # in a thread of this process: a helper for making runs, not a test of the worker processes
    registry = JobRegistry(executor="thread")
    job = registry.submit(spec, config, name=name, data_dir=data_dir, runs_dir=runs_dir)
    assert job.wait(timeout=300), "training did not finish"
    assert job.state == "finished", job.error
    return Path(job.run_dir)


def rss_mb() -> float:
    """Return this process's resident memory in MB (Linux /proc; else the peak so far)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
