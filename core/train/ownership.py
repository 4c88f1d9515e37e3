"""Who may continue an interrupted run: the browser that started it, or anyone once that
browser is gone for good.

A run stopped by a server restart or a killed worker is saved with a checkpoint, and its page
offers "Continue training". It is a visitor's run: their browser keeps the job's secret in a
cookie, and the run's summary keeps a hash of it (`owner_key`), so that browser can continue
it at any time. Anyone else may only once OWNER_GONE_SECONDS have passed since it was saved
without its owner coming back to it (issue 28). A run without a key (started from the command
line, or saved before 2026-12-05) may be continued by anyone, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from pathlib import Path

OWNER_GONE_SECONDS = 15 * 60


def owner_key(secret: str) -> str:
    """Return the hash of a job's secret that its run's summary keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def continue_refusal(
    summary: dict, secret: str | None, saved_at: float, now: float | None = None
) -> str | None:
    """Return why a browser showing secret (or none) may not continue this interrupted run
    saved at saved_at (seconds since the epoch), or None if it may."""
    key = summary.get("owner_key")
    if key is None:
        return None
    if secret is not None and hmac.compare_digest(owner_key(secret), key):
        return None
    waited = (time.time() if now is None else now) - saved_at
    if waited >= OWNER_GONE_SECONDS:
        return None
    minutes = math.ceil((OWNER_GONE_SECONDS - waited) / 60)
    return (
        f"only the browser that started it can continue it for {minutes} more minute"
        f"{'s' if minutes != 1 else ''}; {OWNER_GONE_SECONDS // 60} minutes after it was "
        "saved its owner counts as gone, and anyone can"
    )


def saved_at(run_dir: str | Path) -> float:
    """Return when the run's summary was last written (its last checkpoint)."""
    return (Path(run_dir) / "summary.json").stat().st_mtime
