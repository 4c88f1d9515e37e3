"""A run's replay: frames of its training kept in its folder, bounded, aligned, carried and checked."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data.mnist import make_task
from core.events import Checkpointed, Done, Failed
from core.runs.archive import export_run_bytes, import_run
from core.runs.listing import list_damaged_runs, list_runs
from core.runs.replay_files import REPLAY_FILES, Replay, replay_files
from core.runs.store import RUN_FILES, InvalidRun, load_run
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.presets import get_preset
from core.train.control import TrainControl
from core.train.replay import (
    EARLY_STEPS,
    MAX_FRAMES,
    PROBE_POINTS,
    REPLAY_DIGITS,
    ReplayRecorder,
    align_frames,
    choose_digits,
    plan_frames,
)
from core.train.run import JobRequest, attach_standard_callbacks, run_job
from core.train.trainer import Trainer
from tests.conftest import train_tiny_run

APP = str(Path(__file__).resolve().parent.parent / "app.py")
INSIDE = "views/6_Inside.py"
SIZE_TARGET = 2_000_000  # bytes a seed-mlp-128 replay may add to its run folder, at most
TINY = TrainConfig(epochs=2, train_fraction=0.05)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_dir) -> Path:
    """A real two-epoch run of the default network on 5% of the training set."""
    store = tmp_path_factory.mktemp("replay-runs")
    return train_tiny_run(store, data_dir, "tiny", ModelSpec(), TINY)


@pytest.fixture(scope="module")
def replay(tiny_run) -> Replay:
    return load_run(tiny_run).replay


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in (*RUN_FILES, *REPLAY_FILES)}


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content in files.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


def _edited(replay: Replay, **changes) -> dict[str, bytes]:
    fields = {**replay.__dict__, **changes}
    return replay_files(Replay(**fields))


# --- what a run records ----------------------------------------------------------------------


def test_a_run_keeps_frames_before_training_after_early_steps_and_at_each_epoch_end(
    tiny_run, replay
):
    run = load_run(tiny_run)
    epoch_ends = [e.step for e in run.epochs]
    early = [s for s in EARLY_STEPS if s < run.summary["steps"]]
    assert replay.steps == sorted({*early, *epoch_ends})
    assert replay.steps[0] == 0 and replay.epochs[0] == 0
    assert replay.steps[-1] == run.summary["steps"]  # the trained network is the last frame
    assert replay.epochs[replay.steps.index(epoch_ends[0])] == 1


def test_replay_frames_have_the_shapes_of_the_network_and_its_classes(replay):
    frames, k = len(replay), 10
    assert replay.weights.shape == (frames, 64, 28, 28)  # the first 64 of 128 units
    assert replay.weights.dtype == torch.int8 and replay.tiles_total == 128
    assert replay.coords.shape == (frames, PROBE_POINTS, 2)
    assert replay.confusion.shape == (frames, k, k)
    assert replay.probabilities.shape == (frames, REPLAY_DIGITS, k)
    assert replay.digits.shape == (REPLAY_DIGITS, 28, 28)
    assert (replay.confusion.sum(dim=(1, 2)) == PROBE_POINTS).all()


def test_each_digits_probabilities_sum_to_one_in_every_frame(replay):
    sums = replay.probabilities.float().sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-2)


def test_successive_frames_are_turned_to_match_not_flipped(replay):
    coords = replay.coords.float()
    for before, after in zip(coords[:-1], coords[1:]):
        assert (before * after).sum() > 0  # a flipped or swapped axis would make this negative


def test_the_network_learns_across_the_frames(replay):
    assert replay.accuracy(len(replay) - 1) > replay.accuracy(0) + 0.3


def test_dequantised_weights_match_the_trained_first_layer(tiny_run, replay):
    trained = load_run(tiny_run).model[1].weight.detach().reshape(-1, 28, 28)[:64]
    last = replay.frame_weights(len(replay) - 1)
    assert (last - trained).abs().max() <= trained.abs().max() / 127


def test_recording_a_replay_does_not_change_the_training(mnist):
    task = make_task(mnist, train_fraction=0.02)
    spec, config = get_preset("best-mlp").fresh()  # dropout and batch norm: eval mode matters
    config.epochs, config.device = 1, "cpu"
    weights = []
    for probes in (False, True):
        trainer = attach_standard_callbacks(Trainer(spec, config, task), probes=probes)
        assert (ReplayRecorder.of(trainer) is not None) == probes
        weights.append(trainer.run().model.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


# --- which frames, which digits, which orientation ------------------------------------------


def test_long_runs_are_thinned_evenly_to_the_frame_cap_keeping_the_last_epoch():
    early, epochs = plan_frames(total_steps=844 * 200, steps_per_epoch=844)
    assert len(early) + len(epochs) < MAX_FRAMES  # one spare for a run stopped early
    assert {1, 200} <= epochs
    gaps = {b - a for a, b in zip(sorted(epochs), sorted(epochs)[1:])}
    assert max(gaps) - min(gaps) <= 1


def test_short_runs_keep_every_epoch_and_only_the_early_steps_they_reach():
    early, epochs = plan_frames(total_steps=60, steps_per_epoch=30)
    assert early == {0, 10, 25, 50} and epochs == {1, 2}


def test_the_replay_digits_are_the_same_for_every_run_and_take_each_class_in_turn(mnist):
    labels = make_task(mnist).test.labels
    probes, digits = choose_digits(labels, 10)
    again = choose_digits(labels, 10)
    assert torch.equal(probes, again[0]) and torch.equal(digits, again[1])
    assert len(probes) == PROBE_POINTS and len(set(probes.tolist())) == PROBE_POINTS
    assert labels[digits].tolist() == [*range(10), *range(6)]


def test_alignment_undoes_a_rotation_and_a_flip_between_frames():
    torch.manual_seed(0)
    last = torch.randn(200, 2) * torch.tensor([3.0, 1.0])
    angle = torch.tensor(0.9)
    turn = torch.tensor([[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]])
    flipped = (last @ turn) * torch.tensor([-1.0, 1.0]) * 5.0  # turned, mirrored, scaled
    aligned = align_frames(torch.stack([flipped, last]))
    assert torch.allclose(aligned[0], aligned[1], atol=1e-5)
    spread = aligned.pow(2).sum(-1).mean(-1)
    assert torch.allclose(spread, torch.ones(2))


# --- size --------------------------------------------------------------------------------------


def test_a_full_replay_of_seed_mlp_128_adds_at_most_two_megabytes(tmp_path, data_dir):
    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction = 1, 0.1  # the network's shapes, a tenth of the data
    replay = load_run(train_tiny_run(tmp_path, data_dir, "seed", spec, config)).replay
    assert replay.tiles_total == 128
    per_frame = {
        name: getattr(replay, name)
        for name in ("weights", "weight_scales", "coords", "explained", "confusion")
    }
    repeat = torch.arange(MAX_FRAMES) % len(replay)
    full = Replay(
        **{
            **replay.__dict__,
            **{name: values[repeat] for name, values in per_frame.items()},
            "probabilities": replay.probabilities[repeat],
            "steps": list(range(MAX_FRAMES)),
            "epochs": [0] * MAX_FRAMES,
        }
    )
    assert full.nbytes() <= SIZE_TARGET, f"{full.nbytes():,} bytes for {MAX_FRAMES} frames"


# --- old runs, export and import -------------------------------------------------------------


def _old_copy(tiny_run: Path, runs_dir: Path) -> Path:
    folder = runs_dir / tiny_run.name
    shutil.copytree(tiny_run, folder)
    for name in REPLAY_FILES:
        (folder / name).unlink()
    return folder


def test_a_run_saved_before_replays_loads_without_one(tiny_run, isolated_folders):
    folder = _old_copy(tiny_run, isolated_folders)
    assert load_run(folder).replay is None
    assert [s["run_id"] for s in list_runs(isolated_folders)] == [tiny_run.name]
    assert list_damaged_runs(isolated_folders) == []
    imported = import_run(export_run_bytes(folder), isolated_folders / "elsewhere")
    assert imported.replay is None


def test_an_exported_run_carries_its_replay_through_import(tiny_run, replay, tmp_path):
    with zipfile.ZipFile(io.BytesIO(export_run_bytes(tiny_run))) as archive:
        assert set(REPLAY_FILES) <= set(archive.namelist())
    imported = import_run(export_run_bytes(tiny_run), tmp_path / "runs")
    assert imported.replay.steps == replay.steps
    for name in ("weights", "coords", "confusion", "probabilities", "digits"):
        assert torch.equal(getattr(imported.replay, name), getattr(replay, name)), name
    assert load_run(imported.path).replay.probe_indices == replay.probe_indices


@pytest.mark.usefixtures("checkpoint_every_epoch")
def test_a_resumed_run_keeps_the_frames_from_before_its_checkpoint(data_dir, tmp_path):
    spec, config = get_preset("best-mlp").fresh()
    config.epochs, config.train_fraction, config.device = 2, 0.05, "cpu"

    def request(run_id: str, resume: bool = False) -> JobRequest:
        return JobRequest(run_id, run_id, spec, config, str(data_dir), str(tmp_path), resume=resume)

    run_job(request("whole"), lambda e: None, TrainControl())

    def crash(event) -> None:
        if isinstance(event, Checkpointed):
            raise RuntimeError("killed")

    events = []
    run_job(request("halves"), lambda e: (events.append(e), crash(e)), TrainControl())
    assert isinstance(events[-1], Failed)
    interrupted = load_run(tmp_path / "halves")
    assert interrupted.replay.steps[-1] == interrupted.epochs[0].step  # its checkpoint's frame
    finished = []
    run_job(request("halves", resume=True), finished.append, TrainControl())
    assert isinstance(finished[-1], Done)
    whole, halves = load_run(tmp_path / "whole").replay, load_run(tmp_path / "halves").replay
    assert halves.steps == whole.steps
    assert torch.equal(halves.confusion, whole.confusion)
    assert torch.equal(halves.weights, whole.weights)
    assert torch.allclose(halves.coords.float(), whole.coords.float(), atol=2e-2)


# --- hostile replay files --------------------------------------------------------------------


def _refused(files: dict[str, bytes], tmp_path: Path, match: str) -> None:
    with pytest.raises(InvalidRun, match=match):
        import_run(_archive(files), tmp_path / "runs")
    assert list_runs(tmp_path / "runs") == []


def test_a_replay_json_that_is_not_json_is_refused(tiny_run, tmp_path):
    files = {**_files(tiny_run), "replay.json": b"{not json"}
    _refused(files, tmp_path, "replay.json is not valid JSON")


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("steps", [5, 3], "increasing step numbers"),
        ("steps", list(range(MAX_FRAMES + 1)), "increasing step numbers"),
        ("probe_indices", [1, 2, 10_000], "test digit positions"),
        ("tiles_total", 64, "not the first layer's 128 units"),
        ("format_version", 99, "format_version"),
        ("shell", "rm -rf /", "not a field of a replay"),
    ],
)
def test_replay_json_fields_out_of_range_are_refused(tiny_run, tmp_path, field, value, says):
    files = _files(tiny_run)
    meta = {**json.loads(files["replay.json"]), field: value}
    _refused({**files, "replay.json": json.dumps(meta).encode()}, tmp_path, says)


def test_replay_tensors_of_the_wrong_shape_are_refused(tiny_run, replay, tmp_path):
    wrong = _edited(replay, coords=replay.coords[:, :10])
    _refused({**_files(tiny_run), **wrong}, tmp_path, r"coords is F16 .* expected F16")


def test_replay_tensors_that_do_not_fit_the_network_are_refused(tiny_run, replay, tmp_path):
    wrong = _edited(replay, weights=replay.weights[:, :, :5, :5].contiguous())
    _refused({**_files(tiny_run), **wrong}, tmp_path, "weights is I8")


def test_replay_values_out_of_range_are_refused(tiny_run, replay, tmp_path):
    labels = replay.labels.clone()
    labels[0] = 11
    _refused({**_files(tiny_run), **_edited(replay, labels=labels)}, tmp_path, "class indices")
    coords = replay.coords.clone()
    coords[0, 0, 0] = float("nan")
    _refused({**_files(tiny_run), **_edited(replay, coords=coords)}, tmp_path, "finite")


def test_half_a_replay_is_refused(tiny_run, tmp_path):
    files = _files(tiny_run)
    del files["replay.safetensors"]
    _refused(files, tmp_path, "replay.json without replay.safetensors")


def test_an_oversized_replay_is_refused_before_it_is_read(tiny_run, tmp_path):
    files = {**_files(tiny_run), "replay.safetensors": b"\0" * (17 * 2**20)}
    _refused(files, tmp_path, "replay.safetensors unpacks to")


def test_a_folder_with_a_damaged_replay_is_listed_as_damaged(tiny_run, isolated_folders):
    folder = isolated_folders / tiny_run.name
    shutil.copytree(tiny_run, folder)
    (folder / "replay.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{}")
    damaged = list_damaged_runs(isolated_folders)
    assert [d["run_id"] for d in damaged] == [tiny_run.name]
    assert "replay.safetensors" in damaged[0]["damaged"]
    with pytest.raises(InvalidRun, match="replay.safetensors"):
        load_run(folder)


# --- the Inside page -----------------------------------------------------------------------


def _inside() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page(INSIDE).run()


def test_the_inside_page_replays_a_run_with_a_timeline(tiny_run, replay, isolated_folders):
    shutil.copytree(tiny_run, isolated_folders / tiny_run.name)
    at = _inside()
    assert not at.exception, at.exception
    assert "Replay training" in [h.value for h in at.header]
    frames = at.select_slider(key="inside-replay-frame")
    assert frames.value == len(replay) - 1  # the trained network first
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    animated = [f for f in figures if f.get("frames")]
    assert len(animated) == 1 and len(animated[0]["frames"]) == len(replay)
    assert animated[0]["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"
    frames.set_value(0).run()
    assert not at.exception, at.exception
    assert at.select_slider(key="inside-replay-frame").value == 0
    confusion = next(m.value for m in at.markdown if "Confusion matrix" in m.value)
    assert f"{replay.accuracy(0):.0%} of the {PROBE_POINTS}" in confusion


def test_the_inside_page_says_when_a_run_has_no_replay(tiny_run, isolated_folders):
    _old_copy(tiny_run, isolated_folders)
    at = _inside()
    assert not at.exception, at.exception
    assert "saved before replays were recorded" in "\n".join(i.value for i in at.info)
    assert "First-layer weights" in [h.value for h in at.header]  # the rest of the page draws
