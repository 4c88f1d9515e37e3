"""What a set of drawn digits may be called: one rule, read by the settings that name a set
(core.spec.config) and by the store that keeps the sets (core.data.mydigits). A leaf."""

from __future__ import annotations

import re

from core.spec.quote import quoted

MAX_NAME_LENGTH = 40
# letters, digits, spaces, "-", "_" and "."; starting with a letter or digit, so a name can
# never be "..", hidden, or a path
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]*")


def check_set_name(name: str, field: str = "name") -> str:
    """Return a set's name stripped, or raise ValueError naming the field and the rule."""
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(text):
        raise ValueError(
            f"{field}: {quoted(name)} is not allowed; use 1-{MAX_NAME_LENGTH} letters, digits, spaces, "
            "'-', '_' or '.', starting with a letter or digit"
        )
    return text
