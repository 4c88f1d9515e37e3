"""core.runs.store: atomic saves, loading without pickles, export/import round trips, refusals."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch

from core.events import EpochEnded, Step
from core.runs.archive import export_run, export_run_bytes, import_run
from core.runs.listing import list_runs
from core.runs.store import (
    RUN_FILES,
    InvalidRun,
    delete_run,
    load_run,
    read_summary,
    save_run,
    versions,
)
from core.spec.config import TrainConfig
from core.spec.models import DenseLayer, ModelSpec, build

STEPS = [Step(step=1, epoch=1, loss=2.3, lr=0.001, samples_per_s=1000.0)]
EPOCHS = [
    EpochEnded(
        epoch=1,
        step=1,
        train_loss=2.3,
        train_accuracy=0.1,
        val_loss=2.2,
        val_accuracy=0.12,
        seconds=0.5,
        complete=True,
    )
]


def saved(tmp_path, run_id="20261124-000000-test-0001", classes=(3, 7)):
    spec = ModelSpec(dense=[DenseLayer(8)], outputs=len(classes))
    config = TrainConfig(classes=list(classes), normalization="mnist")
    torch.manual_seed(0)
    model = build(spec).eval()
    summary = {
        "name": "test",
        "status": "finished",
        "created": "2026-11-24T00:00:00+00:00",
        "test_accuracy": 0.5,
    }
    path = save_run(tmp_path / "runs", run_id, spec, config, model, summary, STEPS, EPOCHS)
    return path, model


def test_saved_run_loads_back_with_the_same_predictions(tmp_path):
    path, model = saved(tmp_path)
    run = load_run(path)
    assert run.classes == (3, 7)
    assert run.summary["test_accuracy"] == 0.5
    # a step's loss is the trainer's float32 number, kept exactly as float32
    assert run.steps[0].loss == float(torch.tensor(2.3, dtype=torch.float32))
    assert run.epochs[0].val_accuracy == 0.12
    images = torch.rand(5, 1, 28, 28)
    expected = torch.softmax(model((images - 0.1307) / 0.3081), dim=1)
    assert torch.allclose(run.predict_proba(images), expected, atol=1e-6)
    assert not run.model.training


def test_save_leaves_no_temporary_folder_and_refuses_duplicates(tmp_path):
    saved(tmp_path)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["20261124-000000-test-0001"]
    with pytest.raises(ValueError, match="already exists"):
        saved(tmp_path)


def test_list_runs_reads_summaries_newest_first(tmp_path):
    saved(tmp_path, "20261124-000000-a-0001")
    saved(tmp_path, "20261124-000001-b-0001")
    (tmp_path / "runs" / "not-a-run").mkdir()
    ids = [s["run_id"] for s in list_runs(tmp_path / "runs")]
    assert set(ids) == {"20261124-000000-a-0001", "20261124-000001-b-0001"}


def test_a_listed_summary_is_read_again_only_when_its_file_changed(tmp_path, monkeypatch):
    from core.runs import listing

    reads = []
    monkeypatch.setattr(listing, "read_summary", lambda d: reads.append(d) or read_summary(d))
    path, _ = saved(tmp_path, "20261124-000000-a-0001")
    summary = json.loads((path / "summary.json").read_text())
    (path / "summary.json").write_text(json.dumps({**summary, "classes": [3, 7]}))
    [first] = list_runs(tmp_path / "runs")
    first["name"], first["classes"][0] = "changed by a caller", 9  # a copy: the next list is not
    [again] = list_runs(tmp_path / "runs")
    assert again["name"] == "test" and again["classes"] == [3, 7]
    assert len(reads) == 1  # the second listing found the folder unchanged
    (path / "summary.json").write_text(json.dumps({**summary, "name": "renamed on disk"}))
    assert list_runs(tmp_path / "runs")[0]["name"] == "renamed on disk"
    assert len(reads) == 2


def test_export_then_import_round_trips(tmp_path):
    path, _ = saved(tmp_path)
    file = tmp_path / "run.digitlab.zip"
    export_run(path, file)
    run = import_run(file, tmp_path / "other-runs")
    original = load_run(path)
    assert run.spec == original.spec and run.config == original.config
    for key, value in original.model.state_dict().items():
        assert torch.equal(run.model.state_dict()[key], value)
    assert (tmp_path / "other-runs" / run.run_id / "model.safetensors").exists()


def test_importing_into_a_folder_that_has_a_different_run_of_that_id_keeps_both(tmp_path):
    path, _ = saved(tmp_path)
    data = export_run_bytes(path)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    summary = json.loads(files["summary.json"])
    summary["test_accuracy"] = 0.9
    files["summary.json"] = json.dumps(summary).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    run = import_run(io.BytesIO(buffer.getvalue()), tmp_path / "runs")
    assert run.run_id.startswith("20261124-000000-test-0001-imported-")
    assert len(list_runs(tmp_path / "runs")) == 2


def _archive(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    buffer.seek(0)
    return buffer


def _files_of(tmp_path) -> dict[str, bytes]:
    path, _ = saved(tmp_path)
    return {name: (path / name).read_bytes() for name in RUN_FILES}


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    with pytest.raises(InvalidRun, match="not a Digit Lab run file"):
        import_run(io.BytesIO(b"hello"), tmp_path / "runs")


def test_a_pickled_model_inside_the_archive_is_refused(tmp_path):
    files = _files_of(tmp_path)
    files["model.pt"] = b"\x80\x04cos\nsystem\n."
    with pytest.raises(InvalidRun, match="unexpected member 'model.pt'"):
        import_run(_archive(files), tmp_path / "elsewhere")


def test_weights_that_do_not_fit_the_spec_are_refused(tmp_path):
    files = _files_of(tmp_path)
    spec = json.loads(files["spec.json"])
    spec["dense"][0]["width"] = 16
    files["spec.json"] = json.dumps(spec).encode()
    with pytest.raises(InvalidRun, match="shape"):
        import_run(_archive(files), tmp_path / "elsewhere")


def test_corrupt_weights_and_invalid_settings_are_refused(tmp_path):
    files = _files_of(tmp_path)
    with pytest.raises(InvalidRun, match="safetensors"):
        import_run(_archive({**files, "model.safetensors": b"garbage"}), tmp_path / "elsewhere")
    config = json.loads(files["config.json"])
    config["lr"] = -1
    with pytest.raises(InvalidRun, match="lr"):
        import_run(
            _archive({**files, "config.json": json.dumps(config).encode()}), tmp_path / "elsewhere"
        )
    with pytest.raises(InvalidRun, match="missing"):
        import_run(_archive({"spec.json": files["spec.json"]}), tmp_path / "elsewhere")


def test_delete_removes_only_run_folders(tmp_path):
    path, _ = saved(tmp_path)
    with pytest.raises(InvalidRun):
        delete_run(tmp_path)
    delete_run(path)
    assert not path.exists()


def test_a_run_id_holding_a_path_is_refused_before_anything_is_written(tmp_path):
    for run_id in ("../escaped", "a/b", "/abs", "..", "ok\n", "x" * 129):
        with pytest.raises(InvalidRun, match="run_id"):
            saved(tmp_path, run_id)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_load_run_given_the_runs_folder_reads_only_its_folders(tmp_path):
    path, _ = saved(tmp_path)
    assert load_run(path, tmp_path / "runs").run_id == path.name
    with pytest.raises(InvalidRun, match="is not a run folder of"):
        load_run(path, tmp_path / "other-runs")


def test_list_runs_skips_a_leftover_temporary_folder(tmp_path):
    saved(tmp_path)
    (tmp_path / "runs" / ".tmp-20261124-000001-b-0001-abcdef").mkdir()
    assert [s["run_id"] for s in list_runs(tmp_path / "runs")] == ["20261124-000000-test-0001"]


def test_an_id_clash_on_import_keeps_the_new_id_within_bounds(tmp_path):
    long_id = "2" + "x" * 127
    path, _ = saved(tmp_path, long_id)
    files = {name: (path / name).read_bytes() for name in RUN_FILES}
    summary = json.loads(files["summary.json"])
    files["summary.json"] = json.dumps({**summary, "test_accuracy": 0.9}).encode()
    run = import_run(_archive(files), tmp_path / "runs")
    assert run.run_id.startswith(long_id[:100] + "-imported-") and len(run.run_id) <= 128
    assert run.path.parent == tmp_path / "runs"


def test_importing_the_same_file_twice_keeps_one_run(tmp_path):
    path, _ = saved(tmp_path)
    data = export_run_bytes(path)
    first = import_run(io.BytesIO(data), tmp_path / "other-runs")
    second = import_run(data, tmp_path / "other-runs")
    assert first.run_id == second.run_id and len(list_runs(tmp_path / "other-runs")) == 1


def test_a_runs_versions_name_torchvision_as_it_names_itself():
    import torchvision

    assert versions()["torchvision"] == torchvision.__version__
