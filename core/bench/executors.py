"""python -m core bench --executors: the local worker processes against Ray, in one run.

For each executor: the seconds from submit to the first event of training for a cold worker
(torch and MNIST to load) and, over STARTS tiny jobs, for a warm one (what the executor itself
adds to a job's start); then a race of SEEDS seeds of a preset, its wall time and each run's own
training seconds. The local executor trains one job at a time; Ray as many as it has CPUs for.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

from core.events import Started, Step
from core.runs.store import read_summary
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.presets import get_preset
from core.train.executors import make_executor
from core.train.job import Job
from core.train.jobs import JobRegistry
from core.train.race import apply_settings, plan_race

STARTS = 5  # warm starts timed per executor
TINY = {"epochs": 1, "train_fraction": 0.02}  # a job that is nearly all start


def _timed_job(registry: JobRegistry, job: Job) -> float:
    """Submit the job, wait for it; return the seconds from submit to its Started event."""
    submitted, started = time.perf_counter(), []

    def hear(event) -> None:
        if isinstance(event, Started) and not started:
            started.append(time.perf_counter())

    job.listener = hear
    registry.enqueue(job)
    job.wait()
    if job.state != "finished":
        raise RuntimeError(f"a bench job ended {job.state}: {job.error}")
    return started[0] - submitted


def measure_executor(name: str, preset: str, seeds: int, epochs: int, data, runs) -> dict:
    """Return one executor's cold and warm start seconds and its race's wall and run seconds."""
    executor = make_executor(name)
    registry = JobRegistry(executor=executor)
    try:
        connect = time.perf_counter()
        slots = registry.max_concurrent  # Ray: connects, or starts a local Ray
        connect = time.perf_counter() - connect
        cold = _timed_job(
            registry, Job.create(ModelSpec(), TrainConfig(**TINY), "cold", data, runs)
        )
        warm = [
            _timed_job(registry, Job.create(ModelSpec(), TrainConfig(**TINY), "warm", data, runs))
            for _ in range(STARTS)
        ]
        spec, config = get_preset(preset).fresh()
        spec, config = apply_settings(spec, config, {"epochs": epochs})
        delays: list[float] = []  # from a step's event made in the trainer to the server's hands

        def hear(event) -> None:
            if isinstance(event, Step):
                delays.append(time.time() - event.time)

        jobs = [
            Job.create(e.spec, e.config, preset, data, runs, listener=hear, race=f"bench-{name}")
            for e in plan_race(spec, config, seeds)
        ]
        began = time.perf_counter()
        for job in jobs:
            registry.enqueue(job)
        for job in jobs:
            job.wait()
        wall = time.perf_counter() - began
        if any(job.state != "finished" for job in jobs):
            raise RuntimeError(f"a race run failed on {name}: {[j.error for j in jobs]}")
        summaries = [read_summary(job.run_dir) or {} for job in jobs]
    finally:
        registry.close()
    return {
        "executor": name,
        "slots": slots,
        "connect_seconds": connect,
        "cold_start_seconds": cold,
        "warm_start_seconds": statistics.median(warm),
        "race_wall_seconds": wall,
        "run_seconds": [s["seconds"] for s in summaries],
        "accuracies": [s["test_accuracy"] for s in summaries],
        "step_events": len(delays),
        "event_delay_p50": statistics.median(delays),
        "event_delay_p95": statistics.quantiles(delays, n=20)[-1],
    }


def run_executor_bench(args) -> int:
    """Print the table of local against Ray, and a JSON line last."""
    preset, seeds, epochs = args.preset or "seed-mlp-128", 4, 2
    with tempfile.TemporaryDirectory(prefix="digitlab-executors-") as runs:
        results = [
            measure_executor(name, preset, seeds, epochs, args.data, runs)
            for name in ("local", "ray")
        ]
    local, ray = results
    print(
        f"\n{seeds} seeds of {preset}, {epochs} epochs each; starts timed from submit to the first event\n"
    )
    print("| executor | runs at once | connect | cold start | warm start (median of 5) "
          "| race wall time | seconds per run (mean) | test accuracy (mean) "
          "| step event to server, p50 / p95 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['executor']} | {r['slots']} | {r['connect_seconds']:.2f} s "
            f"| {r['cold_start_seconds']:.2f} s | {r['warm_start_seconds'] * 1000:.0f} ms "
            f"| {r['race_wall_seconds']:.1f} s | {statistics.mean(r['run_seconds']):.2f} s "
            f"| {statistics.mean(r['accuracies']):.2%} "
            f"| {r['event_delay_p50'] * 1000:.0f} / {r['event_delay_p95'] * 1000:.0f} ms |"
        )
    ratio = local["race_wall_seconds"] / ray["race_wall_seconds"]
    added = ray["warm_start_seconds"] - local["warm_start_seconds"]
    print(
        f"\nRay finished the race {ratio:.2f}× as fast; it adds {added * 1000:+.0f} ms to a warm start."
    )
    print(json.dumps({"preset": preset, "seeds": seeds, "epochs": epochs, "results": results,
                      "race_speedup": ratio, "ray_added_start_seconds": added}))  # fmt: skip
    return 0
