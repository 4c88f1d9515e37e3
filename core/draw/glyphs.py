"""Drawing a digit as a glyph of a handwriting-style font, thickened to a brush-like stroke.

The fonts come from Debian's packages (FONT_PACKAGES) and are found with fc-list; a change here
changes the drawings, so it bumps core.draw.drawings.GENERATOR_VERSION.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.draw.brush import (
    CANVAS,
    SUPERSAMPLE,
    draw_size,
    loops_stay_open,
    place_box,
    retry_size,
    shrink_to_canvas,
)

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


def draw_glyph(digit: int | str, font_file: str, rng: np.random.Generator) -> np.ndarray:
    """Return a (280, 280) uint8 drawing of the font's digit (or any character: the letters of
    core.draw.nondigits), thickened to a brush stroke."""
    char = str(digit)
    probe = _render(char, font_file, 200, 0)
    ink_per_size = probe.height / 200  # glyph ink height per point of font size
    height, brush = draw_size(rng)
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
        left, top = place_box(
            glyphs[1].height * factor / SUPERSAMPLE, glyphs[1].width * factor / SUPERSAMPLE, 4, rng
        )
        thin, thick = (_paste(g, factor, left, top) for g in glyphs)
        if loops_stay_open(thin, thick, brush):
            break
        height, brush = retry_size(height, brush)
    return thick


def _paste(glyph: Image.Image, factor: float, left: float, top: float) -> np.ndarray:
    if factor < 1.0:
        glyph = glyph.resize((round(glyph.width * factor), round(glyph.height * factor)))
    big = Image.new("L", (CANVAS * SUPERSAMPLE, CANVAS * SUPERSAMPLE), 0)
    big.paste(glyph, (round(left * SUPERSAMPLE), round(top * SUPERSAMPLE)))
    return shrink_to_canvas(big)
