"""The digits as stroke paths in a unit box: the plain ways of writing each one with a mouse,
and the styles people draw that MNIST's writers mostly did not (core.draw.drawings draws them)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Point = tuple[float, float]
Stroke = list[Point]


# --- stroke paths -------------------------------------------------------------------------
# Digits live in a unit box: x to the right, y downwards, the digit 1 unit tall and about
# 0.6 wide. Angles go counter-clockwise from the positive x axis, as on paper (y flipped).


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Return points along an elliptical arc from angle start to end (degrees)."""
    steps = max(8, int(abs(end - start) / 6))
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in angles]


def bezier(p0: Point, p1: Point, p2: Point, p3: Point, steps: int = 24) -> Stroke:
    """Return points along a cubic Bezier curve."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    points = (
        (1 - t) ** 3 * np.array(p0)
        + 3 * (1 - t) ** 2 * t * np.array(p1)
        + 3 * (1 - t) * t**2 * np.array(p2)
        + t**3 * np.array(p3)
    )
    return [tuple(p) for p in points]


def line(*points: Point) -> Stroke:
    """Return a polyline through the points, densified so the hand's wobble can bend it."""
    out: Stroke = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        steps = max(2, int(math.hypot(x1 - x0, y1 - y0) / 0.04))
        out += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(steps)]
    return [*out, points[-1]]


def _figure_eight() -> Stroke:
    t = np.linspace(0, 2 * math.pi, 90)
    return [(0.5 + 0.27 * math.sin(2 * a), 0.5 - 0.49 * math.cos(a)) for a in t]


# name -> strokes, for each digit: the common ways of writing it with a mouse
DIGIT_PATHS: dict[int, dict[str, Callable[[], list[Stroke]]]] = {
    0: {
        "oval": lambda: [arc(0.5, 0.5, 0.3, 0.5, 90, 450)],
        "round": lambda: [arc(0.5, 0.5, 0.38, 0.5, 100, 460)],
        "open-top": lambda: [arc(0.5, 0.5, 0.3, 0.5, 70, 420)],
    },
    1: {
        "stick": lambda: [line((0.5, 0.0), (0.5, 1.0))],
        "flag": lambda: [line((0.28, 0.22), (0.55, 0.0), (0.55, 1.0))],
        "flag-base": lambda: [
            line((0.3, 0.2), (0.55, 0.0), (0.55, 1.0)),
            line((0.3, 1.0), (0.8, 1.0)),
        ],
    },
    2: {
        "swan": lambda: [
            arc(0.5, 0.28, 0.3, 0.28, 165, -20) + line((0.76, 0.42), (0.15, 1.0), (0.88, 1.0))
        ],
        "curly": lambda: [
            arc(0.5, 0.28, 0.3, 0.28, 160, -10)
            + bezier((0.79, 0.33), (0.75, 0.6), (0.3, 0.75), (0.15, 1.0))
            + line((0.15, 1.0), (0.88, 0.98))
        ],
    },
    3: {
        "round": lambda: [
            arc(0.48, 0.26, 0.28, 0.26, 150, -90) + arc(0.48, 0.74, 0.32, 0.26, 90, -150)
        ],
        "flat-top": lambda: [
            line((0.18, 0.0), (0.8, 0.0), (0.42, 0.42)) + arc(0.48, 0.7, 0.32, 0.29, 110, -150)
        ],
    },
    4: {
        "closed": lambda: [
            line((0.68, 0.0), (0.08, 0.68), (0.92, 0.68)),
            line((0.68, 0.0), (0.68, 1.0)),
        ],
        "open": lambda: [
            line((0.22, 0.0), (0.15, 0.62), (0.9, 0.62)),
            line((0.7, 0.12), (0.7, 1.0)),
        ],
    },
    5: {
        "one-stroke": lambda: [
            line((0.8, 0.0), (0.26, 0.0), (0.22, 0.44)) + arc(0.5, 0.68, 0.32, 0.3, 135, -155)
        ],
        "flag-last": lambda: [
            line((0.26, 0.0), (0.22, 0.44)) + arc(0.5, 0.68, 0.32, 0.3, 135, -155),
            line((0.26, 0.0), (0.82, 0.0)),
        ],
    },
    6: {
        "loop": lambda: [
            bezier((0.78, 0.03), (0.35, 0.05), (0.15, 0.45), (0.2, 0.72))
            + arc(0.5, 0.72, 0.3, 0.27, 180, -180)
        ],
        "straight": lambda: [line((0.7, 0.0), (0.25, 0.62)) + arc(0.5, 0.74, 0.3, 0.26, 160, -200)],
    },
    7: {
        "plain": lambda: [line((0.1, 0.0), (0.9, 0.0), (0.38, 1.0))],
        "bar": lambda: [line((0.1, 0.0), (0.9, 0.0), (0.38, 1.0)), line((0.4, 0.5), (0.86, 0.5))],
        "curved": lambda: [
            line((0.1, 0.05), (0.88, 0.0))
            + bezier((0.88, 0.0), (0.6, 0.3), (0.45, 0.6), (0.42, 1.0))
        ],
    },
    8: {
        "two-loops": lambda: [
            arc(0.5, 0.25, 0.24, 0.25, 270, -90),
            arc(0.5, 0.74, 0.31, 0.26, 90, 450),
        ],
        "figure": lambda: [_figure_eight()],
    },
    9: {
        "stick": lambda: [arc(0.45, 0.27, 0.28, 0.27, 0, 365), line((0.73, 0.25), (0.68, 1.0))],
        "hook": lambda: [
            arc(0.45, 0.27, 0.28, 0.27, 10, 370)
            + bezier((0.73, 0.25), (0.75, 0.6), (0.7, 1.0), (0.35, 0.97))
        ],
        "one-stroke": lambda: [
            arc(0.45, 0.28, 0.29, 0.28, -10, 360) + line((0.74, 0.33), (0.6, 1.0))
        ],
    },
}


# The ways of writing a digit that people draw and MNIST's writers mostly did not, each tagged
# with its style family so the bench can say which of them a model misreads.
STYLED_PATHS: dict[int, dict[str, Callable[[], list[Stroke]]]] = {
    0: {
        "narrow": lambda: [arc(0.5, 0.5, 0.19, 0.5, 90, 450)],
        "overshoot": lambda: [arc(0.5, 0.5, 0.32, 0.5, 55, 470)],
    },
    1: {
        "long-flag": lambda: [line((0.08, 0.42), (0.62, 0.0), (0.62, 1.0))],
        "serif": lambda: [
            line((0.12, 0.36), (0.6, 0.0), (0.6, 1.0)),
            line((0.28, 1.0), (0.92, 1.0)),
        ],
        "cap-and-foot": lambda: [
            line((0.32, 0.06), (0.56, 0.0), (0.56, 1.0)),
            line((0.26, 1.0), (0.86, 1.0)),
        ],
        "curved-flag": lambda: [
            bezier((0.12, 0.34), (0.3, 0.3), (0.5, 0.12), (0.6, 0.0)) + line((0.6, 0.0), (0.6, 1.0))
        ],
    },
    2: {
        "looped": lambda: [
            arc(0.5, 0.27, 0.3, 0.27, 165, -25)
            + line((0.77, 0.4), (0.2, 0.86))
            + arc(0.28, 0.87, 0.1, 0.09, 180, 500)
            + line((0.22, 0.81), (0.9, 0.98))
        ],
        "angular": lambda: [
            line((0.12, 0.12), (0.45, 0.0), (0.8, 0.14), (0.8, 0.36), (0.12, 1.0), (0.9, 1.0))
        ],
    },
    3: {
        "cusp": lambda: [
            arc(0.47, 0.24, 0.3, 0.24, 160, -80)
            + line((0.52, 0.48), (0.3, 0.5))
            + arc(0.47, 0.75, 0.33, 0.25, 110, -155)
        ],
    },
    4: {
        "open-tall": lambda: [
            line((0.26, 0.0), (0.1, 0.6), (0.94, 0.6)),
            line((0.7, 0.0), (0.7, 1.0)),
        ],
        "open-short": lambda: [
            line((0.2, 0.08), (0.14, 0.55), (0.9, 0.55)),
            line((0.66, 0.3), (0.66, 1.0)),
        ],
        "closed-one-stroke": lambda: [line((0.62, 1.0), (0.62, 0.0), (0.05, 0.68), (0.95, 0.68))],
        "closed-long-bar": lambda: [
            line((0.6, 0.0), (0.02, 0.7), (1.0, 0.7)),
            line((0.6, 0.0), (0.62, 1.0)),
        ],
    },
    5: {
        "round-belly": lambda: [
            line((0.86, 0.02), (0.3, 0.0), (0.25, 0.38)) + arc(0.48, 0.66, 0.37, 0.34, 150, -160)
        ],
    },
    6: {
        "small-loop": lambda: [
            bezier((0.75, 0.0), (0.4, 0.1), (0.2, 0.5), (0.27, 0.8))
            + arc(0.48, 0.81, 0.23, 0.19, 190, -170)
        ],
    },
    7: {
        "crossed": lambda: [
            line((0.1, 0.0), (0.9, 0.0), (0.38, 1.0)),
            line((0.26, 0.53), (0.86, 0.49)),
        ],
        "crossed-serif": lambda: [
            line((0.08, 0.2), (0.1, 0.0), (0.9, 0.0), (0.42, 1.0)),
            line((0.3, 0.55), (0.84, 0.51)),
        ],
        "crossed-curved": lambda: [
            line((0.1, 0.05), (0.88, 0.0))
            + bezier((0.88, 0.0), (0.6, 0.3), (0.45, 0.6), (0.42, 1.0)),
            line((0.3, 0.5), (0.82, 0.47)),
        ],
    },
    8: {
        "snowman": lambda: [
            arc(0.5, 0.23, 0.21, 0.23, 90, 450),
            arc(0.5, 0.73, 0.29, 0.27, 90, 450),
        ],
    },
    9: {
        "straight-stem": lambda: [
            arc(0.42, 0.27, 0.3, 0.27, 5, 365),
            line((0.72, 0.0), (0.72, 1.0)),
        ],
        "a-shaped": lambda: [
            arc(0.42, 0.27, 0.29, 0.27, 0, 360) + line((0.71, 0.27), (0.71, 0.0), (0.71, 1.0))
        ],
    },
}

# style family of each styled variant; every other stroke path is "plain"
STYLE_FAMILIES: dict[str, str] = {
    **{v: "serif-1" for v in STYLED_PATHS[1]},
    **{v: "crossed-7" for v in STYLED_PATHS[7]},
    "open-tall": "open-4",
    "open-short": "open-4",
    "closed-one-stroke": "closed-4",
    "closed-long-bar": "closed-4",
    "looped": "looped-2",
    **{v: "straight-9" for v in STYLED_PATHS[9]},
}
