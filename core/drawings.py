"""A canvas-like test set: digits drawn as thick white strokes on a black 280×280 canvas.

Seven drawings in ten follow stroke paths defined here (jittered control points, a wobbly hand):
the plain ways of writing each digit, and the styles people draw that MNIST's writers mostly did
not (flagged and serif 1s, crossed 7s, open and closed 4s, looped 2s, straight-stemmed 9s), some
of them bold enough to fill their loops, tiny (18-45 px) or pushed against an edge. The other
three are glyphs of handwriting-style fonts from Debian's packages, thickened to a brush-like
stroke. A normal drawing gets a random height (60-250 px), position (often off-centre), slant,
rotation and stroke width (8-30 px). Every drawing's kind names its style (style_of). The set is
deterministic for a seed and the installed fonts, and cached under ~/.cache/digitlab.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CANVAS = 280
SUPERSAMPLE = 2  # draw at twice the size and shrink: anti-aliased edges like a browser canvas
MIN_HEIGHT, MAX_HEIGHT = 60, 250
MIN_STROKE, MAX_STROKE = 8, 30
GENERATOR_VERSION = 2  # bump when the drawings change, so old caches are not reused

Point = tuple[float, float]
Stroke = list[Point]

# Handwriting-like fonts first; the plain sans fonts are what people imitate when they print.
# (family, style) as fc-list names them; Debian packages in FONT_PACKAGES.
FONT_FACES: tuple[tuple[str, str], ...] = (
    ("Because We Build", "Regular"),
    ("Because We Connect", "Regular"),
    ("Because We Create", "Regular"),
    ("Because We Mentor", "Regular"),
    ("Because We Organize", "Regular"),
    ("Comic Neue", "Regular"),
    ("Comic Neue", "Light"),
    ("Comic Neue", "Italic"),
    ("DkgHandwriting", "Roman"),
    ("DkgHandwriting", "Oblique"),
    ("Humor Sans", "Regular"),
    ("Klee One", "Regular"),
    ("Rufscript", "Regular"),
    ("Breip", "Medium"),
    ("DejaVu Sans", "Book"),
    ("Liberation Sans", "Regular"),
    ("Nimbus Sans", "Regular"),
    ("URW Gothic", "Book"),
)
FONT_PACKAGES = (
    "fonts-bwht",
    "fonts-comic-neue",
    "fonts-dkg-handwriting",
    "fonts-humor-sans",
    "fonts-klee",
    "fonts-rufscript",
    "fonts-breip",
    "fonts-dejavu-core",
    "fonts-liberation",
    "fonts-urw-base35",
)


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


def _draw_size(rng: np.random.Generator) -> tuple[float, float]:
    """Return (digit height, brush width) in canvas pixels, the brush never swamping the digit."""
    height = rng.uniform(MIN_HEIGHT, MAX_HEIGHT)
    brush = rng.uniform(MIN_STROKE, max(MIN_STROKE + 1, min(MAX_STROKE, 0.3 * height)))
    return min(height, CANVAS - brush - 6), brush


def _place(
    height: float, width: float, margin: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Return the top-left corner for a box of this size: anywhere it fits on the canvas."""
    left = rng.uniform(margin, max(margin, CANVAS - margin - width))
    top = rng.uniform(margin, max(margin, CANVAS - margin - height))
    return left, top


def _shrink(image: Image.Image) -> np.ndarray:
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


def _loops_stay_open(thin: np.ndarray, thick: np.ndarray, brush: float) -> bool:
    """True if the thick drawing kept every loop of the thin one open enough to be seen."""
    return count_holes(thick, (0.4 * brush) ** 2) >= count_holes(thin, 16)


def _retry_size(height: float, brush: float) -> tuple[float, float]:
    """Return a thinner brush, or a bigger digit once the brush is as thin as allowed."""
    if brush > MIN_STROKE:
        return height, max(MIN_STROKE, brush * 0.7)
    return min(MAX_HEIGHT, height * 1.25), brush


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


def _stroke_image(strokes: list[np.ndarray], brush: float) -> np.ndarray:
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
    return _shrink(big)


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
    height, brush = _draw_size(rng) if look == "normal" else _look_size(look, rng)
    place = _place_off_centre if look == "off-centre" else _place
    for _ in range(6):
        scale = height / max(high[1] - low[1], 1e-6)
        scale = min(scale, (CANVAS - brush - 6) / max(high[0] - low[0], 1e-6))  # wide digits fit
        left, top = place(
            (high[1] - low[1]) * scale, (high[0] - low[0]) * scale, brush / 2 + 2, rng
        )
        placed = [(s - low) * scale + (left, top) for s in strokes]
        thick = _stroke_image(placed, brush)
        if look in ("bold", "tiny") or _loops_stay_open(_stroke_image(placed, 2), thick, brush):
            break
        height, brush = _retry_size(height, brush)
    return thick


def style_of(kind: str) -> str:
    """Return the style family of a drawing's kind: font, plain, a shape family, or a look."""
    source, _, rest = kind.partition(":")
    if source == "font":
        return "font"
    variant, _, look = rest.partition(":")
    if look:
        return look
    return STYLE_FAMILIES.get(variant, "other-shapes" if variant not in _PLAIN else "plain")


_PLAIN = {variant for paths in DIGIT_PATHS.values() for variant in paths}


# --- font glyphs --------------------------------------------------------------------------


def find_fonts() -> list[tuple[str, str]]:
    """Return (face name, font file) for each of FONT_FACES installed, via fc-list."""
    if shutil.which("fc-list") is None:
        return []
    listing = subprocess.run(
        ["fc-list", ":", "family", "style", "file"], capture_output=True, text=True, check=False
    ).stdout
    found: dict[tuple[str, str], str] = {}
    for row in listing.splitlines():
        path, _, rest = row.partition(": ")
        families, _, styles = rest.partition(":style=")
        if not path.endswith((".ttf", ".otf")):
            continue
        for family in families.split(","):
            for style in styles.split(","):
                key = (family.strip(), style.strip())
                if key in FONT_FACES and key not in found:
                    found[key] = path
    return [
        (f"{family} {style}", found[(family, style)])
        for family, style in FONT_FACES
        if (family, style) in found
    ]


def _stroke_thickness(glyph: Image.Image) -> float:
    """Return the typical stroke width of a glyph: twice its area over its perimeter."""
    inside = np.asarray(glyph) > 127
    interior = inside.copy()
    interior[1:-1, 1:-1] &= (
        inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    )
    return 2.0 * inside.sum() / max(1, (inside & ~interior).sum())


def _render(char: str, font_file: str, size: float, outline: float) -> Image.Image:
    """Return the glyph, white on black, cropped to its ink, with an outline that thickens it."""
    font = ImageFont.truetype(font_file, max(8, round(size)))
    outline = max(0, round(outline))
    x0, y0, x1, y1 = font.getbbox(char, stroke_width=outline)
    image = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
    ImageDraw.Draw(image).text(
        (2 - x0, 2 - y0), char, font=font, fill=255, stroke_width=outline, stroke_fill=255
    )
    return image.crop(image.getbbox())


def _slant_and_turn(glyph: Image.Image, slant: float, angle: float) -> Image.Image:
    """Return the glyph sheared (positive slant leans right) and rotated, cropped to its ink."""
    offset = -slant * glyph.height if slant > 0 else 0.0
    sheared = glyph.transform(
        (glyph.width + int(abs(slant) * glyph.height) + 1, glyph.height),
        Image.Transform.AFFINE,
        (1, slant, offset, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )
    turned = sheared.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    return turned.crop(turned.getbbox())


def draw_glyph(digit: int, font_file: str, rng: np.random.Generator) -> np.ndarray:
    """Return a (280, 280) uint8 drawing of the font's digit, thickened to a brush stroke."""
    char = str(digit)
    probe = _render(char, font_file, 200, 0)
    ink_per_size = probe.height / 200  # glyph ink height per point of font size
    height, brush = _draw_size(rng)
    # italic faces already lean right: slanting them further makes digits nobody would draw
    leaning = any(word in font_file.lower() for word in ("italic", "oblique", "dkgit"))
    slant, angle = rng.uniform(-0.25, 0.0 if leaning else 0.25), rng.uniform(-10, 10)
    for _ in range(6):
        size = height * SUPERSAMPLE / ink_per_size
        own = _stroke_thickness(_render(char, font_file, size, 0))
        # an outline of the ink's own colour thickens every stroke to the brush width
        outline = max(0.0, (brush * SUPERSAMPLE - own) / 2)
        size = max(8.0, size - 2 * outline / ink_per_size)  # the outline adds to the height
        glyphs = [
            _slant_and_turn(_render(char, font_file, size, width), slant, angle)
            for width in (0, outline)
        ]
        limit = (CANVAS - 8) * SUPERSAMPLE
        factor = min(1.0, limit / max(glyphs[1].size))  # a turned glyph may outgrow the canvas
        left, top = _place(
            glyphs[1].height * factor / SUPERSAMPLE, glyphs[1].width * factor / SUPERSAMPLE, 4, rng
        )
        thin, thick = (_paste(g, factor, left, top) for g in glyphs)
        if _loops_stay_open(thin, thick, brush):
            break
        height, brush = _retry_size(height, brush)
    return thick


def _paste(glyph: Image.Image, factor: float, left: float, top: float) -> np.ndarray:
    if factor < 1.0:
        glyph = glyph.resize((round(glyph.width * factor), round(glyph.height * factor)))
    big = Image.new("L", (CANVAS * SUPERSAMPLE, CANVAS * SUPERSAMPLE), 0)
    big.paste(glyph, (round(left * SUPERSAMPLE), round(top * SUPERSAMPLE)))
    return _shrink(big)


# --- the set --------------------------------------------------------------------------------


def _cache_file(n: int, seed: int, fonts: list[tuple[str, str]]) -> Path:
    base = Path(os.environ.get("DIGITLAB_CACHE") or Path.home() / ".cache" / "digitlab")
    key = f"{GENERATOR_VERSION};{n};{seed};" + ";".join(name for name, _ in fonts)
    return base.expanduser() / f"drawings-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


# what each block of ten drawings (one of every digit) is, in a cycle of ten blocks: 30% fonts,
# 20% plain stroke paths, 20% styled ones, 10% each bold, tiny and off-centre (any path)
BLOCKS = (
    "font",
    "plain",
    "styled",
    "font",
    "bold",
    "styled",
    "font",
    "tiny",
    "plain",
    "off-centre",
)


def generate(
    n: int, seed: int, fonts: list[tuple[str, str]]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return n drawings, their labels and kinds, drawn afresh (no cache).

    A kind is "font:<face>", "path:<variant>" or "path:<variant>:<look>"; style_of names its family.
    """
    images = np.zeros((n, CANVAS, CANVAS), np.uint8)
    labels = np.arange(n, dtype=np.int64) % 10  # balanced: every digit n/10 times
    kinds: list[str] = []
    for index in range(n):
        # one generator per drawing: drawing i does not depend on how many came before it
        rng = np.random.default_rng([seed, index])
        digit = int(labels[index])
        block = BLOCKS[(index // 10) % len(BLOCKS)]
        if block == "font" and fonts:
            name, file = fonts[rng.integers(len(fonts))]
            images[index] = draw_glyph(digit, file, rng)
            kinds.append(f"font:{name}")
            continue
        if block == "styled":
            variants = sorted(STYLED_PATHS[digit])
        elif block in LOOKS:
            variants = path_variants(digit)
        else:
            variants = sorted(DIGIT_PATHS[digit])
        variant = variants[rng.integers(len(variants))]
        look = block if block in LOOKS else "normal"
        images[index] = draw_path(digit, variant, rng, look)
        kinds.append(f"path:{variant}" + (f":{look}" if look != "normal" else ""))
    return images, labels, kinds


def make_drawings(
    n: int = 1200, seed: int = 0, cache: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (images uint8 (n, 280, 280), labels int64 (n,), kinds) of canvas-like digits."""
    if not isinstance(n, int) or not 10 <= n <= 100_000:
        raise ValueError(f"n: {n!r} is outside the allowed range 10..100000")
    fonts = find_fonts()
    if not fonts:
        warnings.warn(
            "no handwriting fonts found (install " + " ".join(FONT_PACKAGES) + "); "
            "the drawing set uses stroke paths only",
            stacklevel=2,
        )
    path = _cache_file(n, seed, fonts)
    if cache and path.exists():
        try:
            with np.load(path) as stored:
                return stored["images"], stored["labels"], [str(k) for k in stored["kinds"]]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is regenerated
    images, labels, kinds = generate(n, seed, fonts)
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, images=images, labels=labels, kinds=np.array(kinds))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home still gets the drawings, only without the cache
    return images, labels, kinds


def preview_grid(images: np.ndarray, labels: np.ndarray, columns: int = 10) -> Image.Image:
    """Return a PIL image of the drawings in a grid, each labelled, for looking at the set."""
    tile = 112
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("L", (columns * tile, rows * tile), 60)
    pen = ImageDraw.Draw(sheet)
    for i, (image, label) in enumerate(zip(images, labels)):
        x, y = (i % columns) * tile, (i // columns) * tile
        sheet.paste(
            Image.fromarray(image).resize((tile - 4, tile - 4), Image.Resampling.BOX),
            (x + 2, y + 2),
        )
        pen.text((x + 5, y + 3), str(int(label)), fill=160)
    return sheet
