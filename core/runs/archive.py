"""A run as one file: the .digitlab.zip archive written by Export and read back by Import,
every member size-checked before a byte is unpacked."""

from __future__ import annotations

import io
import os
import secrets
import zipfile
from pathlib import Path

from core.runs.atomic import write_folder
from core.runs.replay_files import (
    REPLAY_FILES,
)
from core.runs.schema import (
    InvalidRun,
)
from core.runs.store import (
    MAX_MEMBER_BYTES,
    RUN_FILES,
    Run,
    json_bytes,
    load_run,
    resolve_runs_dir,
    run_folder,
    run_from_files,
)
from core.runs.uploads import RefusedFile, check_members, open_zip, read_members, read_upload

EXPORT_SUFFIX = ".digitlab.zip"


def export_run(run_dir: str | os.PathLike, file: str | os.PathLike | io.BytesIO) -> None:
    """Write a run folder as one zip file that import_run reads back."""
    run = load_run(run_dir)  # refuse to export something that would not import
    names = (*RUN_FILES, *REPLAY_FILES) if run.replay is not None else RUN_FILES
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(Path(run.path) / name, arcname=name)


def export_run_bytes(run_dir: str | os.PathLike) -> bytes:
    """Return a run as the bytes of one exported file."""
    buffer = io.BytesIO()
    export_run(run_dir, buffer)
    return buffer.getvalue()


def _read_archive(file) -> dict[str, bytes]:
    """Return the files of an exported run, read without trusting the archive's headers."""
    try:
        with open_zip(read_upload(file)) as archive:
            check_members(archive, MAX_MEMBER_BYTES, total=sum(MAX_MEMBER_BYTES.values()))
            for name in archive.namelist():
                if name not in RUN_FILES and name not in REPLAY_FILES:
                    hint = (
                        " (a PyTorch .pt file? import it as .pt)"
                        if name.endswith("data.pkl")
                        else ""
                    )
                    raise RefusedFile(f"unexpected member {name!r}{hint}")
            return read_members(archive, MAX_MEMBER_BYTES)
    except RefusedFile as exc:
        raise InvalidRun(f"not a Digit Lab run file: {exc}") from exc


def import_run(
    file: str | os.PathLike | io.BytesIO | bytes, runs_dir: str | os.PathLike | None = None
) -> Run:
    """Check an exported run file and save it into the runs folder; return the loaded run."""
    files = _read_archive(file)
    run = run_from_files(files)
    root = resolve_runs_dir(runs_dir)
    target = run_folder(root, run.run_id)
    if target.exists():
        existing = {
            n: (target / n).read_bytes()
            for n in (*RUN_FILES, *REPLAY_FILES)
            if (target / n).is_file()
        }
        if existing == files:
            run.path = target
            return run
        # cut so that the new id still fits RUN_ID_PATTERN's 128 characters
        run.run_id = f"{run.run_id[:100]}-imported-{secrets.token_hex(2)}"
        run.summary = {**run.summary, "run_id": run.run_id}
        files = {**files, "summary.json": json_bytes(run.summary)}
        target = run_folder(root, run.run_id)
    run.path = write_folder(target, files)
    return run
