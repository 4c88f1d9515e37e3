"""A canvas's message as the browser sends it, read with care: it may be hand-made."""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
from PIL import Image

MAX_DATA_URL = 4 * 2**20  # a 320 px canvas at 3× density is a PNG of well under 1 MB


def canvas_pixels(state, max_side: int) -> np.ndarray | None:
    """Return the RGB(A) pixels of a canvas component's state ({"drawing": {"raw", "data"}}),
    or None: no strokes, or not a drawing of this page's canvas (a data URL over MAX_DATA_URL,
    not a PNG, not RGB or RGBA, a side over max_side are not decoded further)."""
    drawing = state.get("drawing") if hasattr(state, "get") else None
    if not isinstance(drawing, dict) or not isinstance(drawing.get("raw"), dict):
        return None
    if not drawing["raw"].get("objects"):
        return None
    data = drawing.get("data")
    if not isinstance(data, str) or len(data) > MAX_DATA_URL or ";base64," not in data:
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(data.split(";base64,", 1)[1]))) as image:
            if max(image.size) > max_side or image.mode not in ("RGB", "RGBA"):
                return None
            return np.asarray(image)
    except (ValueError, OSError, binascii.Error, Image.DecompressionBombError):
        return None
