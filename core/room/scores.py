"""The room's held-out drawings: a fifth of each digit, kept aside from teaching the model."""

from __future__ import annotations

import hashlib

HELD_OUT_SHARE = 0.2


def _order(code: str, digit_id: str) -> str:
    return hashlib.sha256(f"{code}/{digit_id}".encode()).hexdigest()


def held_out_ids(code: str, drawings) -> set[str]:
    """Return the ids of a fifth of each digit's drawings (at random, the same every call)."""
    by_label: dict[int, list[str]] = {}
    for drawing in drawings:
        by_label.setdefault(drawing.label, []).append(drawing.id)
    held = set()
    for ids in by_label.values():
        count = round(len(ids) * HELD_OUT_SHARE) if len(ids) >= 2 else 0
        # an order fixed by the room and the id: the same set gives the same fifth every time
        held.update(sorted(ids, key=lambda i: _order(code, i))[: max(count, 1 if ids[1:] else 0)])
    return held
