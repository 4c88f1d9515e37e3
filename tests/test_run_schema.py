"""The run files' schema: every field typed and ranged, on import and in the damage scan alike.

Each crafted file here broke a page for every session before the schema existed (the comment
on each test says how); now import refuses it naming the field, and a folder holding it is
listed as damaged with the same words. Imports also check the network's size and the weights'
header before a real tensor is made, and unzip members without trusting their headers.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from safetensors.torch import save

from core.events import EpochEnded, Step
from core.runs.archive import import_run
from core.runs.listing import list_damaged_runs, list_runs
from core.runs.schema import check_metrics, check_summary
from core.runs.store import RUN_FILES, InvalidRun, load_run, save_run
from core.runs.uploads import MiB
from core.spec.config import TrainConfig
from core.spec.models import ConvLayer, DenseLayer, ModelSpec, build
from tests.conftest import rss_mb

RUN_ID = "20261124-000000-crafted-0001"
STEPS = [
    Step(step=1, epoch=1, loss=2.3, lr=0.001, samples_per_s=900.0, grad_norms=[0.2, 0.1]),
    Step(step=2, epoch=1, loss=2.1, lr=0.001, samples_per_s=950.0),
]
EPOCHS = [
    EpochEnded(
        epoch=1,
        step=2,
        train_loss=2.2,
        train_accuracy=0.2,
        val_loss=float("nan"),  # no validation set
        val_accuracy=float("nan"),
        seconds=0.5,
    )
]
DROP = "<drop this field>"  # a summary value that removes the field
# every field RunWriter.summary writes for a finished run today
FINISHED = {
    "name": "crafted",
    "status": "finished",
    "created": "2026-11-24T00:00:00+00:00",
    "test_accuracy": 0.5,
    "test_loss": 0.69,
    "val_accuracy": 0.51,
    "seconds": 1.5,
    "seconds_per_epoch": 1.5,
    "epochs_completed": 1,
    "steps": 2,
    "device": "cpu",
    "parameters": 6_298,
    "classes": [3, 7],
    "data_source": "folder",
    "versions": {"python": "3.11.7", "torch": "2.6.0", "torchvision": "0.21.0"},
}


def run_files(tmp_path: Path, summary: dict | None = None, metrics: dict | None = None) -> dict:
    """The five files of a small valid run, with summary fields and metrics.json replaced."""
    spec = ModelSpec(dense=[DenseLayer(8)], outputs=2)
    config = TrainConfig(classes=[3, 7])
    folder = tmp_path / "source" / RUN_ID
    shutil.rmtree(folder, ignore_errors=True)
    save_run(folder.parent, RUN_ID, spec, config, build(spec), FINISHED, STEPS, EPOCHS)
    files = {name: (folder / name).read_bytes() for name in RUN_FILES}
    if summary is not None:
        merged = {**json.loads(files["summary.json"]), **summary}
        files["summary.json"] = json.dumps({k: v for k, v in merged.items() if v != DROP}).encode()
    if metrics is not None:
        files["metrics.json"] = json.dumps(metrics).encode()
    return files


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content in files.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


def on_disk(runs: Path, files: dict[str, bytes], run_id: str = RUN_ID) -> Path:
    """Write run files straight into the runs folder, as a copied or hand-edited folder is."""
    folder = runs / run_id
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def metrics_of(tmp_path: Path) -> dict:
    return json.loads(run_files(tmp_path)["metrics.json"])


def refused_both_ways(tmp_path: Path, files: dict[str, bytes], words: str) -> None:
    """Import refuses the files naming the problem, and the damage scan lists them with it."""
    runs = tmp_path / "runs"
    with pytest.raises(InvalidRun, match=words):
        import_run(archive(files), runs)
    assert list_runs(runs) == []
    on_disk(runs, files)
    assert list_runs(runs) == []
    [damaged] = list_damaged_runs(runs)
    assert damaged["run_id"] == RUN_ID
    assert re.search(words, damaged["damaged"]), damaged["damaged"]


# --- the crafted files of the issue ---------------------------------------------------------


def test_a_parameter_count_that_is_text_is_refused_naming_the_field(tmp_path):
    # was accepted, became every session's default run and broke /evaluate with
    # "ValueError: Cannot specify ',' with 's'" before the Import tab was drawn
    files = run_files(tmp_path, {"parameters": "abc"})
    refused_both_ways(
        tmp_path, files, r"summary\.json: parameters: 'abc' must be a whole number ≥ 0"
    )


def test_a_creation_date_in_the_future_is_refused(tmp_path):
    # was accepted and sorted first for ever: the newest run is every new session's default
    files = run_files(tmp_path, {"created": "2999-01-01T00:00:00+00:00"})
    refused_both_ways(tmp_path, files, r"summary\.json: created: '2999-01-01.*not in the future")


def test_metrics_missing_the_epoch_column_are_refused_and_listed_as_damaged(tmp_path):
    # the damage scan did not look inside metrics.json: the folder was listed as a run, was
    # compared by default (the three newest are) and failed with KeyError: 'epoch'
    metrics = metrics_of(tmp_path)
    del metrics["epochs"]["epoch"]
    files = run_files(tmp_path, metrics=metrics)
    refused_both_ways(tmp_path, files, r"metrics\.json: epochs: the epoch column is missing")


@pytest.mark.parametrize(
    "table, column, value, words",
    [
        ("steps", "loss", "x", r"steps\.loss\[1\]: 'x' must be a number ≥ 0"),
        ("steps", "lr", "fast", r"steps\.lr\[1\]: 'fast' must be a number ≥ 0"),
        ("steps", "grad_norms", ["a", "b"], r"steps\.grad_norms\[1\]: \['a', 'b'\] must be"),
        ("epochs", "val_accuracy", "high", r"epochs\.val_accuracy\[0\]: 'high' must be a fraction"),
        ("epochs", "complete", "yes", r"epochs\.complete\[0\]: 'yes' must be true or false"),
    ],
)
def test_text_where_metrics_hold_numbers_is_refused(tmp_path, table, column, value, words):
    # strings were accepted and failed later in the figures: ValueError on Inside (grad norms),
    # TypeError in Compare's smoothed loss curves
    metrics = metrics_of(tmp_path)
    metrics[table][column][-1] = value
    refused_both_ways(tmp_path, run_files(tmp_path, metrics=metrics), words)


def test_the_summaries_runs_write_today_pass(tmp_path):
    # a finished run, an interrupted one (no test scores yet) and a .pt import made while
    # MNIST was unavailable (test_accuracy: null) are all legitimate
    interrupted = {**FINISHED, "status": "interrupted", "test_accuracy": None, "test_loss": None}
    interrupted["seconds_per_epoch"] = None
    imported = {
        "name": "imported",
        "status": "imported",
        "imported_from": "mnist_mlp.pt",
        "created": "2026-11-24T00:00:00+00:00",
        "test_accuracy": None,
        "test_loss": None,
        "seconds": None,
        "epochs_completed": 0,
        "steps": 0,
        "device": "cpu",
        "parameters": 6_298,
        "classes": [3, 7],
        "versions": {"python": "3.11.7", "torch": "2.6.0", "torchvision": "0.21.0"},
    }
    for index, summary in enumerate((FINISHED, interrupted, imported)):
        check_summary({"format_version": 1, "run_id": RUN_ID, **summary})
        folder = tmp_path / "runs" / f"{RUN_ID}-{index}"
        files = run_files(tmp_path, {**summary, "run_id": folder.name})
        on_disk(folder.parent, files, folder.name)
        assert load_run(folder).summary["status"] == summary["status"]
    assert len(list_runs(tmp_path / "runs")) == 3
    assert list_damaged_runs(tmp_path / "runs") == []


def test_a_minimal_summary_passes():
    # tests and old runs save only a few fields: every field but format_version and run_id is optional
    check_summary({"format_version": 1, "run_id": RUN_ID})
    check_metrics({})
    check_metrics({"steps": {}, "epochs": {}})


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("format_version", 2, r"format_version: 2 must be 1"),
        ("format_version", DROP, r"format_version is missing"),
        ("run_id", DROP, r"run_id is missing"),
        ("run_id", "../evil", r"run_id: '\.\./evil' must be a run id"),
        ("name", ["a"], r"name: \['a'\] must be text of at most 200 characters"),
        ("status", "hacked", r"status: 'hacked' must be one of finished, stopped, interrupted"),
        ("created", "yesterday", r"created: 'yesterday' must be a date and time"),
        ("created", 20261124, r"created: 20261124 must be a date and time"),
        ("test_accuracy", 1.5, r"test_accuracy: 1\.5 must be a fraction in 0\.\.1 or NaN, or null"),
        ("test_accuracy", "99%", r"test_accuracy: '99%' must be a fraction"),
        ("test_loss", -1, r"test_loss: -1 must be a number ≥ 0"),
        ("seconds", "long", r"seconds: 'long' must be a number ≥ 0"),
        ("epochs_completed", 1.5, r"epochs_completed: 1\.5 must be a whole number ≥ 0"),
        ("epochs_completed", None, r"epochs_completed: None must be a whole number ≥ 0"),
        ("steps", True, r"steps: True must be a whole number ≥ 0"),
        ("parameters", -3, r"parameters: -3 must be a whole number ≥ 0"),
        ("device", {"x": 1}, r"device: \{'x': 1\} must be text"),
        ("classes", [3, 3], r"classes: \[3, 3\] must be distinct digits"),
        ("classes", "37", r"classes: '37' must be distinct digits"),
        ("versions", {"torch": 2}, r"versions: \{'torch': 2\} must be an object of texts"),
        ("imported_from", 7, r"imported_from: 7 must be text"),
        ("surprise", 1, r"summary\.json: surprise is not a field of a run's summary"),
    ],
)
def test_every_summary_field_is_type_and_range_checked(tmp_path, field, value, words):
    refused_both_ways(tmp_path, run_files(tmp_path, {field: value}), words)


def test_a_number_too_long_for_python_is_refused_as_a_bad_run(tmp_path):
    # int() refuses more than 4,300 digits with a plain ValueError, which escaped as a traceback
    files = run_files(tmp_path)
    files["summary.json"] = files["summary.json"].replace(b'"steps": 2', b'"steps": ' + b"9" * 5000)
    refused_both_ways(tmp_path, files, r"summary\.json is not valid JSON")


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda m: m.update(extra={}), r"metrics\.json: extra is not a table of a run's metrics"),
        (lambda m: m.update(steps=[1, 2]), r"metrics\.json: steps must be an object of columns"),
        (lambda m: m["steps"].update(speed=[1, 2]), r"steps: speed is not a column"),
        (lambda m: m["steps"].update(loss=[1.0]), r"steps: the columns differ in length"),
        (lambda m: m["steps"].update(step="12"), r"steps\.step must be a list"),
        (lambda m: m["steps"]["step"].__setitem__(0, -1), r"steps\.step\[0\]: -1 must be a whole"),
        (
            lambda m: m["steps"].update(grad_norms=[[0.1, 0.2], [0.1]]),
            r"steps\.grad_norms\[1\]: \[0\.1\] must be .* as many as the others",
        ),
    ],
)
def test_every_metrics_column_is_checked(tmp_path, change, words):
    metrics = metrics_of(tmp_path)
    change(metrics)
    refused_both_ways(tmp_path, run_files(tmp_path, metrics=metrics), words)


@pytest.mark.parametrize(
    "file, change, words",
    [
        ("spec.json", lambda d: d["dense"][0].update(batch_norm="yes"), r"dense\[0\]\.batch_norm"),
        ("config.json", lambda d: d["augment"].update(enabled=1), r"augment\.enabled: 1 must be"),
        ("config.json", lambda d: d.update(lr="fast"), r"lr: 'fast' must be a number"),
    ],
)
def test_spec_and_config_fields_are_checked_by_their_own_validation(tmp_path, file, change, words):
    files = run_files(tmp_path)
    settings = json.loads(files[file])
    change(settings)
    files[file] = json.dumps(settings).encode()
    refused_both_ways(tmp_path, files, r"not a valid Digit Lab run: .*" + words)


def test_summary_classes_must_be_the_configs(tmp_path):
    refused_both_ways(
        tmp_path, run_files(tmp_path, {"classes": [1, 2]}), r"classes: \[1, 2\] .* config\.json"
    )


def test_weights_of_another_dtype_are_refused_from_the_header(tmp_path):
    spec = ModelSpec(dense=[DenseLayer(8)], outputs=2)
    state = {k: v.double() for k, v in build(spec).state_dict().items()}
    files = {**run_files(tmp_path), "model.safetensors": save(state)}
    refused_both_ways(tmp_path, files, r"model\.safetensors: 1\.weight is F64, expected F32")


# --- what importing costs before the file is checked ---------------------------------------

# within every limit of spec.json, and 940 million parameters: 3.8 GB of float32
HUGE_SPEC = ModelSpec(
    conv=[ConvLayer(channels=256, kernel=1, padding="same", pool="none") for _ in range(4)],
    dense=[DenseLayer(4096) for _ in range(8)],
)


def _huge_run_file(tmp_path: Path) -> bytes:
    files = run_files(tmp_path)
    files["spec.json"] = json.dumps(HUGE_SPEC.to_dict()).encode()
    config = json.loads(files["config.json"])
    files["config.json"] = json.dumps({**config, "classes": list(range(10))}).encode()
    summary = json.loads(files["summary.json"])
    files["summary.json"] = json.dumps({**summary, "classes": list(range(10))}).encode()
    data = archive(files)
    assert len(data) < MiB  # the weights are a small network's
    return data


def _peak_memory_growth_mb(work) -> float:
    """Run work() and return how far this process's resident memory rose above its start."""
    start = peak = rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return peak - start


def test_a_940m_parameter_spec_with_small_weights_is_refused_from_the_header(tmp_path, monkeypatch):
    # built the network for real before comparing shapes: 12 s and +3.6 GB per upload
    monkeypatch.setenv("DIGITLAB_MEMORY_LIMIT_GB", "1000")  # so that only the header stops it
    data = _huge_run_file(tmp_path)

    def attempt() -> None:
        with pytest.raises(InvalidRun, match="does not hold the weights of the network"):
            import_run(data, tmp_path / "runs")

    started = time.perf_counter()
    assert _peak_memory_growth_mb(attempt) < 200
    assert time.perf_counter() - started < 5
    assert list_runs(tmp_path / "runs") == []


def test_a_940m_parameter_spec_is_refused_by_the_memory_budget_before_its_weights(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DIGITLAB_MEMORY_LIMIT_GB", "4")
    data = _huge_run_file(tmp_path)

    def attempt() -> None:
        with pytest.raises(InvalidRun, match=r"dense\[0\]\.width: 4,096 units need about .* GB"):
            import_run(data, tmp_path / "runs")

    assert _peak_memory_growth_mb(attempt) < 200


def test_a_run_that_loads_within_the_budget_is_not_held_to_the_training_budget(
    tmp_path, monkeypatch
):
    # training also counts gradients, optimizer state, the data and a batch's activations:
    # a run trained elsewhere must still open here if it fits in memory to score
    files = run_files(tmp_path)
    config = json.loads(files["config.json"])
    files["config.json"] = json.dumps({**config, "batch_size": 60000}).encode()
    monkeypatch.setenv("DIGITLAB_MEMORY_LIMIT_GB", "0.2")
    assert import_run(archive(files), tmp_path / "runs").run_id == RUN_ID


def _lying_archive(files: dict[str, bytes], member: str, real_size: int, declared: int) -> bytes:
    """A deflated archive whose member unpacks to real_size zero bytes but declares fewer."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, content in files.items():
            if name != member:
                zipped.writestr(name, content)
        with zipped.open(member, "w") as target:
            chunk = bytes(MiB)
            for _ in range(real_size // MiB):
                target.write(chunk)
    patched = bytearray(buffer.getvalue())
    start = 0
    while (start := patched.find(b"PK\x01\x02", start)) >= 0:  # central directory entries
        name_length = struct.unpack_from("<H", patched, start + 28)[0]
        if patched[start + 46 : start + 46 + name_length].decode() == member:
            struct.pack_into("<I", patched, start + 24, declared)
        start += 4
    return bytes(patched)


def test_a_member_whose_header_lies_about_its_size_is_not_unpacked_past_it(tmp_path):
    # was decompressed up to its 512 MiB limit in one read before the CRC failed:
    # about 1 GB of memory per 5 MB upload
    data = _lying_archive(run_files(tmp_path), "model.safetensors", 96 * MiB, declared=1000)
    assert len(data) < MiB
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRun, match="model.safetensors is damaged"):
            import_run(data, tmp_path / "runs")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB
