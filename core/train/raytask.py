"""What runs inside Ray: the hub actor that holds each job's events and controls, the task
that trains a job (core.train.run.run_job, as a worker process does) and pumps its events to
the hub every PUMP_SECONDS, and the task that warms a Ray worker. Ray is imported only when
used: it is an optional dependency (requirements-ray.txt)."""

from __future__ import annotations

import contextlib
import threading
from functools import cache

from core.events import Event, Failed
from core.train.control import TrainControl

INSTALL_HINT = "pip install -r requirements-ray.txt"
PUMP_SECONDS = 0.1  # how often a task sends its events and learns of a stop, pause or request


class RayUnavailable(ValueError):
    """Ray is not installed, or the cluster cannot be reached; the message says what to do."""


def import_ray():
    """Return the ray module, or raise RayUnavailable saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            f"the ray executor needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    # Ray starts a local cluster by itself when any call finds none (RAY_ENABLE_AUTO_CONNECT,
    # read when ray is imported). A late call after shutdown did that from a short-lived thread,
    # whose cluster then died with it, and Ray ended the whole process a minute later
    with contextlib.suppress(ImportError, AttributeError):
        from ray._private import auto_init_hook

        auto_init_hook.enable_auto_connect = False
    return ray


class _Channel:
    """One job's side of the hub: events waiting for the server, controls waiting for the task."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.stop = False
        self.running = True
        self.requests: list = []
        self.arrived = None  # an asyncio.Event, made in the hub's event loop


@cache
def remote_parts():
    """Define the hub actor and the training task once Ray is imported (it is optional)."""
    import asyncio

    ray = import_ray()

    @ray.remote(num_cpus=0, max_restarts=0)
    class JobHub:
        """Holds every job's events and controls between the server and the tasks."""

        def __init__(self) -> None:
            self.channels: dict[str, _Channel] = {}

        def _channel(self, job_id: str) -> _Channel:
            channel = self.channels.get(job_id)
            if channel is None:
                channel = self.channels[job_id] = _Channel()
                channel.arrived = asyncio.Event()
            return channel

        async def open(self, job_id: str) -> None:
            self._channel(job_id)

        async def close(self, job_id: str) -> None:
            self.channels.pop(job_id, None)

        async def control(self, job_id: str, stop=None, running=None, request=None) -> None:
            channel = self._channel(job_id)
            if stop is not None:
                channel.stop = channel.stop or stop
            if running is not None:
                channel.running = running
            if request is not None:
                channel.requests.append(request)

        async def exchange(self, job_id: str, events: list[dict]) -> tuple[bool, bool, list]:
            """The task's call: hand over events, take the controls."""
            channel = self._channel(job_id)
            if events:
                channel.events.extend(events)
                channel.arrived.set()
            requests, channel.requests = channel.requests, []
            return channel.stop, channel.running, requests

        async def drain(self, job_id: str, timeout: float) -> list[dict]:
            """The server's call: the events so far, waiting up to timeout for the first."""
            channel = self._channel(job_id)
            if not channel.events:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(channel.arrived.wait(), timeout)
            events, channel.events = channel.events, []
            channel.arrived.clear()
            return events

    @ray.remote(max_retries=0)  # a retry would start the training over: a lost task ends its job
    def train_task(request: dict, hub, threads: int) -> None:
        run_in_task(request, hub, threads)

    @ray.remote(max_retries=0)
    def warm_task(data_dir: str | None) -> None:
        warm_worker(data_dir)

    return JobHub, train_task, warm_task


def warm_worker(data_dir: str | None) -> None:
    """Load torch and MNIST in a Ray worker, which keeps them for the tasks it runs next."""
    from core.data.mnist import DataUnavailable, shared_mnist

    with contextlib.suppress(DataUnavailable):  # the job will say so
        shared_mnist(data_dir)


def run_in_task(request_data: dict, hub, threads: int) -> None:
    """Run one job inside a Ray task: train it, pumping events to the hub and controls back."""
    import ray
    import torch

    from core.train.run import JobRequest, run_job

    torch.set_num_threads(threads)
    control = TrainControl()
    outbox: list[dict] = []
    lock = threading.Lock()
    job_id = request_data.get("run_id", "")
    done = threading.Event()

    def send(event: Event) -> None:
        with lock:
            outbox.append(event.to_dict())

    def send_many(group: list[Event]) -> None:
        with lock:
            outbox.extend(event.to_dict() for event in group)

    def pump_once() -> None:
        with lock:
            batch = outbox[:]
            outbox.clear()
        stop, running, requests = ray.get(hub.exchange.remote(job_id, batch))
        if stop:
            control.stop()
        elif running:
            control.resume()
        else:
            control.pause()
        for request in requests:
            control.send(request)

    def pump() -> None:
        while not done.wait(PUMP_SECONDS):
            try:
                pump_once()
            except Exception:  # the server and its hub are gone: stop, saving what was trained
                control.stop()
                return

    pump_once()  # a stop or pause sent while the task waited for room starts it that way
    pumper = threading.Thread(target=pump, name="ray-pump", daemon=True)
    pumper.start()
    try:
        try:
            request = JobRequest.from_dict(request_data)
        except (TypeError, ValueError, KeyError) as exc:
            send(Failed(message=f"the job's settings did not arrive intact ({exc})"))
        else:
            run_job(request, send, control, send_many)
    finally:
        done.set()
        pumper.join()
        pump_once()  # the last events, Done or Failed among them
