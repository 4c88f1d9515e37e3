"""What a run cost: training FLOPs from multiply-adds, the machine's matmul peak, the Pareto front.

Training FLOPs follow the usual estimate (Kaplan et al. 2020, nanoGPT's `estimate_mfu`): a
multiply-add is 2 FLOPs, and the backward pass costs about twice the forward, so one sample
seen in training costs about 6 × the network's multiply-adds per sample.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

FLOPS_PER_MULTIPLY_ADD_TRAINED = 6  # 2 forward, 4 backward
PEAK_MATRIX_SIDE = 1024  # large enough to be compute-bound on a CPU, quick to measure


def training_flops(multiply_adds: int, samples_seen: int) -> int:
    """Return the FLOPs of training a network of multiply_adds per sample on samples_seen samples."""
    return FLOPS_PER_MULTIPLY_ADD_TRAINED * multiply_adds * samples_seen


def matmul_peak_gflops(device: torch.device | str = "cpu", repeats: int = 20) -> float:
    """Return the measured single-precision matrix-multiply rate of the device, in GFLOP/s."""
    device = torch.device(device)
    a = torch.randn(PEAK_MATRIX_SIDE, PEAK_MATRIX_SIDE, device=device)
    b = torch.randn(PEAK_MATRIX_SIDE, PEAK_MATRIX_SIDE, device=device)
    for _ in range(3):  # warm-up: thread pool, allocator, clocks
        a @ b
    _synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * PEAK_MATRIX_SIDE**3 / best / 1e9


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[int]:
    """Return the indices of the points no other point beats: as accurate for less, or better for as little.

    Ordered by cost, so that the front can be drawn as a line.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    front, best = [], float("-inf")
    for i in order:
        if accuracies[i] > best:
            front.append(i)
            best = accuracies[i]
    return front
