"""A canvas-like test set: digits drawn as thick white strokes on a black 280×280 canvas.

Seven drawings in ten follow the stroke paths of core.draw.digitpaths (jittered control points, a
wobbly hand): the plain ways of writing each digit, and the styles people draw that MNIST's
writers mostly did not (flagged and serif 1s, crossed 7s, open and closed 4s, looped 2s,
straight-stemmed 9s), some of them bold enough to fill their loops, tiny (18-45 px) or pushed against an edge. The other
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
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.data.mnist import cache_dir
from core.draw.digitpaths import DIGIT_PATHS, STYLE_FAMILIES, STYLED_PATHS

CANVAS = 280
SUPERSAMPLE = 2  # draw at twice the size and shrink: anti-aliased edges like a browser canvas
MIN_HEIGHT, MAX_HEIGHT = 60, 250
MIN_STROKE, MAX_STROKE = 8, 30
GENERATOR_VERSION = 2  # bump when the drawings change, so old caches are not reused


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
