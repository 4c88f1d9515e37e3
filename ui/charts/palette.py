"""Every colour the figures and pictures use, chosen to read for everyone in the room.

About one man in twelve cannot tell red from green. So:
- categories (runs, layers, digits, train against validation) take the Okabe–Ito palette
  (Okabe & Ito, "Color Universal Design", 2002), whose colours stay apart under deuteranopia
  and protanopia; lines also differ by dash and points by marker, so grey-scale prints work;
- amounts (the confusion matrix, saliency) take single-hue scales that run light to dark, so
  their order survives grey-scale, and correct against wrong is blue against orange, never
  green against red; the cells carry their numbers too;
- signed values (weights, activations) take a blue–orange diverging pair around near-white.

The words the pages use for these colours live here too, so a caption cannot name a colour
the picture no longer has.
"""

from __future__ import annotations

import numpy as np

from core.data.datasets import FASHION_MNIST

# Okabe–Ito
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
YELLOW = "#F0E442"
BLACK = "#000000"
GREY = "#9aa5b1"

TRAIN = BLUE
VALIDATION = VERMILLION
ACCENT = VERMILLION  # the one bar the eye should land on; it is also labelled in words
MUTED = GREY
# one per run or layer; SERIES_DASHES tells them apart without colour
SERIES = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK]
SERIES_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
# one per digit, with a marker shape each (DIGIT_SYMBOLS) for a scatter of all ten
DIGITS = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK, YELLOW, "#8c564b", GREY]
DIGIT_SYMBOLS = [
    "circle",
    "square",
    "diamond",
    "cross",
    "x",
    "triangle-up",
    "triangle-down",
    "star",
    "pentagon",
    "hexagon",
]

# ColorBrewer's single-hue Blues and Oranges: right answers and mistakes
CORRECT_SCALE = [[0.0, "#deebf7"], [0.5, "#6baed6"], [1.0, "#08519c"]]
MISTAKE_SCALE = [[0.0, "#fff5eb"], [0.5, "#fd8d3c"], [1.0, "#7f2704"]]

# signed values: positive orange, negative blue, zero near-white (RGB, for pictures too)
POSITIVE_RGB = (230, 97, 1)
NEGATIVE_RGB = (33, 102, 172)
ZERO_RGB = (247, 247, 247)
POSITIVE = "#e66101"
NEGATIVE = "#2166ac"
POSITIVE_WORD, NEGATIVE_WORD = "orange", "blue"

# saliency over a dimmed digit: viridis (perceptually uniform, its lightness rising from dark
# purple to yellow), so the strongest pixels are the brightest in grey-scale too
SALIENCY_STOPS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
SALIENCY_WORD = "yellow"


def class_position(label) -> int:
    """Return where a class label (7, "7" or a name such as "Dress") sits among the ten: its colour."""
    try:
        return int(label) % 10
    except (TypeError, ValueError):
        names = FASHION_MNIST.class_names
        return names.index(label) if label in names else 0


def series_line(position: int, width: float = 2.0) -> dict:
    """Return the plotly line style of the position-th run or layer: its colour and dash."""
    return dict(
        color=SERIES[position % len(SERIES)],
        dash=SERIES_DASHES[position % len(SERIES_DASHES)],
        width=width,
    )


def saliency_rgb(heat: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to float RGB in [0, 1] along SALIENCY_STOPS."""
    stops = np.asarray(SALIENCY_STOPS, dtype=np.float32) / 255.0
    position = np.clip(heat, 0.0, 1.0) * (len(stops) - 1)
    low = np.minimum(position.astype(int), len(stops) - 2)
    share = (position - low)[..., None]
    return stops[low] * (1 - share) + stops[low + 1] * share
