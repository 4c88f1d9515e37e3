"""The process side of training: long-lived worker processes that run one job at a time.

The server sends a worker a JobRequest as a dict; the worker trains it with run_job() and sends
every event back as a dict, so the server's process only relays them to pages and never holds
the GIL for a training step. Pause and stop travel as two multiprocessing events that the
training loop checks between steps, steering requests (new settings, one batch) in a process
Mailbox beside them. A worker is reused for the next job: torch and MNIST are
loaded once. If it dies, the server-side Worker reports the job as failed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core.events import TERMINAL, Event, Failed, event_from_dict
from core.train.control import TrainControl
from core.train.device import THREADS_ENV, worker_threads  # noqa: F401 (their old home)
from core.train.run import JobRequest, run_job
from core.train.steering import Mailbox

log = logging.getLogger("digitlab.worker")
# spawn, not fork: forking a server that already runs threads (Streamlit's, torch's) can
# deadlock the child; a spawned child imports what it needs afresh
CONTEXT = mp.get_context("spawn")


def worker_main(
    requests,
    events,
    stop_flag,
    running_flag,
    threads: int,
    data_dir: str | None = None,
    mailbox: Mailbox | None = None,
) -> None:
    """Run in the worker process: train each request that arrives until told to end."""
    import torch

    from core.data.mnist import DataUnavailable, shared_mnist

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's
    torch.set_num_threads(threads)
    if data_dir is not None:
        with contextlib.suppress(DataUnavailable):  # the job will say so
            shared_mnist(data_dir)  # decoded while the user still chooses settings
    control = TrainControl(stop_flag, running_flag, mailbox)

    def send(event: Event) -> None:
        events.send(event.to_dict())

    def send_many(group: list[Event]) -> None:
        events.send([event.to_dict() for event in group])

    try:
        while (message := requests.recv()) is not None:
            try:
                request = JobRequest.from_dict(message)
            except (TypeError, ValueError, KeyError) as exc:
                send(Failed(message=f"the job's settings did not arrive intact ({exc})"))
                continue
            run_job(request, send, control, send_many)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the server has gone: its last checkpoint is what it left


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without re-running the parent's main script in them.

    spawn re-imports the parent's __main__ in the child (as __mp_main__); a script that starts
    jobs at import time, without `if __name__ == "__main__"`, would start them again there.
    The worker needs nothing from __main__, so the child is shown an empty one.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = ", often the out-of-memory killer" if -exitcode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {exitcode}"


class Worker:
    """The server's handle on one worker process: send it a job, relay its events, see it die."""

    def __init__(self, threads: int | None = None, data_dir: str | None = None) -> None:
        # Pipe(duplex=False) gives (receiving end, sending end)
        child_requests, self._requests = CONTEXT.Pipe(duplex=False)
        self._events, child_events = CONTEXT.Pipe(duplex=False)
        stop_flag, running_flag = CONTEXT.Event(), CONTEXT.Event()
        mailbox = Mailbox(CONTEXT)
        self.control = TrainControl(stop_flag, running_flag, mailbox)
        self.process = CONTEXT.Process(
            target=worker_main,
            args=(
                child_requests,
                child_events,
                stop_flag,
                running_flag,
                threads or worker_threads(),
                data_dir,
                mailbox,
            ),
            name="digitlab-worker",
            daemon=True,
        )
        with _main_module_hidden():
            self.process.start()
        # the child's ends belong to the child now: closing ours lets EOF reach us when it dies
        child_requests.close()
        child_events.close()
        self._send_lock = threading.Lock()
        self.busy = False
        self.alive = True
        self.closing = False
        self._publish: Callable[[Event], None] | None = None
        self._relay = threading.Thread(target=self._relay_events, name="worker-relay", daemon=True)
        self._relay.start()

    def start(self, request: JobRequest, publish: Callable[[Event], None]) -> TrainControl:
        """Give the worker a job; its events go to publish; return the job's pause/stop control."""
        with self._send_lock:
            self.control.reset()
            self._publish = publish
            self.busy = True
            try:
                self._requests.send(request.to_dict())
                sent = True
            except (BrokenPipeError, OSError):
                sent = False
        if not sent:
            self._died()  # outside the lock, which it takes
        return self.control

    def _relay_events(self) -> None:
        while True:
            try:
                message = self._events.recv()
            except (EOFError, OSError):
                self._died()
                return
            for data in message if isinstance(message, list) else [message]:
                self._forward(data)

    def _forward(self, data: dict) -> None:
        try:
            event = event_from_dict(data)
        except (TypeError, ValueError) as exc:
            log.error("a worker sent something that is not an event: %s", exc)
            return
        publish = self._publish
        if isinstance(event, TERMINAL):
            # under the lock start() holds, the publish callback first: once busy is False the
            # registry may give this worker its next job, whose callback must not be wiped
            with self._send_lock:
                self._publish = None
                self.busy = False
        if publish is not None:
            try:
                publish(event)
            except Exception:  # a page's bug must not stop the events of the job
                log.exception("publishing a %s event failed", event.kind)

    def _died(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self.process.join(timeout=5)
        reason = _exit_reason(self.process.exitcode)
        with self._send_lock:
            publish, self._publish = self._publish, None
            busy, self.busy = self.busy, False
        if busy and publish is not None:
            publish(Failed(message=f"the training process ended unexpectedly ({reason})"))
        if not self.closing:
            log.warning("training worker %s ended (%s)", self.process.pid, reason)

    def close(self) -> None:
        """Ask the worker to end after its job, and stop it if it does not within seconds."""
        self.closing = True
        with contextlib.suppress(BrokenPipeError, OSError):
            self._requests.send(None)
        self.control.stop()
        self.control.mailbox.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
