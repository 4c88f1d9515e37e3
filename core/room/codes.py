"""Room codes: short enough to type on a phone, too many to guess while a lecture lasts."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque

# no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V: read off a projector and typed on a phone without doubt
ALPHABET = "ACDEFGHJKMNPQRTWXY34679"
LENGTH = 5  # 23**5 = 6.4 million codes; at 60 wrong tries a minute, 0.1% of them in two hours


def new_code(taken=()) -> str:
    """Return a fresh random code that is not among the taken ones."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if code not in taken:
            return code


def normalize_code(text: str | None) -> str:
    """Return a typed code as the store keeps it (capitals, no spaces or dashes), or ''."""
    cleaned = "".join(ch for ch in (text or "")[:32].upper() if not ch.isspace() and ch != "-")
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return ""
    return cleaned


class WrongCodeLimiter:
    """Counts wrong codes per address and in all, over the last minute, to slow down guessing."""

    WINDOW = 60.0

    def __init__(self, per_address: int, in_all: int, clock=time.monotonic):
        self.per_address, self.in_all, self.clock = per_address, in_all, clock
        self._lock = threading.Lock()
        self._by_address: dict[str, deque] = {}
        self._all: deque = deque()

    def _trim(self, times: deque, now: float) -> deque:
        while times and now - times[0] >= self.WINDOW:
            times.popleft()
        return times

    def blocked(self, address: str) -> bool:
        """Return whether this address (or everyone) has tried too many wrong codes lately."""
        now = self.clock()
        with self._lock:
            mine = self._trim(self._by_address.get(address, deque()), now)
            return len(mine) >= self.per_address or len(self._trim(self._all, now)) >= self.in_all

    def wrong(self, address: str) -> None:
        """Count one wrong code from this address."""
        now = self.clock()
        with self._lock:
            if len(self._by_address) > 10_000:  # bounded: forget addresses with nothing recent
                self._by_address = {a: t for a, t in self._by_address.items() if self._trim(t, now)}
            self._by_address.setdefault(address, deque()).append(now)
            self._all.append(now)
