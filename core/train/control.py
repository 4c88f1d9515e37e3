"""The loop's remote: pause, resume and stop flags, and the mailbox of steering requests.

Whoever watches a training (a page, a notebook, the job server) holds the same TrainControl as
the loop; the loop reads it between steps (core.train.steering says what the requests do).
"""

from __future__ import annotations

import threading
import time

from core.train.steering import ChangeSettings, Mailbox, OneBatch


class TrainControl:
    """Pause, resume and stop flags shared between a training loop and whoever watches it, and
    a mailbox of steering requests (new settings, one batch) that the loop takes between steps.

    The flags are threading.Event-like objects; a worker process is given multiprocessing
    events and a process Mailbox, so that the server can steer a loop in another process.
    """

    def __init__(self, stop_flag=None, running_flag=None, mailbox: Mailbox | None = None) -> None:
        self._stop = stop_flag if stop_flag is not None else threading.Event()
        self._running = running_flag if running_flag is not None else threading.Event()
        if running_flag is None:
            self._running.set()
        self.mailbox = mailbox if mailbox is not None else Mailbox()

    def reset(self) -> None:
        """Clear a stop, a pause and any request not taken, for the next job on the same flags."""
        self._stop.clear()
        self._running.set()
        self.mailbox.clear()

    def send(self, request: ChangeSettings | OneBatch) -> None:
        """Hand the loop a request; it takes it before its next step."""
        self.mailbox.send(request)

    def next_request(self) -> ChangeSettings | OneBatch | None:
        """Return the oldest request the loop has not taken yet, or None."""
        return self.mailbox.take()

    def stop(self) -> None:
        """Ask the loop to stop after the current step."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Ask the loop to wait after the current step."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused loop go on."""
        self._running.set()

    @property
    def stopped(self) -> bool:
        """Return whether a stop was asked for."""
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        """Return whether the loop is asked to wait (and not to stop)."""
        return not self._running.is_set() and not self._stop.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> float:
        """Block while paused, at most timeout seconds; return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        started = time.perf_counter()
        deadline = None if timeout is None else started + timeout
        while not self._running.wait(0.05):
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return time.perf_counter() - started
