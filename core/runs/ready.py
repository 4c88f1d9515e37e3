"""The ready model: a network shipped with the app, so that Draw and Evaluate work on a first
visit with no training (issue 24), and the model every visitor starts with.

It is a run of the `draw` preset, trained by this project's own command and saved as any run is
(assets/ready-model/README.md says how it was made and what it scored). A runs folder that has
never had it gets a copy, once: a person who deletes it is not given it back (a marker file in
the runs folder remembers), and it is a run like the others from then on. It is the visitor's
active model until they choose another: a run trained later, by them or by anyone, no longer
replaces the model the Draw page uses behind their back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.runs.atomic import TEMP_PREFIX
from core.runs.store import resolve_runs_dir

READY_DIR = Path(__file__).resolve().parents[2] / "assets" / "ready-model"
READY_ENV = "DIGITLAB_READY_MODEL"  # 0: runs folders get no ready model (the tests' default)
MARKER = ".ready-model-offered"  # in the runs folder: the ready model was copied there once


def ready_source() -> Path | None:
    """Return the shipped run's folder, or None when it is switched off or missing."""
    if os.environ.get(READY_ENV, "1").strip() in ("0", "false", "no", "off"):
        return None
    found = sorted(p for p in READY_DIR.glob("*") if (p / "summary.json").is_file())
    return found[-1] if found else None


def ready_run_id() -> str | None:
    """Return the ready model's run id (its folder's name), or None when there is none."""
    source = ready_source()
    return source.name if source is not None else None


def install_ready_model(runs_dir: str | os.PathLike | None = None) -> Path | None:
    """Copy the ready model into a runs folder that has never had it; return its folder
    there (None if it is switched off, or was offered before and since deleted)."""
    source = ready_source()
    if source is None:
        return None
    root = resolve_runs_dir(runs_dir)
    target = root / source.name
    if (root / MARKER).exists():
        return target if target.is_dir() else None
    root.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        # copied under a temporary name, then renamed: a listing sees all of it or nothing
        temporary = root / f"{TEMP_PREFIX}{source.name}-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.copytree(source, temporary)
        try:
            os.rename(temporary, target)
        except OSError:  # another process put it there first
            shutil.rmtree(temporary, ignore_errors=True)
    (root / MARKER).touch()
    return target
