"""Training from the command line: python -m core train (one preset, one run) and python -m core
race (seeds and variants head to head), here or through an executor."""

from __future__ import annotations

import json
import sys
import time

from core.data.datasets import DATASETS
from core.runs.store import read_summary
from core.spec.config import DEVICES, ENGINES, OPTIMIZERS
from core.spec.presets import PRESETS, get_preset, suited_to
from core.train.executors import EXECUTORS

EXECUTOR_HELP = (
    "where to train: local (a worker process), ray (a Ray cluster: $RAY_ADDRESS, else a local "
    "Ray), thread; default: here, one run after another"
)


def cmd_train(args) -> int:
    """Train a preset, print its summary as a JSON line; return the exit status."""
    from core.train.callbacks import ProgressBar
    from core.train.job import Job

    spec, config = get_preset(args.preset).fresh()
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "seed": args.seed,
        "iterations": args.iterations,
        "engine": args.engine,
        "optimizer": args.optimizer,
        "momentum": args.momentum,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    if args.dataset is not None:
        suited_to(config, args.dataset, args.preset)
    if args.batch_size is not None:
        config.full_batch = False
    if args.epochs is not None:
        config.iterations = 0 if args.iterations is None else config.iterations
    config.validate()
    job = Job.create(
        spec, config, args.preset, args.data, args.runs, listener=ProgressBar(), live=False
    )
    try:
        run_jobs([job], args.executor)
    except ValueError as exc:  # the executor asked for cannot be used (e.g. Ray not installed)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if job.state == "failed":
        print(f"training failed: {job.error}", file=sys.stderr)
        return 1
    summary = (read_summary(job.run_dir) or {}) if job.run_dir else {}
    print(
        json.dumps(
            {
                "preset": args.preset,
                "dataset": config.dataset,
                "status": job.state,
                "test_accuracy": summary.get("test_accuracy"),
                "test_loss": summary.get("test_loss"),
                "seconds_per_epoch": summary.get("seconds_per_epoch"),
                "seconds": summary.get("seconds"),
                "device": summary.get("device"),
                "run_dir": str(job.run_dir),
            }
        )
    )
    return 0


def run_jobs(jobs: list, executor: str | None) -> list[float]:
    """Train the jobs, here one after another (executor None) or through an executor's registry
    (as many at once as it has room for); return each job's seconds from submit to start."""
    from core.events import Started
    from core.train.executors import make_executor
    from core.train.jobs import JobRegistry

    submitted: dict[str, float] = {}
    delays: dict[str, float] = {}

    def timed(job, listener):
        def hear(event) -> None:
            if isinstance(event, Started) and job.run_id not in delays:
                delays[job.run_id] = time.perf_counter() - submitted[job.run_id]
            if listener is not None:
                listener(event)

        return hear

    for job in jobs:
        job.listener = timed(job, job.listener)
    if executor is None:
        for job in jobs:
            submitted[job.run_id] = time.perf_counter()
            job.run()
        return [delays.get(job.run_id, 0.0) for job in jobs]
    registry = JobRegistry(executor=make_executor(executor))
    try:
        for job in jobs:
            submitted[job.run_id] = time.perf_counter()
            registry.enqueue(job)
        for job in jobs:
            job.wait()
            print(f"{job.run_id}: {job.state}", file=sys.stderr)
    finally:
        registry.close()
    return [delays.get(job.run_id, 0.0) for job in jobs]


def cmd_race(args) -> int:
    """Race a preset over seeds (and variants), print the results; return the exit status."""
    from core.runs.store import new_run_id
    from core.train.callbacks import ProgressBar
    from core.train.job import Job
    from core.train.race import apply_settings, parse_setting, plan_race

    spec, config = get_preset(args.preset).fresh()
    if args.device:
        config.device = args.device
    common = dict(parse_setting(text) for text in args.set or [])
    if common:  # every run's settings: the variants' labels name only what differs
        spec, config = apply_settings(spec, config, common)
    variants = [
        dict(parse_setting(part) for part in text.split(",")) for text in args.variant or []
    ]
    entries = plan_race(spec, config, args.seeds, variants or None)
    race = new_run_id(f"race-{args.preset}")
    print(f"race {race}: {len(entries)} runs of {args.preset}", file=sys.stderr)
    # one progress bar when the runs train one after another; a line per run when they fan out
    listener = ProgressBar if args.executor is None else lambda: None
    jobs = [
        Job.create(
            entry.spec,
            entry.config,
            args.preset,
            args.data,
            args.runs,
            listener=listener(),
            race=race,
            variant=entry.variant,
            live=False,
        )
        for entry in entries
    ]
    started = time.perf_counter()
    try:
        delays = run_jobs(jobs, args.executor)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - started
    summaries = []
    for job in jobs:
        if job.state == "failed":
            print(f"training failed: {job.error}", file=sys.stderr)
            return 1
        summaries.append(read_summary(job.run_dir) or {})
    _report_race(args, race, summaries, wall, delays)
    return 0


def _report_race(args, race: str, summaries: list[dict], wall: float, delays: list[float]) -> None:
    # a script reads the last line: the table and the verdict come first, for a person
    from core.train.race import results_of, verdict

    results = results_of(summaries)
    seconds = {
        r.variant: [s["seconds"] for s in summaries if s.get("variant") == r.variant]
        for r in results
    }
    print("\n| variant | seeds | test accuracy, mean ± std | min | max | seconds per run |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        mean_seconds = sum(seconds[r.variant]) / len(seconds[r.variant])
        print(
            f"| {r.variant} | {r.seeds} | {r.mean:.2%} ± {r.std:.2%} | {min(r.accuracies):.2%} "
            f"| {max(r.accuracies):.2%} | {mean_seconds:.1f} |"
        )
    print(verdict(results) or f"{results[0].variant}: {results[0].seeds} seeds")
    executor = args.executor or "thread"
    first_start = f"; the first waited {delays[0]:.1f} s to start" if delays else ""
    print(
        f"{len(summaries)} runs in {wall:.1f} s of wall time on the {executor} executor{first_start}"
    )
    print(
        json.dumps(
            {
                "race": race,
                "preset": args.preset,
                "executor": executor,
                "wall_seconds": wall,
                "start_delays": delays,
                "verdict": verdict(results),
                "variants": [
                    {
                        "variant": r.variant,
                        "seeds": r.seeds,
                        "mean": r.mean,
                        "std": r.std,
                        "accuracies": list(r.accuracies),
                        "seconds": seconds[r.variant],
                    }
                    for r in results
                ],
            }
        )
    )


def add_train(sub) -> None:
    """Add the train command to the subparsers."""
    train = sub.add_parser("train", help="train a preset and save the run")
    train.add_argument("--preset", required=True, choices=list(PRESETS))
    train.add_argument("--epochs", type=int)
    train.add_argument("--iterations", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--device", choices=DEVICES)
    train.add_argument("--seed", type=int)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--momentum", type=float)
    train.add_argument("--dataset", choices=list(DATASETS), help="mnist (default) or fashion-mnist")
    train.add_argument(
        "--engine",
        choices=ENGINES,
        help="scratch: hand-written forward and backward, dense networks and SGD only",
    )
    train.add_argument("--executor", choices=list(EXECUTORS), help=EXECUTOR_HELP)
    train.set_defaults(func=cmd_train)


def add_race(sub) -> None:
    """Add the race command to the subparsers."""
    race = sub.add_parser(
        "race", help="train a preset over several seeds, or variants head to head"
    )
    race.add_argument("--preset", required=True, choices=list(PRESETS))
    race.add_argument("--seeds", type=int, default=5, help="runs per variant, 2..10 (5)")
    race.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="change a setting for every run"
    )
    race.add_argument(
        "--variant",
        action="append",
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="one variant (2..4 of them): e.g. --variant optimizer=adam --variant optimizer=sgd,lr=0.1",
    )
    race.add_argument("--device", choices=DEVICES)
    race.add_argument("--executor", choices=list(EXECUTORS), help=EXECUTOR_HELP)
    race.set_defaults(func=cmd_race)
