"""The run store: every finished or stopped run as a folder of JSON and safetensors, never pickles."""

from __future__ import annotations

import io
import json
import os
import platform
import re
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from core.config import TrainConfig, check_compatible
from core.evaluation import predict_proba
from core.models import ModelSpec, build

DEFAULT_RUNS_DIR = "./runs"
RUNS_ENV = "DIGITLAB_RUNS"
FORMAT_VERSION = 1
RUN_FILES = ("spec.json", "config.json", "summary.json", "metrics.json", "model.safetensors")
EXPORT_SUFFIX = ".digitlab.zip"
MAX_MEMBER_BYTES = {"model.safetensors": 512 * 2**20}
MAX_JSON_BYTES = 64 * 2**20
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class InvalidRun(ValueError):
    """A folder or file is not a valid Digit Lab run; the message says why."""


def resolve_runs_dir(override: str | os.PathLike | None = None) -> Path:
    """Return the runs folder: the override, else $DIGITLAB_RUNS, else ./runs."""
    return Path(override or os.environ.get(RUNS_ENV) or DEFAULT_RUNS_DIR).expanduser()


def new_run_id(name: str) -> str:
    """Return a fresh, sortable, filesystem-safe run id such as 20261124-213000-small-cnn-3fa2."""
    safe = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"


def versions() -> dict[str, str]:
    """Return the versions that produced a run."""
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }


def _columns(rows: list[dict], keys: tuple[str, ...]) -> dict[str, list]:
    return {key: [row.get(key) for row in rows] for key in keys}


def _rows(columns: dict[str, list]) -> list[dict]:
    keys = list(columns)
    return [dict(zip(keys, values)) for values in zip(*(columns[k] for k in keys))] if keys else []


STEP_KEYS = ("step", "epoch", "loss", "lr", "samples_per_s")
EPOCH_KEYS = (
    "epoch",
    "step",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "seconds",
    "complete",
)


@dataclass
class Run:
    """A saved run: what was trained, how, how well, and the trained model."""

    run_id: str
    spec: ModelSpec
    config: TrainConfig
    summary: dict
    model: nn.Module  # on the CPU, in eval mode
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    path: Path | None = None

    @property
    def classes(self) -> tuple[int, ...]:
        """Return the digits this run tells apart, in output order."""
        return tuple(self.config.classes)

    @property
    def name(self) -> str:
        """Return the preset name or 'custom'."""
        return str(self.summary.get("name", "custom"))

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Return (N, len(classes)) probabilities for (N, 1, 28, 28) images with pixels in [0, 1]."""
        return predict_proba(self.model, images, self.config.normalization, self.spec.output)


def _json_bytes(value) -> bytes:
    return json.dumps(value, indent=2, allow_nan=True).encode()


def _run_payload(spec, config, summary, steps, epochs, model) -> dict[str, bytes]:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return {
        "spec.json": _json_bytes(spec.to_dict()),
        "config.json": _json_bytes(config.to_dict()),
        "summary.json": _json_bytes({"format_version": FORMAT_VERSION, **summary}),
        "metrics.json": _json_bytes(
            {"steps": _columns(steps, STEP_KEYS), "epochs": _columns(epochs, EPOCH_KEYS)}
        ),
        "model.safetensors": save_safetensors_bytes(state),
    }


def _write_folder(target: Path, payload: dict[str, bytes]) -> Path:
    """Write the files into a hidden temp folder, then rename it into place in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{secrets.token_hex(3)}"
    tmp.mkdir()
    try:
        for name, data in payload.items():
            (tmp / name).write_bytes(data)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def save_run(
    runs_dir: str | os.PathLike | None,
    run_id: str,
    spec: ModelSpec,
    config: TrainConfig,
    model: nn.Module,
    summary: dict,
    steps: list[dict],
    epochs: list[dict],
) -> Path:
    """Save a run atomically under runs_dir/run_id and return its folder."""
    if not RUN_ID_PATTERN.match(run_id):
        raise ValueError(f"run_id: {run_id!r} may only hold letters, digits, '.', '_' and '-'")
    target = resolve_runs_dir(runs_dir) / run_id
    if target.exists():
        raise ValueError(f"run_id: a run named {run_id!r} already exists in {target.parent}")
    payload = _run_payload(spec, config, {"run_id": run_id, **summary}, steps, epochs, model)
    return _write_folder(target, payload)


def _parse_json(name: str, data: bytes) -> dict:
    if len(data) > MAX_JSON_BYTES:
        raise InvalidRun(f"{name} is larger than {MAX_JSON_BYTES // 2**20} MiB")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRun(f"{name} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidRun(f"{name} must hold a JSON object")
    return value


def run_from_files(files: dict[str, bytes], path: Path | None = None) -> Run:
    """Return a Run from its five files' bytes, refusing anything that is not a valid run."""
    missing = [name for name in RUN_FILES if name not in files]
    if missing:
        raise InvalidRun(f"not a Digit Lab run: missing {', '.join(missing)}")
    summary = _parse_json("summary.json", files["summary.json"])
    if summary.get("format_version") != FORMAT_VERSION:
        raise InvalidRun(
            f"summary.json: format_version {summary.get('format_version')!r} is not {FORMAT_VERSION}"
        )
    try:
        spec = ModelSpec.from_dict(_parse_json("spec.json", files["spec.json"]))
        config = TrainConfig.from_dict(_parse_json("config.json", files["config.json"]))
        check_compatible(spec, config)
    except (TypeError, ValueError) as exc:
        raise InvalidRun(f"not a valid Digit Lab run: {exc}") from exc
    metrics = _parse_json("metrics.json", files["metrics.json"])
    try:
        state = load_safetensors_bytes(files["model.safetensors"])
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise InvalidRun(f"model.safetensors is not a valid safetensors file ({exc})") from exc
    model = build(spec)
    expected = model.state_dict()
    if set(state) != set(expected):
        raise InvalidRun("model.safetensors does not hold the weights of the network in spec.json")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise InvalidRun(
                f"model.safetensors: {key} has shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
    model.load_state_dict(state)
    run_id = str(summary.get("run_id", ""))
    if not RUN_ID_PATTERN.match(run_id):
        raise InvalidRun(f"summary.json: run_id {run_id!r} is not a valid run id")
    return Run(
        run_id=run_id,
        spec=spec,
        config=config,
        summary=summary,
        model=model.eval(),
        steps=_rows(metrics.get("steps", {})),
        epochs=_rows(metrics.get("epochs", {})),
        path=path,
    )


def load_run(run_dir: str | os.PathLike) -> Run:
    """Return the run saved in run_dir, with its model in eval mode on the CPU."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InvalidRun(f"{run_dir} is not a run folder")
    files = {
        name: (run_dir / name).read_bytes() for name in RUN_FILES if (run_dir / name).is_file()
    }
    return run_from_files(files, run_dir)


def read_summary(run_dir: Path) -> dict | None:
    """Return a run folder's summary without loading its model, or None if it has none."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[dict]:
    """Return the summaries of all saved runs, newest first (each with its 'path')."""
    root = resolve_runs_dir(runs_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.name.startswith(".") or not child.is_dir():
            continue
        summary = read_summary(child)
        if summary is not None:
            found.append({**summary, "path": str(child)})
    return sorted(
        found, key=lambda s: (str(s.get("created", "")), s.get("run_id", "")), reverse=True
    )


def delete_run(run_dir: str | os.PathLike) -> None:
    """Delete a run folder (only if it looks like a run)."""
    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").is_file():
        raise InvalidRun(f"{run_dir} is not a run folder")
    shutil.rmtree(run_dir)


def export_run(run_dir: str | os.PathLike, file: str | os.PathLike | io.BytesIO) -> None:
    """Write a run folder as one zip file that import_run reads back."""
    run = load_run(run_dir)  # refuse to export something that would not import
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in RUN_FILES:
            archive.write(Path(run.path) / name, arcname=name)


def export_run_bytes(run_dir: str | os.PathLike) -> bytes:
    """Return a run as the bytes of one exported file."""
    buffer = io.BytesIO()
    export_run(run_dir, buffer)
    return buffer.getvalue()


def _read_archive(file) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidRun(f"not a Digit Lab run file: {exc}") from exc
    with archive:
        files = {}
        for info in archive.infolist():
            if info.filename not in RUN_FILES:
                raise InvalidRun(f"not a Digit Lab run file: unexpected member {info.filename!r}")
            limit = MAX_MEMBER_BYTES.get(info.filename, MAX_JSON_BYTES)
            if info.file_size > limit:
                raise InvalidRun(f"{info.filename} is larger than {limit // 2**20} MiB")
            files[info.filename] = archive.read(info)
    return files


def import_run(
    file: str | os.PathLike | io.BytesIO, runs_dir: str | os.PathLike | None = None
) -> Run:
    """Check an exported run file and save it into the runs folder; return the loaded run."""
    files = _read_archive(file)
    run = run_from_files(files)
    root = resolve_runs_dir(runs_dir)
    target = root / run.run_id
    if target.exists():
        existing = {n: (target / n).read_bytes() for n in RUN_FILES if (target / n).is_file()}
        if existing == files:
            run.path = target
            return run
        run.run_id = f"{run.run_id}-imported-{secrets.token_hex(2)}"
        run.summary = {**run.summary, "run_id": run.run_id}
        files = {**files, "summary.json": _json_bytes(run.summary)}
        target = root / run.run_id
    run.path = _write_folder(target, files)
    return run
