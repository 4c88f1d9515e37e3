"""Hostile uploads: code-running pickles, zip tricks, huge, truncated and mangled files are refused.

Every refusal is an InvalidRun with a message (the page shows it with st.error), never another
exception, and nothing is ever written outside the runs folder.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.runs.archive import import_run
from core.runs.listing import list_runs
from core.runs.statedict import import_state_dict
from core.runs.store import RUN_FILES, InvalidRun, delete_run, load_run, run_folder, save_run
from core.runs.uploads import MAX_UPLOAD_BYTES, MiB
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec, build
from core.spec.presets import get_preset

EVALUATE = str(Path(__file__).resolve().parent.parent / "views" / "4_Evaluate.py")


# --- what the tests upload ----------------------------------------------------------------


class TouchesAFile:
    """Unpickling this calls Path.touch(marker): a stand-in for any code a pickle can run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


class RunsAShellCommand:
    """Unpickling this runs `touch marker` through os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


PAYLOADS = [TouchesAFile, RunsAShellCommand]


def hostile_pt(marker: Path, payload=TouchesAFile) -> bytes:
    """A .pt file, as torch.save writes it, whose state_dict hides a code-running object."""
    state = {**build(ModelSpec(dense=[DenseLayer(8)])).state_dict(), "1.weight": payload(marker)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def run_files(tmp_path: Path) -> dict[str, bytes]:
    """The five files of a small valid run."""
    spec = ModelSpec(dense=[DenseLayer(8)], outputs=2)
    config = TrainConfig(classes=[3, 7])
    summary = {"name": "small", "status": "finished", "created": "2026-11-24T00:00:00+00:00"}
    path = save_run(
        tmp_path / "source",
        "20261124-000000-small-0001",
        spec,
        config,
        build(spec),
        summary,
        [],
        [],
    )
    return {name: (path / name).read_bytes() for name in RUN_FILES}


def archive(files: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zipped:
        for name, content in files.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


def with_declared_size(data: bytes, member: str, size: int) -> bytes:
    """Return the zip with its central directory claiming that member unpacks to size bytes."""
    patched = bytearray(data)
    start = 0
    while (start := patched.find(b"PK\x01\x02", start)) >= 0:
        name_length = struct.unpack_from("<H", patched, start + 28)[0]
        if patched[start + 46 : start + 46 + name_length].decode() == member:
            struct.pack_into("<I", patched, start + 24, size)
            return bytes(patched)
        start += 4
    raise AssertionError(f"{member} is not in the archive")


def files_in(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.fixture
def marker(tmp_path) -> Path:
    """Where the hostile payloads would leave their mark; each test checks it never appears."""
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "a hostile payload was executed"


# --- pickles that would run code -----------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_payload_is_live_when_unpickled_without_protection(tmp_path, payload):
    control = tmp_path / "control"
    torch.load(io.BytesIO(hostile_pt(control, payload)), weights_only=False)
    assert control.exists(), "the test's payload must really run code, or the tests prove nothing"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_code_running_state_dict_is_refused_and_never_executed(tmp_path, marker, payload):
    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(InvalidRun, match="refused without loading them"):
        import_state_dict(hostile_pt(marker, payload), spec, config, "x", tmp_path / "runs")
    assert list_runs(tmp_path / "runs") == []


def test_a_whole_pickled_model_is_refused_with_advice(tmp_path, marker):
    buffer = io.BytesIO()
    torch.save(build(ModelSpec()), buffer)
    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(InvalidRun, match=r"Sequential.*Save model\.state_dict\(\)"):
        import_state_dict(buffer.getvalue(), spec, config, "x", tmp_path / "runs")


def test_a_bare_pickle_stream_is_refused_before_unpickling(tmp_path, marker):
    import pickle

    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(InvalidRun, match="current format"):
        import_state_dict(pickle.dumps(TouchesAFile(marker)), spec, config, "x", tmp_path)


@pytest.mark.parametrize("member", ["model.safetensors", "spec.json", "model.pt", "data.pkl"])
def test_a_pickle_inside_a_run_file_is_refused_and_never_executed(tmp_path, marker, member):
    files = {**run_files(tmp_path), member: hostile_pt(marker)}
    with pytest.raises(InvalidRun):
        import_run(archive(files), tmp_path / "runs")
    assert list_runs(tmp_path / "runs") == []


def test_a_pt_file_uploaded_as_a_run_file_is_refused_with_a_hint(tmp_path, marker):
    with pytest.raises(InvalidRun, match=r"import it as \.pt"):
        import_run(hostile_pt(marker), tmp_path / "runs")


def _evaluate_page() -> AppTest:
    return AppTest.from_file(EVALUATE, default_timeout=60).run()


def _errors(at: AppTest) -> str:
    return "\n".join(str(element.value) for element in at.error)


def test_the_evaluate_page_refuses_a_code_running_state_dict(isolated_folders, marker):
    at = _evaluate_page()
    at.file_uploader(key="eval-import").set_value(
        ("mnist_mlp.pt", hostile_pt(marker), "application/octet-stream")
    )
    at.run()
    at.selectbox(key="eval-import-network").set_value("seed-mlp-128")
    at.button(key="eval-import-weights").click().run()
    assert not at.exception
    assert "mnist_mlp.pt cannot be imported" in _errors(at)
    assert "refused without loading them" in _errors(at)
    assert list_runs(isolated_folders) == []


@pytest.mark.parametrize("file_name", ["run.digitlab.zip", "model.pth"])
def test_the_evaluate_page_refuses_a_code_running_file_whatever_its_name(
    isolated_folders, marker, tmp_path, file_name
):
    at = _evaluate_page()
    upload = hostile_pt(marker, RunsAShellCommand)
    at.file_uploader(key="eval-import").set_value((file_name, upload, "application/zip"))
    at.run()
    if file_name.endswith(".pth"):
        at.button(key="eval-import-weights").click().run()
    assert not at.exception
    assert f"{file_name} cannot be imported" in _errors(at)


def test_the_evaluate_page_refuses_an_oversized_upload(isolated_folders, monkeypatch):
    monkeypatch.setattr("core.runs.uploads.MAX_UPLOAD_BYTES", MiB)  # read by the page on every run
    at = _evaluate_page()
    at.file_uploader(key="eval-import").set_value(
        ("big.digitlab.zip", b"\0" * (MiB + 1), "application/zip")
    )
    at.run()
    assert not at.exception
    assert "too large" in _errors(at) and "1 MiB" in _errors(at)


# --- size limits ---------------------------------------------------------------------------


def test_an_oversized_upload_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.pt"
    with open(big, "wb") as file:
        file.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: no disk space, no time
    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(InvalidRun, match="limit is 200.0 MiB"):
        import_state_dict(big, spec, config, "x", tmp_path / "runs")
    with pytest.raises(InvalidRun, match="limit is 200.0 MiB"):
        import_run(big, tmp_path / "runs")


def test_a_member_that_unpacks_past_its_limit_is_refused(tmp_path):
    files = run_files(tmp_path)
    files["summary.json"] = (
        b" " * (2 * MiB) + files["summary.json"]
    )  # valid JSON, compresses to KBs
    bomb = archive(files, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    with pytest.raises(InvalidRun, match="summary.json unpacks to 2.0 MiB; the limit is 1.0 MiB"):
        import_run(bomb, tmp_path / "runs")


def test_a_declared_size_of_gigabytes_is_refused_without_unpacking(tmp_path):
    data = with_declared_size(archive(run_files(tmp_path)), "model.safetensors", 0xFFFFFFF0)
    with pytest.raises(InvalidRun, match="model.safetensors unpacks to 4,096.0 MiB"):
        import_run(data, tmp_path / "runs")


def test_a_member_larger_than_it_declares_is_refused_as_damaged(tmp_path):
    files = run_files(tmp_path)
    files["metrics.json"] = b" " * (2 * MiB) + files["metrics.json"]
    data = with_declared_size(archive(files, zipfile.ZIP_DEFLATED), "metrics.json", 100)
    with pytest.raises(InvalidRun, match="metrics.json is damaged"):
        import_run(data, tmp_path / "runs")


def test_a_pt_file_whose_tensor_declares_gigabytes_is_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buffer)
    data = with_declared_size(buffer.getvalue(), "archive/data/0", 0xFFFFFFF0)
    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(InvalidRun, match="archive/data/0 unpacks to 4,096.0 MiB"):
        import_state_dict(data, spec, config, "x", tmp_path / "runs")


# --- names that point elsewhere -------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/../../b", "..\\evil", "C:/windows/x"])
def test_zip_members_pointing_outside_the_run_folder_are_refused(tmp_path, name):
    files = {**run_files(tmp_path), name: b"{}"}
    before = files_in(tmp_path)
    with pytest.raises(InvalidRun, match="points outside the folder"):
        import_run(archive(files), tmp_path / "runs")
    assert files_in(tmp_path) == before


def test_a_repeated_member_is_refused(tmp_path):
    files = run_files(tmp_path)
    buffer = io.BytesIO(archive(files))
    with pytest.warns(UserWarning), zipfile.ZipFile(buffer, "a") as zipped:
        zipped.writestr("summary.json", b"{}")  # zipfile warns about the duplicate, and writes it
    with pytest.raises(InvalidRun, match="'summary.json' appears twice"):
        import_run(buffer.getvalue(), tmp_path / "runs")


HOSTILE_IDS = ["../evil", "/tmp/evil", "a/b", "evil\x00.txt", "x" * 500, ".hidden", "..", "ok\n"]


@pytest.mark.parametrize("run_id", HOSTILE_IDS)
def test_a_run_id_that_could_name_another_path_is_refused(tmp_path, run_id):
    files = run_files(tmp_path)
    summary = json.loads(files["summary.json"])
    files["summary.json"] = json.dumps({**summary, "run_id": run_id}).encode()
    before = files_in(tmp_path)
    with pytest.raises(InvalidRun, match="run_id"):
        import_run(archive(files), tmp_path / "runs")
    assert files_in(tmp_path) == before
    with pytest.raises(InvalidRun, match="run_id"):
        run_folder(tmp_path / "runs", run_id)


@pytest.mark.parametrize("name", ["../../evil", "/etc/passwd", "evil\x00name", "a\\..\\..\\b"])
def test_hostile_run_names_stay_text_inside_the_runs_folder(tmp_path, name):
    runs = tmp_path / "runs"
    files = run_files(tmp_path)
    summary = json.loads(files["summary.json"])
    files["summary.json"] = json.dumps({**summary, "name": name}).encode()
    before = files_in(tmp_path)
    run = import_run(archive(files), runs)
    spec, config = get_preset("seed-mlp-128").fresh()
    weights = io.BytesIO()
    torch.save(build(spec).state_dict(), weights)
    imported = import_state_dict(weights.getvalue(), spec, config, name, runs)
    assert run.name == name and imported.name == name
    new = files_in(tmp_path) - before
    assert new and all(path == runs or runs in path.parents for path in new)
    assert {path.parent for path in new if path.is_file()} == {run.path, imported.path}


def test_a_very_long_run_name_is_refused(tmp_path):
    files = run_files(tmp_path)
    summary = json.loads(files["summary.json"])
    files["summary.json"] = json.dumps({**summary, "name": "n" * 10_000}).encode()
    with pytest.raises(InvalidRun, match=r"summary\.json: name: .* must be text of at most 200"):
        import_run(archive(files), tmp_path / "runs")


def test_load_and_delete_refuse_folders_outside_the_runs_folder(tmp_path):
    runs = tmp_path / "runs"
    files = run_files(tmp_path)
    outside = tmp_path / "source" / "20261124-000000-small-0001"
    assert load_run(
        outside
    ).run_id  # a run folder anywhere may be read when no runs folder is given
    for path in (outside, runs / ".." / "source" / outside.name):
        with pytest.raises(InvalidRun, match="is not a run folder of"):
            load_run(path, runs)
        with pytest.raises(InvalidRun, match="is not a run folder of"):
            delete_run(path, runs)
    runs.mkdir()
    (runs / "link").symlink_to(outside)
    with pytest.raises(InvalidRun, match="is not a run folder of"):
        delete_run(runs / "link", runs)
    assert {p.name for p in outside.iterdir()} == set(files)


def test_delete_refuses_a_folder_holding_more_than_a_run(tmp_path):
    runs = tmp_path / "runs"
    folder = runs / "20261124-000000-notes-0001"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("not a run file")
    with pytest.raises(InvalidRun, match="holds more than a run: notes.txt"):
        delete_run(folder, runs)
    assert folder.exists()


# --- mangled files -------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9, 0.999])
def test_a_truncated_run_file_is_refused(tmp_path, keep):
    data = archive(run_files(tmp_path), zipfile.ZIP_DEFLATED)
    with pytest.raises(InvalidRun, match="not a Digit Lab run file"):
        import_run(data[: int(len(data) * keep)], tmp_path / "runs")


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9, 0.999])
def test_a_truncated_pt_file_is_refused(tmp_path, keep):
    buffer = io.BytesIO()
    torch.save(build(ModelSpec()).state_dict(), buffer)
    data = buffer.getvalue()
    spec, config = get_preset("seed-mlp-128").fresh()
    with pytest.raises(InvalidRun):
        import_state_dict(data[: int(len(data) * keep)], spec, config, "x", tmp_path / "runs")


def test_a_run_file_with_a_damaged_member_is_refused(tmp_path):
    files = run_files(tmp_path)
    data = bytearray(archive(files, zipfile.ZIP_DEFLATED))
    start = data.find(b"PK\x03\x04")  # the first member's deflated bytes follow its local header
    middle = start + 30 + len(next(iter(files))) + 20
    data[middle : middle + 8] = b"\xff" * 8
    with pytest.raises(InvalidRun, match="is damaged"):
        import_run(bytes(data), tmp_path / "runs")


def _safetensors_with_header(header: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header


@pytest.mark.parametrize(
    "weights",
    [
        b"",
        _safetensors_with_header(b"{}", length=2**60),
        _safetensors_with_header(b"not json at all"),
        _safetensors_with_header(
            json.dumps({"1.weight": {"dtype": "F32", "shape": [8, 784], "data_offsets": [0, 99]}})
            .encode()
            .ljust(200)
        ),
    ],
    ids=["empty", "header-length-2**60", "header-not-json", "offsets-past-the-end"],
)
def test_a_safetensors_file_with_a_bad_header_is_refused(tmp_path, weights):
    files = {**run_files(tmp_path), "model.safetensors": weights}
    with pytest.raises(InvalidRun, match="model.safetensors is not a valid safetensors file"):
        import_run(archive(files), tmp_path / "runs")


def test_settings_nested_thousands_deep_are_refused(tmp_path):
    files = {**run_files(tmp_path), "spec.json": b"[" * 200_000 + b"]" * 200_000}
    with pytest.raises(InvalidRun, match="spec.json"):
        import_run(archive(files, zipfile.ZIP_DEFLATED), tmp_path / "runs")


@pytest.mark.parametrize(
    "field, value",
    [
        ("dense", "many"),
        ("dense", [7]),
        ("dense", [{"width": [1]}]),
        ("output", ["logits"]),
        ("outputs", 1e300),
        ("conv", [{"channels": None}]),
    ],
)
def test_settings_of_the_wrong_type_are_refused(tmp_path, field, value):
    files = run_files(tmp_path)
    spec = {**json.loads(files["spec.json"]), field: value}
    with pytest.raises(InvalidRun, match="not a valid Digit Lab run"):
        import_run(archive({**files, "spec.json": json.dumps(spec).encode()}), tmp_path / "runs")
