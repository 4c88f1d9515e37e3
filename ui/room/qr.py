"""The room's QR codes: drawn here (segno, no network), in whole pixels, as PNGs."""

from __future__ import annotations

import functools
import io

import segno

QR_PIXELS = 300
TALK_QR_PIXELS = 380  # scanned from the back of a lecture hall
QR_BORDER = 2  # modules of white around the code: scanners need a quiet zone


@functools.lru_cache(maxsize=16)
def qr_png(url: str, pixels: int) -> bytes:
    """Return the QR code of url as a PNG of at most pixels a side, in whole pixels per module
    (made once per link: the wall redraws every second)."""
    code = segno.make(url, error="m")
    side, _ = code.symbol_size(border=QR_BORDER)
    picture = io.BytesIO()
    code.save(picture, kind="png", scale=max(1, pixels // side), border=QR_BORDER)
    return picture.getvalue()
