"""A canvas-like test set: digits drawn as thick white strokes on a black 280×280 canvas.

Seven drawings in ten follow the stroke paths of core.draw.digitpaths (jittered control points, a
wobbly hand): the plain ways of writing each digit, and the styles people draw that MNIST's
writers mostly did not (flagged and serif 1s, crossed 7s, open and closed 4s, looped 2s,
straight-stemmed 9s), some of them bold enough to fill their loops, tiny (18-45 px) or pushed against an edge. The other
three are glyphs of handwriting-style fonts from Debian's packages, thickened to a brush-like
stroke. A normal drawing gets a random height (60-250 px), position (often off-centre), slant,
rotation and stroke width (8-30 px). Every drawing's kind names its style (style_of). The set is
deterministic for a seed and the installed fonts, and cached under ~/.cache/digitlab.

Drawing along a path is core.draw.strokes, a font's glyph core.draw.glyphs, and the canvas and
brush they share core.draw.brush; this module names the drawings' styles and makes the set.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# the names imported as themselves are re-exported: scripts of `core.drawings` imported them
# from here before the drawing moved into core.draw.brush, strokes and glyphs
from core.data.mnist import cache_dir
from core.draw.brush import CANVAS
from core.draw.brush import MAX_HEIGHT as MAX_HEIGHT
from core.draw.brush import MAX_STROKE as MAX_STROKE
from core.draw.brush import MIN_HEIGHT as MIN_HEIGHT
from core.draw.brush import MIN_STROKE as MIN_STROKE
from core.draw.brush import SUPERSAMPLE as SUPERSAMPLE
from core.draw.brush import count_holes as count_holes
from core.draw.digitpaths import DIGIT_PATHS, STYLE_FAMILIES, STYLED_PATHS
from core.draw.glyphs import FONT_FACES as FONT_FACES
from core.draw.glyphs import FONT_PACKAGES, draw_glyph, find_fonts
from core.draw.strokes import LOOKS, draw_path, path_variants

GENERATOR_VERSION = 2  # bump when the drawings change, so old caches are not reused


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


def _cache_file(n: int, seed: int, fonts: list[tuple[str, str]]) -> Path:
    key = f"{GENERATOR_VERSION};{n};{seed};" + ";".join(name for name, _ in fonts)
    return cache_dir() / f"drawings-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


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
