"""Which runs a folder holds, and which of them are damaged: a scan that reads each run's
summary, remembers what it found per folder state, and never loads a model."""

from __future__ import annotations

import json
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


# run folder -> (its files' sizes and times, what is wrong with it, its summary): pages list
# the runs on every rerun, and a folder whose files did not change is neither checked nor read
# again; a summary is kept as its JSON text, so that each scan hands out a copy of its own
_seen: dict[str, tuple[tuple, str | None, str | None]] = {}


def _stamp(run_dir: Path) -> tuple:
    stamps = []
    for name in (*RUN_FILES, *REPLAY_FILES):
        try:
            stat = (run_dir / name).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def _checked(run_dir: Path) -> tuple[str | None, dict | None]:
    """Return why a run folder cannot be loaded (or None) and its summary (None if damaged)."""
    stamp = _stamp(run_dir)
    seen = _seen.get(str(run_dir))
    if seen is None or seen[0] != stamp:
        reason = _find_damage(run_dir)
        summary = read_summary(run_dir) if reason is None else None
        seen = (stamp, reason, None if summary is None else json.dumps(summary))
        _seen[str(run_dir)] = seen
    return seen[1], None if seen[2] is None else json.loads(seen[2])


def run_damage(run_dir: str | os.PathLike) -> str | None:
    """Return why a run folder cannot be loaded, or None; checked without loading the weights."""
    return _checked(Path(run_dir))[0]


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
            reason, summary = "an unfinished save: the process writing it was stopped", None
        elif child.name.startswith("."):
            continue
        else:
            reason, summary = _checked(child)
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
