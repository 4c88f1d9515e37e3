"""Canvas drawings to MNIST-style digits: crop, scale to 20 px, centre on the centre of mass.

MNIST's digits were size-normalised to fit a 20×20 box (keeping the aspect ratio, with
anti-aliasing) and then placed in a 28×28 frame so that their centre of mass sat at the centre.
A model trained on them expects exactly that, so a drawing must go through the same steps.

Coordinates: a pixel with row index i covers [i, i + 1) and its centre lies at i + 0.5, so the
centre of the 28×28 frame is (14.0, 14.0). The centre of mass of an image v is
(sum v[i, j] * (i + 0.5), sum v[i, j] * (j + 0.5)) / sum v, as (row, column).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.spec.image import IMAGE_SIDE

BOX = 20  # MNIST scaled each digit so that its longer side was 20 pixels
MIN_INK_FRACTION = 0.0005  # less ink than this (0.05% of the canvas) is an empty canvas
MIN_BOX = 3  # an ink bounding box smaller than this many pixels is a speck, not a digit
NOISE_LEVELS = 4  # colour differences up to this many levels (of 255) are not ink
INK_THRESHOLD = 0.1  # fraction of the strongest ink that counts for the bounding box
DOT_RATIO = 1.1  # a blob whose box is this close to a disc of the same area is a single dot
# ...if it is also no wider than this share of the canvas's shorter side: a bold digit whose
# loops filled in is a compact blob too, but a click of a brush is far smaller (20 px of 280)
DOT_MAX_SHARE = 0.2
# ink over more than this share of the canvas is a scribble, not a digit: a large, thick 8 on
# the Draw page covers about a quarter of it
COVERED_FRACTION = 0.5
# stroke normalisation (normalize_strokes): thin every stroke to a one-pixel skeleton at twice
# the 28×28 resolution, then draw it again with a round pen this wide (in 28×28 pixels); MNIST's
# median stroke, measured as twice the ink area over its outline, is about 2.7 px
STROKE_WIDTH = 2.1
STROKES = ("as-drawn", "normalized")


def ink_map(image: np.ndarray, background: tuple[int, int, int] | None = None) -> np.ndarray:
    """Return the ink as float32 (H, W) in [0, 1] from RGBA/RGB uint8 or bright-on-dark grayscale.

    background: the colour that is not ink, when the caller knows it (the Draw page's canvas);
    else it is the most common colour on the border, which fails once ink covers the border.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        ink = array.astype(np.float32)
        return ink / 255.0 if array.dtype == np.uint8 else np.clip(ink, 0.0, 1.0)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(
            f"image: shape {array.shape} is not allowed; use (H, W) grayscale or (H, W, 3|4) colour"
        )
    if array.dtype != np.uint8:
        raise ValueError(f"image: colour images must be uint8, got {array.dtype}")
    alpha = None
    if array.shape[2] == 4:
        alpha = array[..., 3].astype(np.float32) / 255.0
        if background is None and np.median(_border(alpha)) < 0.5:
            # a transparent background: whatever the colours, ink is what was painted
            return alpha
    background = (
        _background_colour(array[..., :3])
        if background is None
        else np.asarray(background, np.int16)
    )
    # the largest channel difference from the background; channel by channel is ~30x faster
    # than one (H, W, 3) array
    difference = np.zeros(array.shape[:2], np.int16)
    for channel in range(3):
        np.maximum(
            difference,
            np.abs(array[..., channel].astype(np.int16) - background[channel]),
            out=difference,
        )
    strongest = int(difference.max())
    # differences of a few levels are noise (compression, dithering), not ink
    if strongest < NOISE_LEVELS * 2:
        return np.zeros(difference.shape, np.float32)
    ink = np.clip((difference - NOISE_LEVELS) / np.float32(strongest - NOISE_LEVELS), 0.0, 1.0)
    return ink * alpha if alpha is not None else ink


def _border(array: np.ndarray) -> np.ndarray:
    """Return the pixels (or values) along the four edges of an image."""
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


def _background_colour(rgb: np.ndarray) -> np.ndarray:
    """Return the most common colour on the border: the background, even if a digit touches it."""
    border = _border(rgb).astype(np.int32)
    packed = (border[:, 0] << 16) | (border[:, 1] << 8) | border[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    colour = int(values[counts.argmax()])
    return np.array([colour >> 16, (colour >> 8) & 255, colour & 255], np.int16)


def _too_little_ink(ink: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> bool:
    height = rows[-1] - rows[0] + 1
    width = cols[-1] - cols[0] + 1
    area = float(ink.sum())
    if area < MIN_INK_FRACTION * ink.size or max(height, width) < MIN_BOX:
        return True
    # a click of the brush leaves a round blob: its box is about the size of a disc of its area
    disc = 2.0 * np.sqrt(area / np.pi)
    small = max(height, width) <= DOT_MAX_SHARE * min(ink.shape)
    return small and max(height, width) < DOT_RATIO * disc


def centre_of_mass(image: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """Return the (row, column) centre of mass in the module's pixel-centre convention."""
    values = torch.as_tensor(image, dtype=torch.float32).reshape(image.shape[-2:])
    total = values.sum()
    rows = torch.arange(values.shape[0], dtype=torch.float32) + 0.5
    cols = torch.arange(values.shape[1], dtype=torch.float32) + 0.5
    return float((values.sum(1) * rows).sum() / total), float((values.sum(0) * cols).sum() / total)


@dataclass(frozen=True)
class Reading:
    """A drawing read as a digit: the MNIST-style image, or why there is none."""

    digit: torch.Tensor | None  # (1, 28, 28) float32 in [0, 1]
    problem: str | None = None  # "empty", "speck" or "covered" when digit is None
    ink_fraction: float = 0.0  # the share of the canvas under ink


def to_mnist(
    image: np.ndarray,
    background: tuple[int, int, int] | None = None,
    strokes: str = "as-drawn",
) -> torch.Tensor | None:
    """Return the drawing as an MNIST-style (1, 28, 28) float32 image in [0, 1], or None if empty."""
    return read_drawing(image, background, strokes).digit


def read_drawing(
    image: np.ndarray,
    background: tuple[int, int, int] | None = None,
    strokes: str = "as-drawn",
) -> Reading:
    """Read a drawing as MNIST would have it, or say why it holds no digit (see Reading).

    strokes: "as-drawn" keeps the brush's width; "normalized" redraws every stroke at
    STROKE_WIDTH (normalize_strokes), for a model whose training digits were redrawn the same way.
    """
    if strokes not in STROKES:
        raise ValueError(f"strokes: {strokes!r} is not one of {', '.join(STROKES)}")
    ink = ink_map(image, background)
    strongest = float(ink.max()) if ink.size else 0.0
    if strongest <= 0.0:
        return Reading(None, "empty")
    ink = ink / strongest
    inked = ink > INK_THRESHOLD
    fraction = float(inked.mean())
    if fraction > COVERED_FRACTION:
        return Reading(None, "covered", fraction)
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    if len(rows) == 0:
        return Reading(None, "empty", fraction)
    if _too_little_ink(ink, rows, cols):
        return Reading(None, "speck", fraction)
    crop = torch.from_numpy(
        np.ascontiguousarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    )
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    # antialias=True averages over the footprint when shrinking, like MNIST's anti-aliasing
    digit = F.interpolate(
        crop[None, None], size=size, mode="bilinear", antialias=True, align_corners=False
    )[0, 0].clamp_(0.0, 1.0)
    com_row, com_col = centre_of_mass(digit)
    # integer shifts keep the strokes sharp; the centre of mass lands within half a pixel
    top = min(max(round(IMAGE_SIDE / 2 - com_row), 0), IMAGE_SIDE - size[0])
    left = min(max(round(IMAGE_SIDE / 2 - com_col), 0), IMAGE_SIDE - size[1])
    frame = torch.zeros(1, IMAGE_SIDE, IMAGE_SIDE)
    frame[0, top : top + size[0], left : left + size[1]] = digit
    frame = frame / frame.max()
    if strokes == "normalized":
        frame = normalize_strokes(frame[None])[0]
    return Reading(frame, None, fraction)


def _neighbours(mask: torch.Tensor) -> list[torch.Tensor]:
    """Return the 8 neighbours of every pixel, clockwise from north (Zhang and Suen's P2..P9)."""
    padded = F.pad(mask, (1, 1, 1, 1))
    h, w = mask.shape[-2:]
    offsets = ((0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0))
    return [padded[..., r : r + h, c : c + w] for r, c in offsets]


def thin(mask: torch.Tensor, max_passes: int = 40) -> torch.Tensor:
    """Return the one-pixel-wide skeleton of a boolean (N, 1, H, W) mask (Zhang-Suen thinning)."""
    skeleton = mask.clone()
    for _ in range(max_passes):
        changed = False
        for first in (True, False):
            p = _neighbours(skeleton)
            count = sum(q.to(torch.int8) for q in p)
            # 0 -> 1 steps around the ring: exactly one means removing the pixel keeps it connected
            steps = sum((~p[k] & p[(k + 1) % 8]).to(torch.int8) for k in range(8))
            north, east, south, west = p[0], p[2], p[4], p[6]
            if first:
                edge = ~(north & east & south) & ~(east & south & west)
            else:
                edge = ~(north & east & west) & ~(north & south & west)
            remove = skeleton & (count >= 2) & (count <= 6) & (steps == 1) & edge
            if remove.any():
                skeleton &= ~remove
                changed = True
        if not changed:
            break
    return skeleton


def _pen(radius: float) -> torch.Tensor:
    """Return a round, anti-aliased pen of the radius as a (1, 1, k, k) convolution kernel."""
    reach = math.ceil(radius)
    offsets = torch.arange(-reach, reach + 1, dtype=torch.float32)
    distance = torch.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2)
    return (radius + 0.5 - distance).clamp(0.0, 1.0)[None, None]


def normalize_strokes(digits: torch.Tensor, width: float = STROKE_WIDTH) -> torch.Tensor:
    """Return (N, 1, 28, 28) digits in [0, 1] with every stroke redrawn width pixels wide.

    Thin then re-stroke: a bold drawing, a tiny one blown up to 20 px and a hairline all come
    out with MNIST's typical pen. Work at twice the resolution, where thinning is less jagged.
    The same function serves training digits and canvas drawings, so the two stay alike.
    """
    big = F.interpolate(digits, scale_factor=2, mode="bilinear", align_corners=False)
    skeleton = thin(big > 0.5).float()
    pen = _pen(width)  # a radius of width at twice the size is width wide at 28×28
    redrawn = F.conv2d(skeleton, pen, padding=pen.shape[-1] // 2).clamp_(0.0, 1.0)
    small = F.avg_pool2d(redrawn, 2)
    peak = small.amax(dim=(1, 2, 3), keepdim=True)
    # a digit with no ink above half (a faint speck) keeps its own pixels
    return torch.where(peak > 0, small / peak.clamp_min(1e-6), digits)


def naive_resize(image: np.ndarray) -> torch.Tensor:
    """Return the whole canvas shrunk to (1, 28, 28) float32 in [0, 1]: the naive baseline."""
    ink = torch.from_numpy(np.ascontiguousarray(ink_map(image)))
    small = F.interpolate(ink[None, None], size=(IMAGE_SIDE, IMAGE_SIDE), mode="area")
    return small[0].clamp_(0.0, 1.0)
