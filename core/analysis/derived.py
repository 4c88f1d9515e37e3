"""Results derived from a saved run that take seconds to compute, kept in the user's cache folder.

A run's probabilities on its test digits and its "not a digit" yardstick are the same for the
same weights and the same digits. Computing them took 11 CPU-seconds for the ready model (2
cores, 2026-12-06) at every server start, in every replica and in every `python -m core predict`.
They are kept here under a digest of the weights, of the settings that shape the outputs and of
the digits, so that a restart or a second server reads them in milliseconds. A missing,
half-written or foreign file is computed again; a cache folder that cannot be written only
costs the time; the KEEP most recently used files are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes

from core.data.mnist import cache_dir, keep_most_recent, read_cache_file, to_float
from core.runs.atomic import write_file

FORMAT = "1"  # changes when what is stored, or how it is computed, changes
KEEP = 24
FOLDER = "derived"

log = logging.getLogger("digitlab.derived")


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def run_digest(run) -> str:
    """Return a digest of what a run's outputs depend on: its network, weights and calibration."""
    digest = hashlib.sha256(FORMAT.encode())
    shaping = {
        "spec": repr(run.spec),
        "normalization": run.config.normalization,
        "classes": list(run.classes),
        "temperature": float(run.summary.get("temperature", 1.0)),
    }
    digest.update(json.dumps(shaping, sort_keys=True).encode())
    for name, tensor in run.model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def digits_digest(*tensors: torch.Tensor) -> str:
    """Return a digest of some images and labels (their shapes, types and every byte)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def result_path(kind: str, key: str) -> Path:
    """Return the file that keeps one result in the cache folder."""
    name = hashlib.sha256(key.encode()).hexdigest()[:32]  # the whole key: one file per result
    return cache_dir() / FOLDER / f"{kind}-{name}.safetensors"


def remembered(
    kind: str, key: str, compute: Callable[[], dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """Return compute()'s tensors for key: read from the cache folder, else computed and kept."""
    path = result_path(kind, key)
    if (found := read_cache_file(path, "key", key)) is not None:
        return found
    tensors = compute()
    try:
        stored = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        write_file(path, safetensors_bytes(stored, metadata={"key": key}))
        keep_most_recent(path.parent, "*.safetensors", KEEP)
    except OSError as exc:  # a read-only or full cache folder: the result is simply not kept
        log.warning("could not keep %s in %s: %s", kind, path.parent, exc)
    return tensors


def probabilities_of(run, images: torch.Tensor) -> torch.Tensor:
    """Return the run's probabilities for uint8 images (its test digits), computed once for
    these weights and these images (2.5 CPU-seconds for the ready model on 10,000 digits)."""
    key = run_digest(run) + digits_digest(images)
    return remembered("probabilities", key, lambda: {"p": run.predict_proba(to_float(images))})["p"]
