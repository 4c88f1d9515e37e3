"""python -m core bench --overhead: what a run costs beyond its bare steps, and how that grows.

For every preset, a short run and one 10× longer (the same settings but `iterations`) are
trained twice: from the CLI's path (the job in this process, as `python -m core train` runs it)
and in the app's worker process, with a thread here polling the job as the Train page does. Each
run's own training seconds (its summary) are set against the time of its bare steps measured
in the same process with the same threads: the trainer's own batches through forward, backward
and update, and nothing else (no events, validation, probes, replay, checkpoints). The table
gives the overhead (run ÷ bare − 1) of the long runs, how the run's time grew from short to
long (10× the steps), and the estimate the Train page shows next to the measurement.

seed-3v7 is also set against the seed's own loop: the same full-batch steps of the 784→1
neuron on the same 3s and 7s, written as a plain autograd loop (issue 22's comparison).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from core.data.mnist import make_task, resolve_data_dir, shared_mnist
from core.data.mydigits import with_my_digits
from core.runs.store import read_summary
from core.spec.presets import PRESETS, get_preset
from core.train import steptime, timebudget
from core.train.race import apply_settings
from core.train.steptime import time_steps
from core.train.trainer import Trainer

TARGET_SHORT_SECONDS = 1.0  # the short run's bare steps take about this; the long one 10×
GROWTH = 10
CLI_TARGET, APP_TARGET, GROWTH_TARGET = 0.10, 0.20, 10.5
PAGE_POLL_SECONDS = 0.5  # how often the Train page's live fragment reads the job


def _task(config, data_dir):
    mnist = shared_mnist(data_dir, config.dataset)
    task = make_task(mnist, tuple(config.classes), config.train_fraction, config.val_fraction)
    return with_my_digits(task, config.my_digits, config.my_digits_repeat, data_dir)


def bare_seconds(spec, config, data_dir, steps: int) -> float:
    """Return the seconds of `steps` bare training steps: batches, forward, backward, update."""
    return time_steps(Trainer(spec, config, _task(config, data_dir)), steps)


def settings_for(name: str, steps: int):
    """Return the preset's spec and config set to train exactly `steps` steps."""
    spec, config = get_preset(name).fresh()
    return apply_settings(spec, config, {"iterations": steps})


def cli_run_seconds(spec, config, name: str, data_dir, runs_dir) -> float:
    """Train as `python -m core train` does (a job run in this process); return its seconds."""
    from core.train.callbacks import ProgressBar
    from core.train.job import Job

    job = Job.create(
        spec, config, name, data_dir, runs_dir, listener=ProgressBar(io.StringIO()), live=False
    )
    job.run()
    return _finished_seconds(job)


def _finished_seconds(job) -> float:
    if job.state != "finished":
        raise RuntimeError(f"a bench run ended {job.state}: {job.error}")
    return float(read_summary(job.run_dir)["seconds"])


def watch_like_the_train_page(job, stop: threading.Event, etas: list) -> None:
    """Read the job as the Train page's live fragment does, every PAGE_POLL_SECONDS; keep the
    (time, seconds left) pairs the page would show in etas."""
    from core.events import FeaturesSnapshot, ModelSnapshot, WeightsSnapshot

    known = 0
    while not stop.wait(PAGE_POLL_SECONDS):
        job.touch()
        left = job.progress()["eta_seconds"]
        if left is not None:
            etas.append((time.perf_counter(), left))
        new = job.steps(known)
        known += len(new)
        [(s.step, s.loss, s.lr) for s in new]  # the page's step columns take these
        job.epochs()
        job.settings_changes()
        for kind in (WeightsSnapshot, FeaturesSnapshot, ModelSnapshot):
            job.snapshot(kind)


def app_run_seconds(registry, spec, config, name: str, data_dir, runs_dir, etas=None) -> float:
    """Train in the app's worker process, watched as the Train page watches; return seconds.
    etas, if given, receives the page's "left" counter's errors (shown ÷ true seconds left − 1)
    while more than a second was left."""
    from core.train.job import Job

    job = registry.enqueue(Job.create(spec, config, name, data_dir, runs_dir))
    stop, shown = threading.Event(), []
    watcher = threading.Thread(
        target=watch_like_the_train_page, args=(job, stop, shown), daemon=True
    )
    watcher.start()
    try:
        job.wait()
        ended = time.perf_counter()
    finally:
        stop.set()
        watcher.join()
    if etas is not None:
        etas += [left / (ended - at) - 1 for at, left in shown if ended - at > 1.0]
    return _finished_seconds(job)


def seed_own_loop_seconds(data_dir, steps: int) -> float:
    """Return the seconds of the seed's plain loop: one sigmoid neuron, MSE, full-batch SGD."""
    spec, config = get_preset("seed-3v7").fresh()
    train = _task(config, data_dir).train
    x = train.images.flatten(1).float() / 255
    y = train.labels.float()
    torch.manual_seed(0)
    w, b = torch.randn(784, requires_grad=True), torch.randn(1, requires_grad=True)
    started = time.perf_counter()
    for _ in range(steps):
        loss = ((torch.sigmoid(x @ w + b) - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= config.lr * w.grad
            b -= config.lr * b.grad
            w.grad = b.grad = None
    float(loss.detach())
    return time.perf_counter() - started


def short_steps(name: str, data_dir) -> int:
    """Return the steps whose bare time is about TARGET_SHORT_SECONDS for this preset."""
    probe = 5
    spec, config = settings_for(name, probe * 2)
    bare_seconds(spec, config, data_dir, probe)  # warm-up: allocation, oneDNN's first calls
    per_step = bare_seconds(spec, config, data_dir, probe) / probe
    return max(10, round(TARGET_SHORT_SECONDS / per_step))


def measure_preset(
    name: str, data_dir, runs_dir, registry, worker_threads: int, rounds: int = 1
) -> dict:
    """Return one preset's bare and run seconds, short and long, on both paths, and estimate;
    with rounds > 1, the medians of that many alternations of bare steps and run."""
    short = short_steps(name, data_dir)
    row: dict = {"preset": name, "short_steps": short, "long_steps": short * GROWTH}
    cli_threads = torch.get_num_threads()
    etas: list[float] = []
    estimates: list[float] = []
    for path in ("cli", "app"):
        threads = cli_threads if path == "cli" else worker_threads
        for length, steps in (("short", short), ("long", short * GROWTH)):
            spec, config = settings_for(name, steps)
            bares, runs = [], []
            for _ in range(rounds):  # alternated, so that the machine's drift hits both alike
                torch.set_num_threads(threads)
                try:
                    bares.append(bare_seconds(spec, config, data_dir, steps))
                finally:
                    torch.set_num_threads(cli_threads)
                if path == "cli":
                    runs.append(cli_run_seconds(spec, config, name, data_dir, runs_dir))
                else:
                    shown = etas if length == "long" else None
                    runs.append(
                        app_run_seconds(registry, spec, config, name, data_dir, runs_dir, shown)
                    )
                    if length == "long":  # the page's estimate, timed afresh each round
                        steptime.forget()
                        estimates.append(timebudget.estimate_seconds(spec, config, runs_dir))
            row[f"{path}_{length}_bare"] = statistics.median(bares)
            row[f"{path}_{length}_run"] = statistics.median(runs)
        row[f"{path}_overhead"] = row[f"{path}_long_run"] / row[f"{path}_long_bare"] - 1
        row[f"{path}_growth"] = row[f"{path}_long_run"] / row[f"{path}_short_run"]
    if etas:
        row["eta_error_median"] = statistics.median(etas)
        row["eta_error_worst"] = max(etas, key=abs)
    spec, config = settings_for(name, short * GROWTH)
    # the Train page's estimate (its step timed as the page times it, or the constants with
    # the correction the runs so far taught this runs folder): the median of the rounds'
    row["estimate"] = statistics.median(estimates)
    row["estimate_spread"] = (min(estimates), max(estimates))
    row["raw_estimate"] = timebudget.raw_estimate(spec, config)  # a fresh runs folder's
    return row


def growth_ok(row: dict, path: str) -> bool:
    """Return whether the 10× run's time grew by at most GROWTH_TARGET, or by at most 5% more
    than its bare steps' own time grew (on this shared machine the steps alone can take 12×)."""
    bare = row[f"{path}_long_bare"] / row[f"{path}_short_bare"]
    return row[f"{path}_growth"] <= max(GROWTH_TARGET, bare * GROWTH_TARGET / GROWTH)


def _estimate_cell(row: dict) -> str:
    """Return the estimate, its error against the app's run and, over rounds, its range."""
    error = row["estimate"] / row["app_long_run"] - 1
    low, high = (e / row["app_long_run"] - 1 for e in row["estimate_spread"])
    spread = f"; {low:+.0%}..{high:+.0%}" if high > low else ""
    return f"{row['estimate']:.1f} s ({error:+.0%}{spread})"


def print_table(rows: list[dict]) -> None:
    """Print the markdown table of the measured rows."""
    print(
        "\n| preset | steps short / long | CLI overhead | CLI 10× run (its steps) | app overhead "
        "| app 10× run (its steps) | app long run | estimate | left counter (worst) |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        cells = []
        for path, target in (("cli", CLI_TARGET), ("app", APP_TARGET)):
            overhead = r[f"{path}_overhead"]
            bare = r[f"{path}_long_bare"] / r[f"{path}_short_bare"]
            cells.append(f"{overhead:+.1%}{'' if overhead <= target else ' ✗'}")
            mark = "" if growth_ok(r, path) else " ✗"
            cells.append(f"{r[f'{path}_growth']:.2f}× ({bare:.2f}×){mark}")
        print(
            f"| {r['preset']} | {r['short_steps']:,} / {r['long_steps']:,} | "
            + " | ".join(cells)
            + f" | {r['app_long_run']:.1f} s | {_estimate_cell(r)} | "
            f"{r.get('eta_error_median', math.nan):+.0%} ({r.get('eta_error_worst', math.nan):+.0%}) |"
        )


def run_overhead_bench(args) -> int:
    """Measure every preset (or --preset's) and print the table, then a JSON line."""
    from core.train.executors import ProcessExecutor
    from core.train.jobs import JobRegistry
    from core.train.worker import worker_threads

    data_dir = str(resolve_data_dir(args.data))
    names = [args.preset] if getattr(args, "preset", None) else list(PRESETS)
    threads = getattr(args, "worker_threads", None) or worker_threads()
    rounds = max(1, getattr(args, "repeat", None) or 1)  # a round of every preset: ~10 min
    runs = getattr(args, "runs", None)
    context = contextlib.nullcontext(runs) if runs else tempfile.TemporaryDirectory()
    with context as runs_dir:
        runs_dir = str(Path(runs_dir))
        registry = JobRegistry(executor=ProcessExecutor(threads))
        rows = []
        try:
            # the worker loads torch and MNIST first: a job through it, so that nothing else
            # runs beside the measurements
            spec, config = settings_for("seed-3v7", 5)
            app_run_seconds(registry, spec, config, "warm-up", data_dir, runs_dir)
            for name in names:
                rows.append(measure_preset(name, data_dir, runs_dir, registry, threads, rounds))
                print(json.dumps(rows[-1]), flush=True)
            seed = None
            if "seed-3v7" in names:
                spec, config = get_preset("seed-3v7").fresh()
                preset = cli_run_seconds(spec, config, "seed-3v7", data_dir, runs_dir)
                own = seed_own_loop_seconds(data_dir, config.iterations)
                seed = {"preset_seconds": preset, "own_loop_seconds": own, "ratio": preset / own}
        finally:
            registry.close()
    print(
        f"\nbare steps and runs on {torch.get_num_threads()} threads (CLI) and {threads} "
        f"(the app's worker), medians of {rounds} alternating round(s); targets: overhead ≤ {CLI_TARGET:.0%} (CLI), ≤ {APP_TARGET:.0%} "
        f"(app, watched), a 10× run ≤ {GROWTH_TARGET}× the time (or ≤ 1.05× its bare steps' "
        "growth); ✗ marks a miss"
    )
    print_table(rows)
    if seed:
        print(
            f"\nseed-3v7 as the preset is ({config.iterations:,} steps): "
            f"{seed['preset_seconds']:.1f} s from the CLI's path against "
            f"{seed['own_loop_seconds']:.1f} s for the seed's own loop ({seed['ratio']:.2f}×)"
        )
    print(json.dumps({"rows": rows, "seed_3v7": seed}))
    return 0
