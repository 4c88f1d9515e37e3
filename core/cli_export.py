"""python -m core export RUN --onnx OUT [--check] | --html OUT: a run as an ONNX file
(core.export.onnx), or as a one-file offline draw page (core.export.offline_page).

--check reads every one of the 10,000 test digits with ONNX Runtime and with PyTorch, and says
whether the predictions are the same and by how much the probabilities differ at most.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.runs.store import InvalidRun, load_run, resolve_runs_dir


def add_export(sub) -> None:
    """Add the export command to the CLI's subcommands."""
    export = sub.add_parser(
        "export", help="write a run as ONNX (--onnx OUT) or as an offline draw page (--html OUT)"
    )
    export.add_argument("run", help="a run's folder, or its id in the runs folder")
    export.add_argument("--onnx", metavar="OUT", help="the .onnx file to write")
    export.add_argument("--html", metavar="OUT", help="the one-file offline draw page to write")
    export.add_argument(
        "--check", action="store_true", help="compare ONNX Runtime with PyTorch on the test set"
    )
    export.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    """Write the run as ONNX; with --check, compare it with PyTorch; return the exit status."""
    from core.export.offline_page import OfflineRefused, offline_page
    from core.export.onnx import OnnxRefused, onnx_bytes

    if not (args.onnx or args.html):
        print("error: say what to write: --onnx OUT.onnx or --html OUT.html", file=sys.stderr)
        return 2
    given = Path(args.run)
    folder = given if given.is_dir() else resolve_runs_dir(args.runs) / args.run
    try:
        run = load_run(folder)
        if args.html:
            page = offline_page(run).encode()
            Path(args.html).write_bytes(page)
            print(f"wrote {args.html}: {len(page) / 1e6:.2f} MB, opens offline in any browser")
        data = onnx_bytes(run) if args.onnx else b""
    except (InvalidRun, OnnxRefused, OfflineRefused, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.onnx:
        return 0
    Path(args.onnx).write_bytes(data)
    print(f"wrote {args.onnx}: {len(data) / 1e6:.2f} MB, input pixels (N, 1, 28, 28) in [0, 1]")
    if not args.check:
        return 0
    from core.export.onnx_check import check_on_test_set

    try:
        check = check_on_test_set(run, data, args.data)
    except OnnxRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(check.text())
    return 0 if check.ok else 1
