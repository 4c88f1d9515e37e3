"""The limits every room keeps: one table, read by the store, the pages and their messages."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

from core.data.digitset import MAX_DIGITS_PER_SET

ENV_PREFIX = "DIGITLAB_ROOM_"  # + a field's name in capitals: DIGITLAB_ROOM_MAX_PER_PHONE=40


@dataclass(frozen=True)
class RoomLimits:
    """How much one phone and one room may send, and how long a room stays open."""

    seconds_between: float = 2.0  # per phone: at most one drawing every this many seconds
    max_per_phone: int = 40  # per phone and room: a lecture's worth of drawing
    max_per_room: int = MAX_DIGITS_PER_SET  # the room's drawings are one set of my digits
    hours_open: float = 4.0  # a room closes by itself after this long
    wrong_codes_per_minute: int = 6  # per address: typing a code wrong, then right
    wrong_codes_per_minute_all: int = 60  # all addresses together: guessing is slow

    def to_dict(self) -> dict:
        """Return the limits as JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_env(cls, environ=os.environ) -> RoomLimits:
        """Return the defaults with any DIGITLAB_ROOM_* override, checked (ValueError)."""
        values = {}
        for field in fields(cls):
            text = environ.get(ENV_PREFIX + field.name.upper())
            if text is None:
                continue
            kind = float if field.type == "float" else int
            try:
                value = kind(text)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX}{field.name.upper()} must be a number, got {text!r}"
                ) from None
            if value <= 0:
                raise ValueError(f"{ENV_PREFIX}{field.name.upper()} must be above 0")
            values[field.name] = value
        limits = cls(**values)
        if limits.max_per_room > MAX_DIGITS_PER_SET:
            raise ValueError(
                f"{ENV_PREFIX}MAX_PER_ROOM: a room's set holds at most {MAX_DIGITS_PER_SET:,}"
            )
        return limits
