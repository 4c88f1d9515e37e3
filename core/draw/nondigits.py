"""Drawings that are not digits: scribbles, letters, shapes and faces, drawn on the canvas as
people draw them, for measuring how often "that does not look like a digit" is said when it
should be (issue 24). None of them is ever trained on.

Some of them are near a digit on purpose, as people's are: a face is a circle (a 0) with marks
inside, a spiral curls like a 6, a cross-hatch has the strokes of a 4. Letters that are written
like a digit (O, I, l, S, Z, B, G, q, b) are left out: reading them as digits is no mistake.
"""

from __future__ import annotations

import math

import numpy as np

from core.draw.brush import CANVAS, draw_size
from core.draw.glyphs import draw_glyph, find_fonts
from core.draw.strokes import stroke_image

KINDS = ("scribble", "letter", "shape", "face")
LETTERS = "ACEFHKMNPRTUVWXYaefhkmnrtuvwxy"
SHAPES = ("triangle", "square", "star", "hatch", "spiral", "arrow", "heart", "wave")


def _fit(strokes: list[np.ndarray], height: float, brush: float, rng) -> list[np.ndarray]:
    """Return strokes (unit coordinates, y down) scaled to height and placed on the canvas."""
    every = np.concatenate(strokes)
    low, high = every.min(0), every.max(0)
    scale = height / max(float((high - low).max()), 1e-6)
    size = (high - low) * scale
    margin = brush / 2 + 4
    left = rng.uniform(margin, max(margin, CANVAS - margin - size[0]))
    top = rng.uniform(margin, max(margin, CANVAS - margin - size[1]))
    return [(s - low) * scale + (left, top) for s in strokes]


def _scribble(rng) -> list[np.ndarray]:
    # a hand going back and forth: a random walk with momentum, one to three strokes
    strokes = []
    for _ in range(rng.integers(1, 4)):
        heading, point, points = rng.uniform(0, 2 * math.pi), rng.uniform(0, 1, 2), []
        for _ in range(rng.integers(12, 40)):
            heading += rng.normal(0, 1.1)
            point = np.clip(point + 0.18 * np.array([math.cos(heading), math.sin(heading)]), 0, 1)
            points.append(point)
        strokes.append(np.array(points))
    return strokes


def _circle(cx: float, cy: float, r: float, start: float = 0, end: float = 2 * math.pi):
    t = np.linspace(start, end, 40)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _shape(kind: str, rng) -> list[np.ndarray]:
    if kind == "triangle":
        return [np.array([[0.5, 0], [1, 0.9], [0, 0.9], [0.5, 0]])]
    if kind == "square":
        return [np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]])]
    if kind == "star":
        corners = [
            (0.5 + 0.5 * math.sin(a), 0.5 - 0.5 * math.cos(a))
            for a in np.arange(6) * 4 * math.pi / 5
        ]
        return [np.array(corners)]
    if kind == "hatch":  # #
        return [np.array([[0.3, 0], [0.3, 1]]), np.array([[0.7, 0], [0.7, 1]]),
                np.array([[0, 0.3], [1, 0.3]]), np.array([[0, 0.7], [1, 0.7]])]  # fmt: skip
    if kind == "spiral":
        t = np.linspace(0, 5 * math.pi, 80)
        return [np.stack([0.5 + t * np.cos(t) / 32, 0.5 + t * np.sin(t) / 32], 1)]
    if kind == "arrow":
        return [np.array([[0, 0.5], [1, 0.5]]), np.array([[0.7, 0.2], [1, 0.5], [0.7, 0.8]])]
    if kind == "heart":
        t = np.linspace(0, 2 * math.pi, 60)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t)
        return [np.stack([x, -y], 1)]
    t = np.linspace(0, 1, 60)  # a wave: ~~~
    return [np.stack([t, 0.5 + 0.15 * np.sin(t * rng.uniform(3, 6) * 2 * math.pi)], 1)]


def _face(rng) -> list[np.ndarray]:
    eyes = [_circle(x, 0.38, 0.04) for x in (0.35, 0.65)]
    smile = _circle(0.5, 0.5, 0.25, 0.2 * math.pi, 0.8 * math.pi)
    return [_circle(0.5, 0.5, 0.5), *eyes, smile]


def draw_non_digit(kind: str, rng: np.random.Generator, fonts: list[str]) -> np.ndarray:
    """Return a (280, 280) uint8 drawing of one kind of non-digit."""
    if kind == "letter" and fonts:
        return draw_glyph(str(rng.choice(list(LETTERS))), str(rng.choice(fonts)), rng)
    height, brush = draw_size(rng)
    if kind == "scribble":
        strokes = _scribble(rng)
    elif kind == "face":
        strokes = _face(rng)
    else:  # a shape (and a letter where no font is installed: a shape instead)
        strokes = _shape(str(rng.choice(SHAPES)), rng)
    return stroke_image(_fit(strokes, height, brush, rng), brush)


def make_non_digits(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Return n non-digit drawings (n, 280, 280) uint8 and their kinds, a quarter of each."""
    rng = np.random.default_rng(seed)
    fonts = [path for _, path in find_fonts()]
    kinds = [KINDS[i % len(KINDS)] for i in range(n)]
    images = np.stack([draw_non_digit(kind, rng, fonts) for kind in kinds])
    return images, kinds
