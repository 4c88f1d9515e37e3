"""The run store: every run as a folder of JSON and safetensors; a run saved mid-training also
keeps a checkpoint.pt (torch.save), read back only with torch.load(weights_only=True)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import platform
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from core.analysis.calibration import temper
from core.analysis.evaluation import predict_proba
from core.analysis.probes import weighted_layers
from core.events import EpochEnded, SettingsChanged, Step, StepColumns
from core.runs.atomic import write_folder
from core.runs.metrics_file import metrics_bytes, metrics_events, metrics_tables
from core.runs.replay_files import REPLAY_FILES, Replay, read_replay, replay_files
from core.runs.schema import (
    FORMAT_VERSION,
    RUN_ID_PATTERN,
    InvalidRun,
    check_metrics,
    check_summary,
    weights_header,
)
from core.runs.uploads import MiB
from core.spec.budget import check_loadable, memory_limit
from core.spec.compatible import check_compatible
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec, build

DEFAULT_RUNS_DIR = "./runs"
RUNS_ENV = "DIGITLAB_RUNS"
logger = logging.getLogger(__name__)
SUMMARY_FILE = "summary.json"  # what a run says of itself; read_summary() reads it
RUN_FILES = ("spec.json", "config.json", SUMMARY_FILE, "metrics.json", "model.safetensors")
# beside the run files of a run saved mid-training: what continuing it needs (never exported)
CHECKPOINT_FILE = "checkpoint.pt"
# what each member of an exported run may unpack to: the settings files are a few kilobytes
MAX_MEMBER_BYTES = {
    "spec.json": MiB,
    "config.json": MiB,
    "summary.json": MiB,
    "metrics.json": 64 * MiB,
    "model.safetensors": 512 * MiB,
    # optional: runs saved before replays were recorded have neither (core.train.replay)
    "replay.json": MiB,
    "replay.safetensors": 16 * MiB,  # a full replay of the widest first layer is about 2 MiB
}
MAX_JSON_BYTES = 64 * MiB
# the safetensors names of the dtypes a network built by core.spec.models holds
SAFETENSORS_DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def resolve_runs_dir(override: str | os.PathLike | None = None) -> Path:
    """Return the runs folder: the override, else $DIGITLAB_RUNS, else ./runs."""
    return Path(override or os.environ.get(RUNS_ENV) or DEFAULT_RUNS_DIR).expanduser()


def run_folder(runs_dir: str | os.PathLike | None, run_id: str) -> Path:
    """Return the folder of run_id in the runs folder, refusing an id that names a path elsewhere."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidRun(
            f"run_id: {str(run_id)[:80]!r} may only hold letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return resolve_runs_dir(runs_dir) / run_id


def _inside(run_dir: str | os.PathLike, runs_dir: str | os.PathLike | None) -> Path:
    run_dir = Path(run_dir)
    root = resolve_runs_dir(runs_dir).resolve()
    # resolved, so that neither "..", nor a symlink, leads out of the runs folder
    if run_dir.resolve().parent != root:
        raise InvalidRun(f"{run_dir} is not a run folder of {root}")
    return run_dir


def new_run_id(name: str) -> str:
    """Return a fresh, sortable, filesystem-safe run id such as 20261124-213000-small-cnn-3fa2."""
    safe = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"


def versions() -> dict[str, str]:
    """Return the versions that produced a run."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision_version(),
    }


def torchvision_version() -> str:
    """Return torchvision's version as torchvision.__version__ gives it, without importing it."""
    # importing torchvision pulls in torch._dynamo: 1.6 CPU-seconds here in a process that saves
    # a run without training one (an imported state dict); its version.py holds the version
    # with its local part (+cu130), which the package's metadata leaves out
    spec = importlib.util.find_spec("torchvision")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        version_file = Path(folder) / "version.py"
        if version_file.is_file():
            found = re.search(
                r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", version_file.read_text(), re.M
            )
            if found:
                return found.group(1)
    try:
        return importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass
class Run:
    """A saved run: what was trained, how, how well, and the trained model."""

    run_id: str
    spec: ModelSpec
    config: TrainConfig
    summary: dict
    model: nn.Module  # on the CPU, in eval mode
    steps: StepColumns = field(default_factory=StepColumns)  # read like a list of Step
    epochs: list[EpochEnded] = field(default_factory=list)
    path: Path | None = None
    settings_changes: list[SettingsChanged] = field(default_factory=list)
    replay: Replay | None = None  # snapshots taken while it trained; None for older runs

    @property
    def classes(self) -> tuple[int, ...]:
        """Return the digits this run tells apart, in output order."""
        return tuple(self.config.classes)

    @property
    def name(self) -> str:
        """Return the preset name or 'custom'."""
        return str(self.summary.get("name", "custom"))

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Return (N, len(classes)) probabilities for (N, 1, 28, 28) images with pixels in [0, 1],
        tempered by the run's calibration (core.analysis.calibration; runs without one: as is)."""
        raw = predict_proba(self.model, images, self.config.normalization, self.spec.output)
        return temper(raw, float(self.summary.get("temperature", 1.0)))


def json_bytes(value) -> bytes:
    """Return a small JSON file's bytes, indented for a person who opens it."""
    return json.dumps(value, indent=2, allow_nan=True).encode()


def _run_payload(
    spec, config, summary, steps, epochs, model, settings_changes=(), replay=None
) -> dict:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metrics = metrics_tables(steps, epochs, settings_changes)
    payload = {
        "spec.json": json_bytes(spec.to_dict()),
        "config.json": json_bytes(config.to_dict()),
        "summary.json": json_bytes({"format_version": FORMAT_VERSION, **summary}),
        "metrics.json": metrics_bytes(metrics),
        "model.safetensors": save_safetensors_bytes(state),
    }
    if replay is not None:
        payload.update(replay_files(replay))
    return payload


def save_run(
    runs_dir: str | os.PathLike | None,
    run_id: str,
    spec: ModelSpec,
    config: TrainConfig,
    model: nn.Module,
    summary: dict,
    steps: list[Step],
    epochs: list[EpochEnded],
    checkpoint: bytes | None = None,
    replace: bool = False,
    settings_changes: list[SettingsChanged] = (),
    replay: Replay | None = None,
) -> Path:
    """Save a run atomically under runs_dir/run_id and return its folder.

    checkpoint: the training state to continue from (core.train), kept beside the run files.
    replace: swap out the folder's earlier save (a job's own checkpoint).
    settings_changes: the rate and momentum changes made while it trained.
    replay: the snapshots taken while it trained (core.train.replay).
    """
    target = run_folder(runs_dir, run_id)
    if target.exists() and not replace:
        raise ValueError(f"run_id: a run named {run_id!r} already exists in {target.parent}")
    payload = _run_payload(
        spec,
        config,
        {"run_id": run_id, **summary},
        steps,
        epochs,
        model,
        settings_changes,
        replay,
    )
    if checkpoint is not None:
        payload[CHECKPOINT_FILE] = checkpoint
    return write_folder(target, payload, replace=replace)


def load_checkpoint(
    run_dir: Path, device: torch.device
) -> tuple[dict, list[Step], list[EpochEnded]]:
    """Return the training state saved in a run folder, and the metrics saved with it."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise InvalidRun(f"{Path(run_dir).name} has no checkpoint to continue from")
    # weights_only: a checkpoint holds tensors, numbers and dicts, and nothing may run on load
    state = torch.load(path, map_location=device, weights_only=True)
    run = load_run(run_dir)
    return state, run.steps, run.epochs


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Return whether a run folder can be continued (it was saved mid-training)."""
    return (Path(run_dir) / CHECKPOINT_FILE).is_file()


def _parse_json(name: str, data: bytes) -> dict:
    if len(data) > MAX_JSON_BYTES:
        raise InvalidRun(f"{name} is larger than {MAX_JSON_BYTES // 2**20} MiB")
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError as exc:  # bad UTF-8 or JSON, or an integer of more than 4,300 digits
        raise InvalidRun(f"{name} is not valid JSON ({str(exc)[:120]})") from exc
    except RecursionError as exc:  # a few kilobytes of "[[[[..." nest deeper than Python's stack
        raise InvalidRun(f"{name} nests too deeply to be a Digit Lab file") from exc
    if not isinstance(value, dict):
        raise InvalidRun(f"{name} must hold a JSON object")
    return value


def check_files(
    files: dict[str, bytes], weights: dict[str, tuple[str, tuple[int, ...]]]
) -> tuple[dict, ModelSpec, TrainConfig, dict]:
    """Return a run's summary, spec, config and metrics, refusing anything that is not valid.

    Everything short of reading the tensors: import and the damage scan both call this, so a
    folder the scan lists as a run loads, and one it lists as damaged would not have imported.
    weights: each tensor's dtype and shape, from the header of model.safetensors.
    """
    summary = check_summary(_parse_json("summary.json", files["summary.json"]))
    try:
        spec = ModelSpec.from_dict(_parse_json("spec.json", files["spec.json"]))
        config = TrainConfig.from_dict(_parse_json("config.json", files["config.json"]))
        check_compatible(spec, config)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # a hand-edited file can hold any JSON value where a field is expected
        raise InvalidRun(f"not a valid Digit Lab run: {exc}") from exc
    metrics = check_metrics(_parse_json("metrics.json", files["metrics.json"]))
    if "classes" in summary and summary["classes"] != list(config.classes):
        raise InvalidRun(
            f"summary.json: classes: {summary['classes']} are not config.json's "
            f"classes {list(config.classes)}"
        )
    limit = memory_limit()  # outside the try: a wrong setting of the server is not the file's fault
    try:
        check_loadable(spec, limit)
    except ValueError as exc:
        raise InvalidRun(f"spec.json: too large to load on this server: {exc}") from exc
    _check_weights(weights, spec)
    return summary, spec, config, metrics


def _check_weights(found: dict[str, tuple[str, tuple[int, ...]]], spec: ModelSpec) -> None:
    with torch.device("meta"):  # shapes without storage: the network is never allocated
        expected = {
            key: (SAFETENSORS_DTYPES.get(t.dtype, str(t.dtype)), tuple(t.shape))
            for key, t in build(spec).state_dict().items()
        }
    if set(found) != set(expected):
        raise InvalidRun("model.safetensors does not hold the weights of the network in spec.json")
    for key, (wanted_dtype, wanted_shape) in expected.items():  # in the network's order
        dtype, shape = found[key]
        if shape != wanted_shape:
            raise InvalidRun(f"model.safetensors: {key} has shape {shape}, expected {wanted_shape}")
        if dtype != wanted_dtype:
            raise InvalidRun(f"model.safetensors: {key} is {dtype}, expected {wanted_dtype}")


def first_layer_shape(spec: ModelSpec) -> tuple[int, ...]:
    """Return the weight shape of the network's first weighted layer (its replay's tiles)."""
    with torch.device("meta"):  # its shape only: the network is never allocated
        return tuple(weighted_layers(build(spec))[0].weight.shape)


def replay_meta(files: dict[str, bytes], has_tensors: bool) -> dict | None:
    """Return replay.json parsed, or None for a run without a replay; both files or neither."""
    has_meta = "replay.json" in files
    if has_meta != has_tensors:
        have, lack = REPLAY_FILES if has_meta else REPLAY_FILES[::-1]
        raise InvalidRun(f"{have} without {lack}: a run's replay needs both files")
    return _parse_json("replay.json", files["replay.json"]) if has_meta else None


def _load_replay(files: dict[str, bytes], spec: ModelSpec, config: TrainConfig) -> Replay | None:
    meta = replay_meta(files, "replay.safetensors" in files)
    if meta is None:
        return None
    return read_replay(
        meta, files["replay.safetensors"], len(config.classes), first_layer_shape(spec)
    )


def run_from_files(files: dict[str, bytes], path: Path | None = None) -> Run:
    """Return a Run from its five files' bytes, refusing anything that is not a valid run.

    Every check, the memory budget and the weights' header against the network included, runs
    before a real tensor is made: a small file cannot make the server build a huge network.
    """
    missing = [name for name in RUN_FILES if name not in files]
    if missing:
        raise InvalidRun(f"not a Digit Lab run: missing {', '.join(missing)}")
    weights = files["model.safetensors"]
    header = weights_header(io.BytesIO(weights), len(weights))
    summary, spec, config, metrics = check_files(files, header)
    replay = _load_replay(files, spec, config)  # bounded: its shapes follow the network's
    try:
        state = load_safetensors_bytes(weights)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise InvalidRun(f"model.safetensors is not a valid safetensors file ({exc})") from exc
    model = build(spec)
    model.load_state_dict(state)
    steps, epochs, settings_changes = metrics_events(metrics)
    return Run(
        run_id=summary["run_id"],
        spec=spec,
        config=config,
        summary=summary,
        model=model.eval(),
        steps=steps,
        epochs=epochs,
        path=path,
        settings_changes=settings_changes,
        replay=replay,
    )


def load_run(run_dir: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> Run:
    """Return the run saved in run_dir (when runs_dir is given, only one of its folders)."""
    run_dir = Path(run_dir) if runs_dir is None else _inside(run_dir, runs_dir)
    if not run_dir.is_dir():
        raise InvalidRun(f"{run_dir} is not a run folder")
    files = {
        name: (run_dir / name).read_bytes() for name in RUN_FILES if (run_dir / name).is_file()
    }
    for name in REPLAY_FILES:  # optional, and size-checked before a byte is read
        if (run_dir / name).is_file():
            if (run_dir / name).stat().st_size > MAX_MEMBER_BYTES[name]:
                raise InvalidRun(f"{name} is larger than {MAX_MEMBER_BYTES[name] // MiB} MiB")
            files[name] = (run_dir / name).read_bytes()
    return run_from_files(files, run_dir)


def read_summary(run_dir: Path) -> dict | None:
    """Return a run folder's summary without loading its model, or None if it has none."""
    try:
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def delete_run(run_dir: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> None:
    """Delete a run folder of the runs folder, damaged or not, if it holds nothing but run files."""
    run_dir = _inside(run_dir, runs_dir)
    if run_dir.is_symlink() or not run_dir.is_dir():
        raise InvalidRun(f"{run_dir} is not a run folder")
    names = {child.name for child in run_dir.iterdir()}
    allowed = {*RUN_FILES, *REPLAY_FILES, CHECKPOINT_FILE}
    if not names <= allowed:
        raise InvalidRun(f"{run_dir} holds more than a run: {', '.join(sorted(names - allowed))}")
    shutil.rmtree(run_dir)
