"""The canvas the drawing set draws on and the brush it draws with: a drawing's size and place,
anti-aliasing, and the check that a thick brush left a digit's loops open.

Shared by the stroke-path drawings (core.draw.strokes) and the font glyphs (core.draw.glyphs): a
change here changes the drawings, so it bumps core.draw.drawings.GENERATOR_VERSION.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CANVAS = 280
SUPERSAMPLE = 2  # draw at twice the size and shrink: anti-aliased edges like a browser canvas
MIN_HEIGHT, MAX_HEIGHT = 60, 250
MIN_STROKE, MAX_STROKE = 8, 30


def draw_size(rng: np.random.Generator) -> tuple[float, float]:
    """Return (digit height, brush width) in canvas pixels, the brush never swamping the digit."""
    height = rng.uniform(MIN_HEIGHT, MAX_HEIGHT)
    brush = rng.uniform(MIN_STROKE, max(MIN_STROKE + 1, min(MAX_STROKE, 0.3 * height)))
    return min(height, CANVAS - brush - 6), brush


def place_box(
    height: float, width: float, margin: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Return the top-left corner for a box of this size: anywhere it fits on the canvas."""
    left = rng.uniform(margin, max(margin, CANVAS - margin - width))
    top = rng.uniform(margin, max(margin, CANVAS - margin - height))
    return left, top


def shrink_to_canvas(image: Image.Image) -> np.ndarray:
    """Return a supersampled drawing shrunk to the canvas's size, as uint8 pixels."""
    return np.asarray(image.resize((CANVAS, CANVAS), Image.Resampling.BOX))


def _reach(seeds: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Return the pixels of allowed connected (4-neighbours) to the seeds."""
    region = seeds & allowed
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= allowed
        if (grown == region).all():
            return region
        region = grown


def count_holes(image: np.ndarray, min_area: float) -> int:
    """Return the number of enclosed background regions of at least min_area canvas pixels."""
    rows = np.flatnonzero((image >= 128).any(axis=1))
    cols = np.flatnonzero((image >= 128).any(axis=0))
    if len(rows) == 0:
        return 0
    # half resolution is plenty to see a loop and keeps the flood fills cheap
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    background = np.pad(crop[::2, ::2] < 128, 1, constant_values=True)
    border = np.zeros_like(background)
    border[0] = border[-1] = border[:, 0] = border[:, -1] = True
    holes = background & ~_reach(border, background)
    count = 0
    for _ in range(6):  # digits have at most two loops; stop early on specks
        if not holes.any():
            break
        seed = np.zeros_like(holes)
        seed.flat[np.flatnonzero(holes)[0]] = True
        region = _reach(seed, holes)
        holes &= ~region
        count += region.sum() * 4 >= min_area
    return count


def loops_stay_open(thin: np.ndarray, thick: np.ndarray, brush: float) -> bool:
    """True if the thick drawing kept every loop of the thin one open enough to be seen."""
    return count_holes(thick, (0.4 * brush) ** 2) >= count_holes(thin, 16)


def retry_size(height: float, brush: float) -> tuple[float, float]:
    """Return a thinner brush, or a bigger digit once the brush is as thin as allowed."""
    if brush > MIN_STROKE:
        return height, max(MIN_STROKE, brush * 0.7)
    return min(MAX_HEIGHT, height * 1.25), brush
