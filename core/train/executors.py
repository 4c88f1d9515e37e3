"""Where a job runs: "local" (the default) in a long-lived worker process per concurrent slot,
"thread" in a thread of this process (the CLI, and tests that patch the trainer), "ray" as
a task on a Ray cluster (core.train.rayexec)."""

from __future__ import annotations

import atexit
import os
import threading
import weakref

from core.train.control import TrainControl
from core.train.job import Job
from core.train.run import run_job
from core.train.worker import Worker

_OPEN_EXECUTORS: weakref.WeakSet = weakref.WeakSet()  # closed at exit, if still open

EXECUTOR_ENV = "DIGITLAB_EXECUTOR"
EXECUTORS = ("local", "thread", "ray")


class ThreadExecutor:
    """Runs each job in a thread of this process (the CLI's way; tests that patch the trainer)."""

    name = "thread"
    parks = True  # a paused job's thread waits without a slot (core.train.parking)

    def start(self, job: Job) -> TrainControl:
        """Start the job now; return its control."""
        control = TrainControl()
        threading.Thread(
            target=run_job,
            args=(job.request, job.publish, control),
            name=f"train-{job.run_id}",
            daemon=True,
        ).start()
        return control

    def warm(self, data_dir: str | None = None) -> None:
        """Nothing to prepare."""

    def capacity(self) -> int:
        """One job at a time: a second would halve the first one's speed on a laptop."""
        return 1

    def describe(self) -> dict:
        """Return what the sidebar shows."""
        return {"executor": self.name}

    def close(self) -> None:
        """Nothing to release."""


_EXIT_HANDLER = []  # registered once per process, not once per executor


def _close_open_executors() -> None:
    for executor in list(_OPEN_EXECUTORS):
        executor.close()


def _remember_for_exit(executor) -> None:
    # registered at the first executor, after multiprocessing's own exit handler, so that it
    # runs first (atexit runs in reverse): the workers end quietly instead of being terminated
    _OPEN_EXECUTORS.add(executor)
    if not _EXIT_HANDLER:
        atexit.register(_close_open_executors)
        _EXIT_HANDLER.append(_close_open_executors)


class ProcessExecutor:
    """Runs each job in a worker process, one per concurrent slot, started on demand, reused."""

    name = "local"
    parks = True  # a paused job's process keeps it in memory and uses no CPU

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._workers: list[Worker] = []
        # reentrant: a worker that dies as it is handed a job publishes its failure, and the
        # registry then trims the workers, from within start()
        self._lock = threading.RLock()
        _remember_for_exit(self)

    def _idle_worker(self, data_dir: str | None = None) -> Worker:
        # called with the lock held
        self._workers = [w for w in self._workers if w.alive]
        for worker in self._workers:
            if not worker.busy:
                return worker
        worker = Worker(self.threads, data_dir)
        self._workers.append(worker)
        return worker

    def start(self, job: Job) -> TrainControl:
        """Send the job to an idle worker (a new one if none is idle); return its control."""
        with self._lock:  # busy before trim() can see the chosen worker idle
            worker = self._idle_worker(job.request.data_dir)
            return worker.start(job.request, job.publish)

    def warm(self, data_dir: str | None = None) -> None:
        """Start a worker now (loading torch and MNIST), so that Start does not wait for them."""
        with self._lock:
            if not any(w.alive for w in self._workers):
                self._idle_worker(data_dir)

    def trim(self) -> None:
        """End the idle workers but one (a parked job's successor started another)."""
        with self._lock:
            idle = [w for w in self._workers if w.alive and not w.busy]
            extra = idle[1:]
            self._workers = [w for w in self._workers if w not in extra]
        for worker in extra:
            worker.close()

    def capacity(self) -> int:
        """One job at a time: each worker already uses all but one of the machine's cores."""
        return 1

    def describe(self) -> dict:
        """Return what the sidebar shows."""
        return {"executor": self.name}

    def workers(self) -> list[Worker]:
        """Return the live workers."""
        with self._lock:
            return [w for w in self._workers if w.alive]

    def close(self) -> None:
        """End every worker."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()


def make_executor(name=None):
    """Return the executor named (default $DIGITLAB_EXECUTOR, else 'local': worker processes).

    An executor object is returned as it is, so that registries can share one. 'ray' raises
    RayUnavailable (a ValueError saying how to install it) where Ray is not installed.
    """
    if name is not None and not isinstance(name, str):
        return name
    name = name or os.environ.get(EXECUTOR_ENV) or "local"
    if name == "local":
        return ProcessExecutor()
    if name == "thread":
        return ThreadExecutor()
    if name == "ray":
        from core.train.rayexec import RayExecutor  # Ray is optional: imported only when chosen

        return RayExecutor()
    raise ValueError(f"{EXECUTOR_ENV}: {name!r} is not one of {', '.join(EXECUTORS)}")
