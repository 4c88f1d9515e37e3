"""python -m core predict RUN IMAGE...: what the Draw page does, scripted (issue 24).

Each image (PNG, JPEG, any size, dark ink on light or light on dark) is read as the Draw page
reads a drawing (cropped, scaled to 20 px, centred by its centre of mass), scored by the run with
its calibrated probabilities, and judged: "digit", "not sure" or "not a digit"
(core.analysis.novelty). One JSON line per image, in the order given; a file that cannot be read
gets a line with its error, a message on stderr, and the exit status is 1.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from core.analysis.novelty import novelty_for_run, verdict
from core.data.mnist import DataUnavailable, load_mnist
from core.draw.preprocess import read_drawing
from core.runs.store import load_run, resolve_runs_dir

TOP = 3


def add_predict(sub) -> None:
    """Add the predict command to the CLI's subcommands."""
    predict = sub.add_parser("predict", help="read images of digits with a run: a JSON line each")
    predict.add_argument("run", help="a run's folder, or its id in the runs folder")
    predict.add_argument("images", nargs="+", help="PNG or JPEG files of one digit each")
    predict.set_defaults(func=cmd_predict)


def _run_folder(run: str, runs: str | None) -> Path:
    given = Path(run)
    return given if given.is_dir() else resolve_runs_dir(runs) / run


def read_image(path: str) -> np.ndarray:
    """Return an image file as (H, W, 3) uint8; OSError or ValueError if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except UnidentifiedImageError:
        raise ValueError("not an image PIL can read (PNG, JPEG, …)") from None


def _down(probability: float) -> float:
    # four decimals, never rounded up to a certainty: 0.99996 is 0.9999, not 1.0
    return math.floor(probability * 10_000) / 10_000


def predict_line(run, novelty, path: str) -> dict:
    """Return the JSON line for one image file (with 'error' where it cannot be read)."""
    try:
        reading = read_drawing(read_image(path))
    except (OSError, ValueError) as exc:
        return {"file": path, "error": str(exc)}
    if reading.digit is None:  # empty, a speck, or ink everywhere: nothing to read
        return {"file": path, "digit": None, "probability": None, "verdict": "not a digit",
                "why": reading.problem, "top3": []}  # fmt: skip
    probabilities = run.predict_proba(reading.digit[None])[0]
    not_digit = novelty is not None and bool(novelty.not_digits(run.model, reading.digit[None])[0])
    order = probabilities.argsort(descending=True)[:TOP]
    top = [
        {"digit": int(run.classes[i]), "probability": _down(float(probabilities[i]))} for i in order
    ]
    return {"file": path, "digit": top[0]["digit"], "probability": top[0]["probability"],
            "verdict": verdict(probabilities, not_digit), "top3": top}  # fmt: skip


def cmd_predict(args) -> int:
    """Print one JSON line per image; return 1 if a file could not be read, else 0."""
    run = load_run(_run_folder(args.run, args.runs))
    try:
        novelty = novelty_for_run(run, load_mnist(args.data, dataset=run.config.dataset))
    except DataUnavailable as exc:  # the verdict then cannot say "not a digit"
        print(f"warning: no 'not a digit' verdicts without the training digits: {exc}",
              file=sys.stderr)  # fmt: skip
        novelty = None
    failed = False
    for path in args.images:
        line = predict_line(run, novelty, path)
        if "error" in line:
            failed = True
            print(f"error: cannot read {path}: {line['error']}", file=sys.stderr)
        print(json.dumps(line), flush=True)
    return 1 if failed else 0
