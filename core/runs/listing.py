"""Which runs a folder holds, and which of them are damaged: a scan that reads each run's
summary, remembers what it found per folder state, and never loads a model."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core.runs.atomic import is_temporary, recover_replaced
from core.runs.replay_files import (
    REPLAY_FILES,
    check_replay_header,
)
from core.runs.schema import (
    InvalidRun,
    weights_header,
)
from core.runs.store import (
    MAX_MEMBER_BYTES,
    RUN_FILES,
    check_files,
    first_layer_shape,
    read_summary,
    replay_meta,
    resolve_runs_dir,
)
from core.runs.uploads import MiB
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec

logger = logging.getLogger(__name__)


def _find_damage(run_dir: Path) -> str | None:
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        files = {
            name: (run_dir / name).read_bytes() for name in RUN_FILES if name.endswith(".json")
        }
        with open(run_dir / "model.safetensors", "rb") as weights:  # its header only
            header = weights_header(weights, os.fstat(weights.fileno()).st_size)
        _, spec, config, _ = check_files(files, header)
        _find_replay_damage(run_dir, spec, config)
    except InvalidRun as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except Exception as exc:  # one odd folder must never stop the list of everyone's runs
        logger.exception("checking the run folder %s failed", run_dir)
        return f"cannot be checked ({type(exc).__name__})"
    return None


def _find_replay_damage(run_dir: Path, spec: ModelSpec, config: TrainConfig) -> None:
    """Check a folder's replay files as loading would, reading only replay.safetensors' header."""
    tensors = run_dir / "replay.safetensors"
    files = {}
    if (run_dir / "replay.json").is_file():
        files["replay.json"] = (run_dir / "replay.json").read_bytes()
    meta = replay_meta(files, tensors.is_file())
    if meta is None:
        return
    size = tensors.stat().st_size
    if size > MAX_MEMBER_BYTES["replay.safetensors"]:
        raise InvalidRun(
            f"replay.safetensors is larger than {MAX_MEMBER_BYTES['replay.safetensors'] // MiB} MiB"
        )
    with open(tensors, "rb") as file:
        check_replay_header(meta, file, size, len(config.classes), first_layer_shape(spec))


# run folder -> (its files' sizes and times, what is wrong with it): pages list runs on every rerun
_damage_seen: dict[str, tuple[tuple, str | None]] = {}


def _stamp(run_dir: Path) -> tuple:
    stamps = []
    for name in (*RUN_FILES, *REPLAY_FILES):
        try:
            stat = (run_dir / name).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def run_damage(run_dir: str | os.PathLike) -> str | None:
    """Return why a run folder cannot be loaded, or None; checked without loading the weights."""
    run_dir = Path(run_dir)
    stamp = _stamp(run_dir)
    seen = _damage_seen.get(str(run_dir))
    if seen is not None and seen[0] == stamp:
        return seen[1]
    reason = _find_damage(run_dir)
    _damage_seen[str(run_dir)] = (stamp, reason)
    return reason


def _scan(runs_dir: str | os.PathLike | None) -> tuple[list[dict], list[dict]]:
    root = resolve_runs_dir(runs_dir)
    good: list[dict] = []
    damaged: list[dict] = []
    if not root.is_dir():
        return good, damaged
    recover_replaced(root)  # a save killed mid-swap left the older folder aside
    for child in root.iterdir():
        if not child.is_dir():
            continue
        if is_temporary(child):
            reason = "an unfinished save: the process writing it was stopped"
        elif child.name.startswith("."):
            continue
        else:
            reason = run_damage(child)
        summary = read_summary(child) if reason is None else None
        if summary is None:
            damaged.append({"run_id": child.name, "path": str(child), "damaged": reason})
        else:
            good.append({**summary, "path": str(child)})
    good.sort(key=lambda s: (str(s.get("created", "")), str(s.get("run_id", ""))), reverse=True)
    damaged.sort(key=lambda s: s["run_id"])
    return good, damaged


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[dict]:
    """Return the summaries of all loadable runs, newest first (each with its 'path')."""
    return _scan(runs_dir)[0]


def list_damaged_runs(runs_dir: str | os.PathLike | None = None) -> list[dict]:
    """Return the folders that are not loadable runs, each with 'run_id', 'path' and 'damaged'."""
    return _scan(runs_dir)[1]
