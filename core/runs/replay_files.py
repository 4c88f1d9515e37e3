"""A run's replay on disk: replay.json (steps, epochs, the digits' MNIST test positions) and
replay.safetensors (the arrays), read back refusing anything a run would not write.

What the frames hold and how they are taken: core.train.replay (the recorder). About 55 KB a
frame for a 784-128-128-10 network; runs saved before replays were recorded have none.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import BinaryIO

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from core.runs.replay_schema import (
    REPLAY_FORMAT_VERSION,
    check_replay_meta,
    check_replay_tensors,
    replay_tensors,
)
from core.runs.schema import InvalidRun, weights_header
from core.spec.image import IMAGE_SIDE

REPLAY_FILES = ("replay.json", "replay.safetensors")
WEIGHT_LEVELS = 127  # int8 steps per tile: finer than a tile's colours can show


@dataclass
class Replay:
    """A run's frames: what its network looked like at each recorded step."""

    steps: list[int]
    epochs: list[int]  # the epoch each frame was taken in; 0 before training
    weights: torch.Tensor  # int8 (F, tiles, h, w); times weight_scales / 127 gives the weights
    weight_scales: torch.Tensor  # float32 (F, tiles)
    coords: torch.Tensor  # float16 (F, N, 2): the aligned PCA of the last hidden layer
    explained: torch.Tensor  # float32 (F, 2): each frame's own explained variance ratio
    labels: torch.Tensor  # int64 (N,): class indices of the projected digits
    confusion: torch.Tensor  # int32 (F, k, k) on the projected digits: rows true, columns predicted
    probabilities: torch.Tensor  # float16 (F, D, k) for the replay digits
    digits: torch.Tensor  # uint8 (D, 28, 28)
    digit_labels: torch.Tensor  # int64 (D,)
    probe_indices: list[int]  # positions in the MNIST test set of the projected digits
    digit_indices: list[int]  # and of the replay digits
    tiles_total: int  # the first layer's units (or filters), of which `weights` keeps the first 64

    def __len__(self) -> int:
        return len(self.steps)

    def frame_weights(self, frame: int) -> torch.Tensor:
        """Return the first layer's weights at a frame as float32 (tiles, h, w)."""
        scales = self.weight_scales[frame, :, None, None]
        return self.weights[frame].to(torch.float32) * scales / WEIGHT_LEVELS

    def accuracy(self, frame: int) -> float:
        """Return the share of the projected digits the network got right at a frame."""
        confusion = self.confusion[frame].to(torch.float64)
        return float(confusion.diagonal().sum() / confusion.sum().clamp_min(1))

    def nbytes(self) -> int:
        """Return the bytes of its two files."""
        return sum(len(data) for data in replay_files(self).values())


TENSOR_NAMES = (
    "weights",
    "weight_scales",
    "coords",
    "explained",
    "labels",
    "confusion",
    "probabilities",
    "digits",
    "digit_labels",
)


def replay_files(replay: Replay) -> dict[str, bytes]:
    """Return replay.json's and replay.safetensors' bytes."""
    meta = {
        "format_version": REPLAY_FORMAT_VERSION,
        "steps": list(replay.steps),
        "epochs": list(replay.epochs),
        "probe_indices": list(replay.probe_indices),
        "digit_indices": list(replay.digit_indices),
        "tiles_total": int(replay.tiles_total),
    }
    tensors = {name: getattr(replay, name).contiguous() for name in TENSOR_NAMES}
    return {
        "replay.json": json.dumps(meta).encode(),
        "replay.safetensors": save_safetensors_bytes(tensors),
    }


def first_layer_tiles(weight_shape: tuple[int, ...]) -> tuple[int, tuple[int, int]]:
    """Return the first layer's unit count and tile shape from its weight's shape."""
    if len(weight_shape) == 4:  # a convolution: (filters, 1, k, k)
        return weight_shape[0], tuple(weight_shape[-2:])
    return weight_shape[0], (IMAGE_SIDE, IMAGE_SIDE)


def check_replay_header(
    meta: dict, file: BinaryIO, size: int, classes: int, first_layer: tuple[int, ...]
) -> None:
    """Raise InvalidRun unless replay.json and replay.safetensors' header (read from file, of
    size bytes) agree with each other and with the network, whose first weight has first_layer's shape.
    """
    check_replay_meta(meta)
    units, tile_shape = first_layer_tiles(first_layer)
    if meta["tiles_total"] != units:
        raise InvalidRun(
            f"replay.json: tiles_total: {meta['tiles_total']} is not the first layer's "
            f"{units} units"
        )
    header = weights_header(file, size, "replay.safetensors")
    check_replay_tensors(header, replay_tensors(meta, classes, tile_shape))


def read_replay(meta: dict, data: bytes, classes: int, first_layer: tuple[int, ...]) -> Replay:
    """Return the Replay in a run's two replay files, refusing anything a run would not write.

    meta: replay.json, parsed; first_layer: the shape of the network's first weight.
    """
    check_replay_header(meta, io.BytesIO(data), len(data), classes, first_layer)
    try:
        tensors = load_safetensors_bytes(data)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise InvalidRun(f"replay.safetensors is not a valid safetensors file ({exc})") from exc
    for name in ("labels", "digit_labels"):
        values = tensors[name]
        if len(values) and not (int(values.min()) >= 0 and int(values.max()) < classes):
            raise InvalidRun(f"replay.safetensors: {name} must be class indices 0..{classes - 1}")
    for name in ("weight_scales", "coords", "explained", "probabilities"):
        if not torch.isfinite(tensors[name]).all():
            raise InvalidRun(f"replay.safetensors: {name} must hold finite numbers")
    if (tensors["confusion"] < 0).any():
        raise InvalidRun("replay.safetensors: confusion must hold counts ≥ 0")
    return Replay(
        steps=meta["steps"],
        epochs=meta["epochs"],
        probe_indices=meta["probe_indices"],
        digit_indices=meta["digit_indices"],
        tiles_total=meta["tiles_total"],
        **tensors,
    )
