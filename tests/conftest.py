"""Shared fixtures: where the real MNIST is, and a throwaway runs folder for every test."""

from __future__ import annotations

import functools
import os
import resource
import time
from pathlib import Path

import pytest

from tests import apptest_harness

REPO = Path(__file__).resolve().parent.parent
# A fresh runs folder gets the shipped ready model (core/runs/ready.py); the tests' folders start
# empty, as they did before it, and its own tests switch it on. Set here, before any fixture
# starts a server, so that the servers the tests start inherit it too.
os.environ.setdefault("DIGITLAB_READY_MODEL", "0")


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
    from core.data.mnist import shared_mnist

    return shared_mnist(data_dir)


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path, monkeypatch):
    """Point every test's runs and my-digits folders at fresh temporary ones, the data at the real MNIST."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("DIGITLAB_RUNS", str(runs))
    # my digits too: never in the shared MNIST folder
    monkeypatch.setenv("DIGITLAB_MY_DIGITS", str(tmp_path / "my-digits"))
    monkeypatch.setenv("DIGITLAB_ROOMS", str(tmp_path / "rooms"))
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


# --- test tiers: what each test needs, found by reading it, not by hand --------------------
#
# A test is marked by what it needs, from the source of the test and of every fixture it uses
# (followed to their own fixtures): `browser` (Chromium), `servers` (a Streamlit server, a
# proxy, a subprocess), `processes` (worker processes, Ray). `./test.sh --fast` leaves those
# out, and also every test that took more than FAST_TEST_SECONDS in the last full run
# (tests/durations.json, written by `./test.sh --record-durations`). In the fast tier a test
# that runs longer than that fails and says so, so that a slow test cannot hide there.

NEEDS = {
    "browser": ("browser_tab", "require_browser", "sync_playwright", "chromium"),
    "servers": ("running_app", "subprocess", "Popen", "haproxy"),
    "processes": ("ProcessExecutor", "workers", "make_executor", "ray.", "cluster"),
}
# The full tier runs in two lanes at once (test.sh): the tests that time what a person waits for
# (the browser and server tests) one at a time at normal priority, and the rest side by side at
# the lowest priority, in the CPU time the first lane leaves idle. Two marks, set by hand, move
# a test between them: `timed` (no browser or server, but it times CPU-bound work that a
# starved process would miss) and `untimed` (it starts servers or subprocesses but times
# nothing a person waits for).
LANE_MARKS = {
    "timed": "times CPU-bound work: runs in the one-at-a-time lane at normal priority",
    "untimed": "starts servers or subprocesses but times nothing: runs side by side",
}
FAST_ENV = "DIGITLAB_FAST_TESTS"
RECORD_ENV = "DIGITLAB_RECORD_DURATIONS"
DURATIONS_FILE = Path(__file__).with_name("durations.json")
FAST_TEST_SECONDS = 2.0


@functools.cache
def _source_of(function) -> str:
    """Return a function's source ('' where there is none): read once per function, since
    every test shares fixtures (reading them anew for each of 1,140 tests took 3 CPU-s)."""
    import inspect

    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _sources(item) -> str:
    """Return the source of a test and of the fixtures it uses, and of theirs."""
    texts, seen = [], set()
    functions = [item.function]
    definitions = getattr(item, "_fixtureinfo", None)
    for name in item.fixturenames:
        for fixture in definitions.name2fixturedefs.get(name, ()) if definitions else ():
            functions.append(fixture.func)
    while functions:
        function = functions.pop()
        if function in seen:
            continue
        seen.add(function)
        texts.append(_source_of(function))
    module = getattr(item, "module", None)
    marks = getattr(module, "pytestmark", [])
    texts += [str(mark) for mark in (marks if isinstance(marks, list) else [marks])]
    return "\n".join(texts)


def _recorded_durations() -> dict[str, float]:
    import json

    try:
        return json.loads(DURATIONS_FILE.read_text())
    except (OSError, ValueError):
        return {}


def pytest_configure(config) -> None:
    # side by side (test.sh, pytest-xdist): each process's torch on its share of the cores;
    # two processes each on every core ran 4 threads on 2 cores, and 7 tests that time
    # something failed that way (2026-12-06)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    if os.environ.get("PYTEST_XDIST_WORKER") or workers == 1:
        # torch imports torch._dynamo at the first optimizer a process makes (~2 CPU-seconds
        # here): every test process makes one, and paid inside the first test that trains, it
        # pushed that test over the fast tier's guard or not depending on the order (6.3 s)
        import torch._dynamo  # noqa: F401
    apptest_harness.scan_components_once()
    apptest_harness.share_compiled_scripts()
    for name, words in NEEDS.items():
        config.addinivalue_line(
            "markers", f"{name}: needs {', '.join(words[:2])} (found automatically)"
        )
    config.addinivalue_line(
        "markers", f"long: took over {FAST_TEST_SECONDS:g} s in the last full run"
    )
    for name, words in LANE_MARKS.items():
        config.addinivalue_line("markers", f"{name}: {words}")


def longest_first(items: list, durations: dict[str, float]) -> list:
    """Return items with whole modules ordered by their recorded seconds in all, longest first
    (a module's own order kept). Side by side (test.sh, --dist loadfile) each process takes the
    next whole module when it runs out, so the longest start first instead of ending the run,
    and a module's fixtures (a Ray cluster, a server) start once."""
    modules: dict[str, list] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    seconds = {
        name: sum(durations.get(item.nodeid, 0.0) for item in group)
        for name, group in modules.items()
    }
    order = sorted(modules, key=lambda name: (-seconds[name], name))
    return [item for name in order for item in modules[name]]


def pytest_collection_modifyitems(config, items) -> None:
    durations = _recorded_durations()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every process orders them alike
        items[:] = longest_first(items, durations)
    for item in items:
        text = _sources(item)
        for name, words in NEEDS.items():
            if any(word in text for word in words):
                item.add_marker(getattr(pytest.mark, name))
        slow_fixture = any(
            durations.get(f"fixture:{name}", 0.0) > FAST_TEST_SECONDS for name in item.fixturenames
        )
        if slow_fixture or durations.get(item.nodeid, 0.0) > FAST_TEST_SECONDS:
            item.add_marker(pytest.mark.long)


_durations: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    import time

    started = time.perf_counter()
    yield
    key = f"fixture:{fixturedef.argname}"
    _durations[key] = max(_durations.get(key, 0.0), time.perf_counter() - started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    import time

    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    _durations[item.nodeid] = seconds
    if os.environ.get(FAST_ENV) == "1" and seconds > 3 * FAST_TEST_SECONDS:
        pytest.fail(
            f"took {seconds:.1f} s in the fast tier: record the durations again "
            "(./test.sh --record-durations) so that it moves to the full tier, or make it faster"
        )


def pytest_sessionfinish(session, exitstatus) -> None:
    if os.environ.get(RECORD_ENV) == "1" and _durations:
        import json

        recorded = {**_recorded_durations(), **{k: round(v, 2) for k, v in _durations.items()}}
        DURATIONS_FILE.write_text(json.dumps(dict(sorted(recorded.items())), indent=0) + "\n")


def wait_for(condition, timeout: float = 60.0) -> None:
    """Wait until condition() is true, polling every 10 ms; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def wait_until_settled(count, still: float = 1.0, timeout: float = 30) -> int:
    """Return count() once it has not moved for `still` seconds; fail if it keeps moving."""
    deadline = time.monotonic() + timeout
    value, since = count(), time.monotonic()
    while time.monotonic() - since < still:
        assert time.monotonic() < deadline, f"still moving {timeout:g} s later (at {value})"
        time.sleep(0.05)
        if (now := count()) != value:
            value, since = now, time.monotonic()
    return value
