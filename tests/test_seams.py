"""Defects found by reading the code at the seams between modules (issue 23, part 5): each test
here failed before its fix."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.events import Done
from core.runs.schema import MAX_NAME_CHARS
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec
from core.train import executors as executors_module
from core.train import timebudget
from core.train.control import TrainControl
from core.train.executors import ProcessExecutor
from core.train.job import Job
from core.train.jobs import JobRegistry
from core.train.worker import Worker
from tests.conftest import train_tiny_run

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
DRAW = str(REPO / "views" / "5_Draw.py")
SPEC = ModelSpec(dense=[DenseLayer(16)])


def small_config(**changes) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "train_fraction": 0.02, "device": "cpu", **changes})


# 1. a name the run's summary cannot hold was found only after training
def test_a_run_name_too_long_to_save_is_refused_before_training():
    with pytest.raises(ValueError, match=rf"name: .*at most {MAX_NAME_CHARS} characters"):
        Job.create(SPEC, small_config(), "x" * (MAX_NAME_CHARS + 1))
    Job.create(SPEC, small_config(), "x" * MAX_NAME_CHARS)  # the longest name that saves


def train_page(job: str | None = None) -> AppTest:
    """Return the app opened on the Train page (its links need the app's navigation)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if job:
        at.query_params["job"] = job
    at.run()
    return at.switch_page("views/3_Train.py").run()


def test_the_train_page_refuses_a_long_run_name_at_the_box():
    at = train_page()
    box = next(w for w in at.text_input if w.label == "Run name")
    assert box.proto.max_chars == MAX_NAME_CHARS  # the browser stops typing there
    box.set_value("x" * (MAX_NAME_CHARS + 5)).run()
    assert not at.exception and not at.error
    box = next(w for w in at.text_input if w.label == "Run name")
    assert len(box.value) == MAX_NAME_CHARS  # cut at the box, as the browser does


# 2. the longest run the settings allow wrote a metrics.json that loading refused, and every
# step was kept as an object by the trainer, the job and a loaded run
def test_a_run_of_the_largest_allowed_length_saves_and_loads_back(tmp_path):
    import math
    import tracemalloc

    import numpy as np

    from core.events import EpochEnded, Step, StepColumns
    from core.runs.store import MAX_JSON_BYTES, load_run, save_run
    from core.spec.config import LIMITS
    from core.spec.models import build

    n = LIMITS["iterations"][1]
    rng = np.random.default_rng(0)
    steps = np.arange(1, n + 1)
    columns = {
        "step": steps.tolist(),
        "epoch": steps.tolist(),  # full batch: an epoch a step, the longest numbers
        "loss": rng.random(n, dtype=np.float32).astype(np.float64).tolist(),
        "lr": (0.05 * (1 + np.cos(np.pi * steps / n)) / 2).tolist(),  # a cosine schedule
        "samples_per_s": (rng.random(n) * 1e5).tolist(),
        "grad_norms": [[0.5, 0.25, 0.125] if i % 50 == 0 else None for i in range(n)],
    }
    kept = StepColumns.from_columns(columns)
    spec = ModelSpec(dense=[DenseLayer(8)])
    epoch = EpochEnded(
        epoch=n, step=n, train_loss=0.1, train_accuracy=0.9, val_loss=math.nan,
        val_accuracy=math.nan, seconds=0.01, complete=True,
    )  # fmt: skip
    summary = {"name": "longest", "status": "finished", "created": "2026-12-05T00:00:00+00:00"}
    path = save_run(tmp_path, "20261205-000000-longest-0001", spec, TrainConfig(iterations=n),
                    build(spec), summary, kept, [epoch])  # fmt: skip
    size = (path / "metrics.json").stat().st_size
    assert size <= 0.8 * MAX_JSON_BYTES, size  # with room to spare: about 45 bytes a step
    run = load_run(path)
    assert len(run.steps) == n
    for i in (0, 50, n - 1):  # the trainer's numbers exactly; the rate and speed as shown
        got, want = run.steps[i], kept[i]
        assert (got.step, got.epoch, got.loss) == (want.step, want.epoch, want.loss)
        assert got.samples_per_s == pytest.approx(want.samples_per_s, rel=1e-3)
    assert run.steps[50].grad_norms == [0.5, 0.25, 0.125] and run.steps[51].grad_norms is None
    assert run.steps[-1].lr == pytest.approx(kept[-1].lr, rel=1e-6, abs=1e-12)

    # the job keeps its steps as columns: about 50 bytes a step, not an object each
    tracemalloc.start()
    job_steps = StepColumns()
    for i in range(100_000):
        job_steps.append(Step(step=i, epoch=i, loss=0.5, lr=0.01, samples_per_s=1e3))
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held / 100_000 <= 64, held


# 3. a race could start half-way
def test_a_race_whose_third_run_is_refused_queues_none(monkeypatch, tmp_path):
    registry = JobRegistry(executor="thread")
    calls = []
    real = timebudget.check_time

    def third_refused(spec, config, runs_dir=None, estimate=None):
        calls.append(config.seed)
        if len(calls) == 3:
            raise ValueError("epochs: this run would train for too long")
        return real(spec, config, runs_dir, estimate)

    monkeypatch.setattr(timebudget, "check_time", third_refused)
    runs = [
        {"spec": SPEC, "config": small_config(seed=seed), "name": "race", "runs_dir": tmp_path}
        for seed in range(4)
    ]
    with pytest.raises(ValueError, match="too long"):
        registry.submit_all(runs, owner="me")
    assert registry.jobs() == [] and registry.active() == []


# 4. Continue could run twice
def test_a_run_cannot_be_continued_twice_at_once(data_dir, tmp_path):
    folder = train_tiny_run(tmp_path, data_dir, "twice", SPEC, small_config(epochs=2))
    registry = JobRegistry(executor="thread")
    registry._start_waiting = lambda: None  # both stay queued: the race is at the queue
    first = Job.continuing(folder, str(tmp_path))
    second = Job.continuing(folder, str(tmp_path))
    registry.enqueue(first)
    with pytest.raises(ValueError, match="already training"):
        registry.enqueue(second)  # two tabs' Continue: the second must not queue
    assert [j.run_id for j in registry.active()] == [first.run_id]


def test_continuing_keeps_the_runs_folder_check(tmp_path, isolated_folders):
    outside = tmp_path / "elsewhere" / "20261205-000000-x-0000"
    outside.mkdir(parents=True)
    with pytest.raises(ValueError, match="not a run folder of"):
        JobRegistry(executor="thread").continue_run(outside)


# 5. the Draw page's quick-train refused in a callback was a traceback
def test_a_refused_quick_train_is_a_message_on_the_draw_page(monkeypatch):
    monkeypatch.setenv(timebudget.LIMIT_ENV, "0.001")  # a few hundredths of a second
    at = AppTest.from_file(DRAW, default_timeout=60).run()
    button = next(b for b in at.button if b.key == "draw-quick-train")
    button.click().run()
    assert not at.exception
    assert any("Cannot train a drawing model" in e.value for e in at.error)


# 6. the Train page's result panel loaded a run without a guard
def test_a_run_damaged_after_training_is_a_message_on_the_train_page(
    data_dir, isolated_folders, monkeypatch
):
    folder = train_tiny_run(isolated_folders, data_dir, "damaged", SPEC, small_config())
    (folder / "model.safetensors").write_bytes(b"not weights")
    at = train_page(job=folder.name)
    assert not at.exception
    assert any("could not be loaded" in e.value for e in at.error), [e.value for e in at.error]


# 7. a worker's next job could lose its publish callback
class _FakeRequests:
    def send(self, message) -> None:
        pass


class _RacedWorker(Worker):
    """A Worker without a process, in which another job starts the moment busy turns False,
    as the registry's thread would when a job ends."""

    def __init__(self) -> None:
        self._send_lock = threading.Lock()
        self._requests = _FakeRequests()
        self.control = TrainControl()
        self._publish, self.alive, self.closing = None, True, False
        self.__dict__["busy"] = True
        self.next_publish = lambda event: None
        self.starter: threading.Thread | None = None

    def __setattr__(self, name, value) -> None:
        super().__setattr__(name, value)
        if name == "busy" and value is False and self.starter is None:
            request = Job.create(SPEC, small_config()).request
            self.starter = threading.Thread(target=self.start, args=(request, self.next_publish))
            self.starter.start()
            self.starter.join(0.2)  # the other thread gets its chance right here


def test_a_job_started_as_the_last_one_ends_keeps_its_events():
    worker = _RacedWorker()
    worker._publish = lambda event: None
    worker._forward(Done(status="finished").to_dict())
    worker.starter.join(5)
    assert worker.busy and worker._publish is worker.next_publish


# 10. the rest
def test_live_and_final_loss_curves_smooth_alike():
    from ui.charts import curve_figures, live_curves

    assert live_curves.smoothing_window is curve_figures.smoothing_window
    source = (REPO / "ui" / "charts" / "curve_figures.py").read_text()
    assert "smoothing_window(len(ys))" in source


def test_process_executors_register_one_exit_handler(monkeypatch):
    registered = []
    monkeypatch.setattr(executors_module.atexit, "register", registered.append)
    monkeypatch.setattr(executors_module, "_EXIT_HANDLER", [])
    executors = [ProcessExecutor(1) for _ in range(3)]
    assert len(registered) == 1
    assert all(e in executors_module._OPEN_EXECUTORS for e in executors)


# 9. a download held the data lock, and set every socket's timeout
def test_a_download_gives_its_own_requests_a_timeout_and_leaves_the_process_alone(
    tmp_path, monkeypatch
):
    import socket
    import urllib.error

    from core.data import mnist as data

    seen = []

    def unreachable(url, timeout=None):
        seen.append((url, timeout, socket.getdefaulttimeout()))
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(data.urllib.request, "urlopen", unreachable)
    with pytest.raises(OSError, match="no network here"):
        data._try_download(tmp_path, 7.0)
    assert seen and all(timeout == 7.0 and default is None for _, timeout, default in seen)
    assert len({url for url, _, _ in seen}) >= 2  # every mirror was tried


def test_a_loaded_dataset_is_found_while_another_one_loads(tmp_path, monkeypatch):
    from core.data import mnist as data

    key = (data.resolve_data_dir(tmp_path).resolve(), "mnist")
    monkeypatch.setitem(data._mnist_cache, key, "loaded")
    found = []
    with data._mnist_lock:  # as while another folder or dataset downloads
        reader = threading.Thread(target=lambda: found.append(data.shared_mnist(tmp_path)))
        reader.start()
        reader.join(2)
    assert found == ["loaded"]
