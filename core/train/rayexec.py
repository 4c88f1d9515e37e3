"""Training on Ray: each job a Ray task, its events and its controls through one hub actor.

A job is its settings in and its events out (core.train.run.run_job), so a Ray task can run it
as a worker process does. The task pushes its events to the hub every PUMP_SECONDS and gets
back, in the same call, whether to stop or pause and any steering request; the server long-polls
the hub for the events. One round trip per pump, not per training step: a step of seed-mlp-128
takes about a millisecond, a call to an actor about as long.

The cluster is $RAY_ADDRESS; without one, a local Ray is started for this process. Ray is an
optional dependency (requirements-ray.txt): without it, choosing this executor says how to
install it. Each task runs in a Ray worker process, which Ray keeps and reuses for the next task,
so torch and MNIST are loaded once per worker here too. This module is the server's side; what
runs inside Ray (the hub, the tasks) is core.train.raytask.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.events import TERMINAL, Event, Failed, event_from_dict
from core.train.control import TrainControl
from core.train.raytask import RayUnavailable, import_ray, remote_parts
from core.train.steering import ChangeSettings, OneBatch

log = logging.getLogger("digitlab.ray")
ADDRESS_ENV = "RAY_ADDRESS"
REPO = Path(__file__).resolve().parent.parent.parent
POLL_SECONDS = 0.25  # the longest a poll of the hub waits for events before looking again
# Ray's memory resource for a task: the budget's estimate of the run, plus the worker process
# itself (Python, torch and MNIST: about 0.5 GB measured for an idle local worker)
WORKER_BASE_BYTES = 500_000_000
CAPACITY_CACHE_SECONDS = 10.0
CONNECT_TIMEOUT = 30.0  # seconds to start a local Ray or reach a cluster (Ray itself retries on)


class _RemoteFlag:
    """A threading.Event look-alike whose set and clear also reach the job's task on Ray."""

    def __init__(self, on_change: Callable[[bool], None], value: bool) -> None:
        self._on_change = on_change
        self._value = value

    def set(self) -> None:
        self._value = True
        self._on_change(True)

    def clear(self) -> None:
        self._value = False
        self._on_change(False)

    def is_set(self) -> bool:
        return self._value

    def wait(self, timeout: float | None = None) -> bool:
        return self._value


class _RemoteMailbox:
    """Steering requests from the server to the job's task, through the hub."""

    def __init__(self, post: Callable[[ChangeSettings | OneBatch], None]) -> None:
        self._post = post

    def send(self, request: ChangeSettings | OneBatch) -> None:
        self._post(request)

    def take(self) -> None:
        return None  # the task takes them, on its side

    def clear(self) -> None:
        """Nothing is held here."""

    def close(self) -> None:
        """Nothing to release."""


def failure_reason(exc: BaseException) -> str:
    """Return what a person reads when Ray ends a job's task: killed, lost node, out of memory."""
    ray = import_ray()
    errors = ray.exceptions
    if isinstance(exc, errors.TaskCancelledError):
        return "its Ray task was cancelled"
    if isinstance(exc, getattr(errors, "OutOfMemoryError", ())):
        return "Ray's memory monitor killed its worker (out of memory)"
    if isinstance(exc, getattr(errors, "NodeDiedError", ())):
        return "the node it trained on was lost"
    if isinstance(exc, errors.WorkerCrashedError | errors.RayActorError):
        return "the Ray worker training it died"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first[:300]


class _RayOwner:
    """A thread that starts (or joins) Ray and lives as long as it is needed.

    Ray starts a local cluster's processes with PR_SET_PDEATHSIG, which kills them when the
    *thread* that started them ends, not the process: started from a page's script thread,
    which ends with the browser session, the cluster died a second later, and the server with
    it. So one thread owns Ray from init to shutdown.
    """

    def __init__(self, ray, options: dict) -> None:
        self.ray, self.options = ray, options
        self.started_local = "address" not in options
        self._ready, self._closing = threading.Event(), threading.Event()
        self._error: BaseException | None = None
        self._timed_out = False
        self._thread = threading.Thread(target=self._own, name="ray-owner", daemon=True)
        self._thread.start()
        self.wait()

    def wait(self) -> None:
        """Wait for Ray to start or connect; raise RayUnavailable if it cannot, or takes long."""
        where = self.options.get("address") or "a local Ray"
        # the first caller waits; later ones are told at once while Ray still tries
        if not self._ready.wait(0 if self._timed_out else CONNECT_TIMEOUT):
            self._timed_out = True
            raise RayUnavailable(f"could not reach {where} within {CONNECT_TIMEOUT:.0f} s")
        if self._error is not None:
            raise RayUnavailable(f"could not connect to {where}: {self._error}") from self._error

    def _own(self) -> None:
        try:
            self.ray.init(**self.options)
        except Exception as exc:  # a wrong address, a cluster that is down
            self._error = exc
            return
        finally:
            self._ready.set()
        self._closing.wait()
        self.ray.shutdown()

    def close(self) -> None:
        """Shut Ray down from the thread that started it."""
        self._closing.set()
        self._thread.join(timeout=30)


class RayExecutor:
    """Runs each job as a Ray task on $RAY_ADDRESS, or on a local Ray started for this process."""

    name = "ray"

    def __init__(self, address: str | None = None, threads: int | None = None) -> None:
        self.ray = import_ray()
        self.address = address if address is not None else os.environ.get(ADDRESS_ENV) or None
        self._threads = threads
        self._hub = None
        self._owner: _RayOwner | None = None
        self._lock = threading.Lock()
        self._tasks: dict[str, object] = {}  # run id -> the task's ObjectRef, while it runs
        self._capacity: tuple[float, int] | None = None
        self._warmed = False
        self.problem: str | None = None  # why the cluster could not be reached, last time
        self._relays: set[threading.Thread] = set()
        self._closing = threading.Event()

    # the cluster
    def _connect(self):
        try:
            return self._connect_once()
        except RayUnavailable as exc:
            self.problem = str(exc)  # the sidebar says so
            raise

    def _connect_once(self):
        with self._lock:
            if self._hub is not None:
                return self._hub
            if self._owner is not None:  # still connecting, or it failed: ask it again
                self._owner.wait()
            elif not self.ray.is_initialized():
                self._owner = _RayOwner(self.ray, self._init_options())
            JobHub, _, _ = remote_parts()
            self._hub = JobHub.remote()
            self.problem = None
            return self._hub

    def _init_options(self) -> dict:
        options: dict = {"include_dashboard": False, "log_to_driver": False}
        if self.address:
            options["address"] = self.address
        else:
            # the workers import core from this checkout, as the local workers do
            path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
            options["num_cpus"] = os.cpu_count() or 1
        return options

    @property
    def threads(self) -> int:
        """Torch threads (and Ray CPUs) per job: as a local worker's on a local Ray, else 1."""
        from core.train.device import THREADS_ENV, worker_threads

        if self._threads:
            return self._threads
        if not self.address:
            return worker_threads()
        return worker_threads(1) if not os.environ.get(THREADS_ENV) else worker_threads()

    def capacity(self) -> int:
        """Return how many jobs the cluster has room for at once (its CPUs over each job's)."""
        now = time.monotonic()
        if self._capacity and now - self._capacity[0] < CAPACITY_CACHE_SECONDS:
            return self._capacity[1]
        self._connect()
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        capacity = max(1, int(cpus // self.threads))
        self._capacity = (now, capacity)
        return capacity

    def describe(self) -> dict:
        """Return what the sidebar shows: the executor, the cluster and its CPUs."""
        if self._hub is None:
            return {
                "executor": self.name,
                "address": self.address or "local",
                "cpus": None,
                "problem": self.problem,
            }
        resources = self.ray.cluster_resources()
        return {
            "executor": self.name,
            "address": self.address or "local",
            "cpus": int(resources.get("CPU", 0)),
            "gpus": int(resources.get("GPU", 0)),
            "nodes": len([n for n in self.ray.nodes() if n.get("Alive")]),
        }

    def _task_options(self, request) -> dict:
        from core.spec.budget import estimate_memory

        gpus = self.ray.cluster_resources().get("GPU", 0)
        device = request.config.device
        wants_gpu = device == "cuda" or (device == "auto" and gpus >= 1)
        return {
            "num_cpus": self.threads,
            "num_gpus": 1 if wants_gpu else 0,
            "memory": estimate_memory(request.spec, request.config) + WORKER_BASE_BYTES,
            "name": f"train {request.run_id}",
        }

    # the executor's interface, as ProcessExecutor's
    def start(self, job) -> TrainControl:
        """Submit the job as a Ray task; relay its events to job.publish; return its control."""
        hub = self._connect()
        ray, run_id = self.ray, job.run_id
        _, train_task, _ = remote_parts()
        ray.get(hub.open.remote(run_id))
        ref = train_task.options(**self._task_options(job.request)).remote(
            job.request.to_dict(), hub, self.threads
        )
        with self._lock:
            self._tasks[run_id] = ref
        control = TrainControl(
            _RemoteFlag(lambda on: hub.control.remote(run_id, stop=on or None), False),
            _RemoteFlag(lambda on: hub.control.remote(run_id, running=on), True),
            _RemoteMailbox(lambda request: hub.control.remote(run_id, request=request)),
        )
        relay = threading.Thread(
            target=self._relay, args=(run_id, ref, job.publish), name="ray-relay", daemon=True
        )
        with self._lock:
            self._relays.add(relay)
        relay.start()
        return control

    def _relay(self, run_id: str, ref, publish: Callable[[Event], None]) -> None:
        ray, hub = self.ray, self._hub
        ended = False

        def forward(batch: list[dict]) -> None:
            nonlocal ended
            for data in batch:
                try:
                    event = event_from_dict(data)
                except (TypeError, ValueError) as exc:
                    log.error("a Ray task sent something that is not an event: %s", exc)
                    continue
                if ended:
                    continue
                ended = isinstance(event, TERMINAL)
                try:
                    publish(event)
                except Exception:  # a page's bug must not stop the events of the job
                    log.exception("publishing a %s event failed", event.kind)

        try:
            while not ended and not self._closing.is_set():
                try:
                    forward(ray.get(hub.drain.remote(run_id, POLL_SECONDS), timeout=60))
                except ray.exceptions.RayError as exc:
                    forward([Failed(message=f"lost the Ray cluster ({exc})").to_dict()])
                    break
                if ended:
                    break
                finished, _ = ray.wait([ref], timeout=0)
                if not finished:
                    continue
                try:
                    ray.get(ref)
                    failure = "its Ray task ended without a result"
                except ray.exceptions.RayError as exc:
                    failure = f"the training on Ray ended unexpectedly ({failure_reason(exc)})"
                forward(ray.get(hub.drain.remote(run_id, 0.0)))  # what it sent before it ended
                forward([Failed(message=failure).to_dict()])
        finally:
            with self._lock:
                self._tasks.pop(run_id, None)
                self._relays.discard(threading.current_thread())
            if not self._closing.is_set():
                with contextlib.suppress(Exception):  # the cluster is gone: nothing to tidy
                    hub.close.remote(run_id)

    def running_tasks(self) -> dict[str, object]:
        """Return the ObjectRef of each job's task still running, by run id."""
        with self._lock:
            return dict(self._tasks)

    def warm(self, data_dir: str | None = None) -> None:
        """Connect to the cluster and load torch and MNIST in a worker, in the background, so
        that Start does not wait for them. Once per executor: the Train page asks on every run."""
        if self._warmed:
            return
        self._warmed = True

        def connect() -> None:
            try:
                self._connect()
                _, _, warm_task = remote_parts()
                warm_task.options(num_cpus=self.threads).remote(data_dir)
            except RayUnavailable as exc:
                log.warning("%s", exc)  # Start will say so in the page

        threading.Thread(target=connect, name="ray-connect", daemon=True).start()

    def close(self) -> None:
        """Cancel the tasks still running; end the local Ray this process started."""
        for ref in self.running_tasks().values():
            with contextlib.suppress(Exception):  # already ended
                self.ray.cancel(ref, force=True)
        with self._lock:
            relays = list(self._relays)
        for relay in relays:  # each ends its job as failed, "its Ray task was cancelled"
            relay.join(timeout=10)
        self._closing.set()  # and nothing calls Ray from here on
        if self._owner is not None:
            self._owner.close()
            self._owner = None
        self._hub = None
