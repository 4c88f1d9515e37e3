"""How a message quotes a value it refuses: whole when short, cut to a line when long.

A link can carry 100 kB in one setting; an error that repeated it filled the page (issue 28).
"""

from __future__ import annotations

MAX_QUOTED_CHARS = 80


def quoted(value) -> str:
    """Return repr(value), cut to about MAX_QUOTED_CHARS with its full length said when longer."""
    text = repr(value)
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    unit = "characters" if isinstance(value, str) else "items"
    size = len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else len(text)
    return f"{text[: MAX_QUOTED_CHARS - 1]}… ({size:,} {unit})"
