"""Folders written whole or not at all: a killed process leaves the complete folder or none."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

from core.runs.filelock import locked

TEMP_PREFIX = ".tmp-"
REPLACED_PREFIX = ".replaced-"  # an old folder set aside while its replacement moves in
# a save takes seconds; a temporary folder untouched for this long was left by a killed process
STALE_TEMP_SECONDS = 600
# taken by a swap and by the recovery of a killed one: without it, a listing in another
# process (or thread) could put the old folder back between a swap's two renames, and the
# swap failed (measured: 4 of 400 checkpoint saves while one other process listed runs)
SWAP_LOCK = ".swap.lock"


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        # on disk before the rename publishes it, so a power cut cannot publish a half file
        os.fsync(file.fileno())


def write_file(path: Path, data: bytes) -> Path:
    """Write one small file whole or not at all: a temporary file beside it, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{path.name}-{secrets.token_hex(3)}"
    try:
        _write_file(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _sync_folder(folder: Path) -> None:
    # makes the rename itself durable; where a folder cannot be opened (Windows) it is not needed
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def is_temporary(folder: Path) -> bool:
    """Return whether a folder is the temporary half of a save (finished or interrupted)."""
    return folder.name.startswith(TEMP_PREFIX)


def remove_stale_temp_folders(parent: Path, older_than_s: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temporary folders that interrupted saves left in parent; return those removed."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    now = time.time()
    for child in parent.iterdir():
        try:
            # a save in progress touches its folder with every file: only old ones are abandoned
            if (
                is_temporary(child)
                and child.is_dir()
                and not child.is_symlink()
                and now - child.stat().st_mtime >= older_than_s
            ):
                shutil.rmtree(child)
                removed.append(child)
        except OSError:
            continue  # another process finished or removed it first
    return removed


def _replaced_name(target: Path) -> Path:
    return target.parent / f"{REPLACED_PREFIX}{target.name}"


def recover_replaced(parent: Path) -> list[Path]:
    """Put back the folders a process was replacing when it was killed; return them.

    Replacing is two renames (old folder aside, new one in); a kill between them leaves the
    old folder under its replaced name and no folder under the real one.
    """
    recovered: list[Path] = []
    if not parent.is_dir() or not any(
        child.name.startswith(REPLACED_PREFIX) for child in parent.iterdir()
    ):
        return recovered  # the usual case, without taking the lock
    try:
        with locked(parent / SWAP_LOCK):
            return _recover_replaced(parent)
    except OSError:  # a folder this process may only read: nothing can be renamed there anyway
        return recovered


def _recover_replaced(parent: Path) -> list[Path]:
    recovered: list[Path] = []
    for child in parent.iterdir():
        if not child.name.startswith(REPLACED_PREFIX):
            continue
        target = parent / child.name[len(REPLACED_PREFIX) :]
        try:
            if target.exists():
                shutil.rmtree(child)  # the new folder made it: the old one is garbage
            else:
                os.rename(child, target)
                recovered.append(target)
        except OSError:
            continue  # another process is on it
    return recovered


def write_folder(target: Path, payload: dict[str, bytes], replace: bool = False) -> Path:
    """Write the files into a hidden temporary folder, then rename it to target in one step.

    With replace, an existing target is swapped out: at every moment the old folder or the
    new one exists whole (recover_replaced puts the old one back after a kill mid-swap).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_folders(target.parent)
    tmp = target.parent / f"{TEMP_PREFIX}{target.name}-{secrets.token_hex(3)}"
    tmp.mkdir()
    try:
        for name, data in payload.items():
            _write_file(tmp / name, data)
        if replace and target.exists():
            aside = _replaced_name(target)
            with locked(target.parent / SWAP_LOCK):
                shutil.rmtree(aside, ignore_errors=True)
                os.rename(target, aside)
                os.rename(tmp, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            # rename is atomic: other processes see the whole folder or nothing under its name
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _sync_folder(target.parent)
    return target
