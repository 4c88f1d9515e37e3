"""Drawing a digit along one of its stroke paths (core.draw.digitpaths) as a hand would: the
points jittered and wobbled, the digit slanted and turned, a round brush, and the looks (bold,
tiny, off-centre) a drawing may have.

A change here changes the drawings, so it bumps core.draw.drawings.GENERATOR_VERSION.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from core.draw.brush import (
    CANVAS,
    MAX_STROKE,
    MIN_STROKE,
    SUPERSAMPLE,
    draw_size,
    loops_stay_open,
    place_box,
    retry_size,
    shrink_to_canvas,
)
from core.draw.digitpaths import DIGIT_PATHS, STYLED_PATHS

# how a drawing is drawn, beyond its path: loops may fill in, a digit may be tiny or in a corner
LOOKS = ("normal", "bold", "tiny", "off-centre")


def _wobble(points: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Bend points with a smooth random displacement field: a hand is never a ruler."""
    out = points.copy()
    for axis in range(2):
        for _ in range(3):
            frequency = rng.uniform(1.0, 3.0)
            phase = rng.uniform(0, 2 * math.pi, size=2)
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction) + 1e-9
            coordinate = points @ direction
            out[:, axis] += amount / 3 * np.sin(2 * math.pi * frequency * coordinate + phase[axis])
    return out


def path_variants(digit: int) -> list[str]:
    """Return the names of every stroke path of the digit, plain and styled, sorted."""
    return sorted({**DIGIT_PATHS[digit], **STYLED_PATHS[digit]})


def _path_strokes(digit: int, variant: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Return the variant's strokes, jittered, wobbled, slanted and rotated, in unit size."""
    paths = {**DIGIT_PATHS[digit], **STYLED_PATHS[digit]}
    strokes = [np.array(s, dtype=np.float64) for s in paths[variant]()]
    # move later strokes a little, then wobble the whole digit so that joined strokes stay joined
    shift = rng.normal(0, 0.025, size=(len(strokes), 1, 2))
    strokes = [s + shift[i] * (i > 0) for i, s in enumerate(strokes)]
    joined = _wobble(np.concatenate(strokes), rng, amount=rng.uniform(0.02, 0.06))
    strokes = np.split(joined, np.cumsum([len(s) for s in strokes])[:-1])
    aspect = rng.uniform(0.75, 1.2)
    slant = rng.uniform(-0.3, 0.35)  # positive leans right, as most right-handed writing does
    angle = math.radians(rng.uniform(-10, 10))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    transform = np.array([[aspect, -slant], [0.0, 1.0]]) @ rotation
    return [(s - 0.5) @ transform.T for s in strokes]


def stroke_image(strokes: list[np.ndarray], brush: float) -> np.ndarray:
    """Return strokes (canvas pixel coordinates) drawn with a round brush, anti-aliased."""
    big = Image.new("L", (CANVAS * SUPERSAMPLE, CANVAS * SUPERSAMPLE), 0)
    pen = ImageDraw.Draw(big)
    radius = brush * SUPERSAMPLE / 2
    for stroke in strokes:
        path = [tuple(p) for p in stroke * SUPERSAMPLE]
        pen.line(path, fill=255, width=max(1, round(2 * radius)), joint="curve")
        # round caps, like a browser's round brush; a brush thicker than any normal one also
        # needs a dab at every point, or PIL's wide joints leave slivers inside the stroke
        for x, y in path if brush > MAX_STROKE else (path[0], path[-1]):
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return shrink_to_canvas(big)


def _look_size(look: str, rng: np.random.Generator) -> tuple[float, float]:
    """Return (digit height, brush width) for a look other than normal."""
    if look == "bold":  # a brush a third of the digit or more: loops close up, as people's do
        height = rng.uniform(60, 160)
        return height, min(60.0, height * rng.uniform(0.28, 0.45))
    if look == "tiny":
        height = rng.uniform(18, 45)
        return height, rng.uniform(4, max(5.0, 0.3 * height))
    height = rng.uniform(50, 130)  # off-centre: modest digits pushed against an edge or corner
    return height, rng.uniform(MIN_STROKE, max(MIN_STROKE + 1, min(MAX_STROKE, 0.3 * height)))


def _place_off_centre(
    height: float, width: float, margin: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Return a top-left corner that puts the box into a corner, or along an edge."""

    def near_an_end(side: float) -> float:
        far = max(margin, CANVAS - margin - side)
        return (
            rng.uniform(margin, margin + 12) if rng.random() < 0.5 else rng.uniform(far - 12, far)
        )

    left, top = near_an_end(width), near_an_end(height)
    if rng.random() < 1 / 3:  # along the top or bottom edge rather than in a corner
        left = rng.uniform(margin, max(margin, CANVAS - margin - width))
    return max(margin, left), max(margin, top)


def draw_path(
    digit: int, variant: str, rng: np.random.Generator, look: str = "normal"
) -> np.ndarray:
    """Return a (280, 280) uint8 drawing of the digit along one of its stroke paths.

    look: "normal" keeps loops open (a thinner brush or a bigger digit until they show); "bold"
    lets a thick brush fill them; "tiny" draws it 18-45 px tall; "off-centre" against an edge.
    """
    if look not in LOOKS:
        raise ValueError(f"look: {look!r} is not one of {', '.join(LOOKS)}")
    strokes = _path_strokes(digit, variant, rng)
    every = np.concatenate(strokes)
    low, high = every.min(0), every.max(0)
    height, brush = draw_size(rng) if look == "normal" else _look_size(look, rng)
    place = _place_off_centre if look == "off-centre" else place_box
    for _ in range(6):
        scale = height / max(high[1] - low[1], 1e-6)
        scale = min(scale, (CANVAS - brush - 6) / max(high[0] - low[0], 1e-6))  # wide digits fit
        left, top = place(
            (high[1] - low[1]) * scale, (high[0] - low[0]) * scale, brush / 2 + 2, rng
        )
        placed = [(s - low) * scale + (left, top) for s in strokes]
        thick = stroke_image(placed, brush)
        if look in ("bold", "tiny") or loops_stay_open(stroke_image(placed, 2), thick, brush):
            break
        height, brush = retry_size(height, brush)
    return thick
