"""Which device trains: cuda, then Apple's mps, then the CPU; and what to call it."""

from __future__ import annotations

import os

import torch


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """Return the device to train on: 'auto' picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: 'cuda' was chosen but no CUDA GPU is available; use 'auto' or 'cpu'"
        )
    if name == "mps" and not _mps_available():
        raise ValueError(
            "device: 'mps' was chosen but Apple's GPU is not available; use 'auto' or 'cpu'"
        )
    return torch.device(name)


def choose_device(name: str = "auto") -> tuple[torch.device, str | None]:
    """Return the device to train on and a notice when the one asked for is missing (then CPU)."""
    try:
        return resolve_device(name), None
    except ValueError:
        return torch.device("cpu"), (
            f"No {'CUDA' if name == 'cuda' else 'Apple'} GPU is available on this machine: "
            "training on the CPU instead."
        )


def device_label(device: torch.device) -> str:
    """Return a human name for a device, e.g. 'cuda (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


THREADS_ENV = "DIGITLAB_WORKER_THREADS"


def worker_threads(cores: int | None = None) -> int:
    """Return the torch thread count of a worker: $DIGITLAB_WORKER_THREADS, else cores - 1.

    One core stays for the server and the browser. Measured on 2 cores with Chromium watching
    seed-mlp-128 (docs/performance.md, "Training in its own process"): with 2 threads the run took 26.6 s
    and the worker burnt 36.6 CPU-seconds, its threads waiting on each other whenever the
    browser held a core; with 1 thread, 15.5 s and 14.1 CPU-seconds.
    """
    text = os.environ.get(THREADS_ENV)
    if text:
        try:
            return max(1, int(text))
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a whole number, got {text!r}") from None
    cores = cores or os.cpu_count() or 1
    return max(1, cores - 1)
