"""The drawing benchmark: how well trained runs read canvas-like drawings, naive vs to_mnist."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from core.draw.drawings import make_drawings, style_of
from core.draw.preprocess import naive_resize, to_mnist
from core.runs.store import Run


@dataclass
class DrawingScore:
    """One run's accuracy on the drawings, with each preprocessing."""

    name: str
    test_accuracy: float | None  # on the MNIST test set, from the run's summary
    naive_accuracy: float
    mnist_accuracy: float  # after to_mnist
    path_accuracy: float  # after to_mnist, drawings from stroke paths only
    font_accuracy: float  # after to_mnist, drawings from fonts only (nan without fonts)
    style_accuracy: dict[str, float] = field(default_factory=dict)  # core.draw.drawings.style_of
    predict_ms: float = float("nan")  # one canvas to one prediction: to_mnist and the model


@dataclass
class DrawingBench:
    """Everything the drawing benchmark measured."""

    n: int
    seed: int
    fonts: list[str]
    seconds_to_generate: float
    to_mnist_ms: float  # mean per 280×280 drawing
    naive_ms: float
    empty: int  # drawings to_mnist found empty (counted as wrong)
    style_counts: dict[str, int] = field(default_factory=dict)
    scores: list[DrawingScore] = field(default_factory=list)
    hardest_path: Path | None = None


def _accuracy(probabilities: torch.Tensor, labels: torch.Tensor, classes, keep) -> float:
    if not keep.any():
        return float("nan")
    predicted = torch.tensor(classes)[probabilities.argmax(dim=1)]
    return float((predicted == labels)[keep].float().mean())


# the order of the per-style table: MNIST-like first, then what people draw that MNIST lacks
STYLE_ORDER = {
    style: rank
    for rank, style in enumerate(
        (
            "plain",
            "font",
            "serif-1",
            "crossed-7",
            "open-4",
            "closed-4",
            "looped-2",
            "straight-9",
            "other-shapes",
            "bold",
            "tiny",
            "off-centre",
        )
    )
}
TIMED_DRAWINGS = 50


def canvas_to_prediction_ms(run, images: np.ndarray, count: int = TIMED_DRAWINGS) -> float:
    """Return the median ms from one 280×280 canvas to one prediction, as the Draw page does it."""
    times = []
    with torch.no_grad():
        for image in images[:count]:
            started = time.perf_counter()
            digit = to_mnist(image)
            if digit is not None:
                run.predict_proba(digit[None])
            times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def run_drawing_bench(
    runs: dict[str, Run],
    n: int = 1200,
    seed: int = 0,
    hardest_path: str | Path | None = None,
    hardest_count: int = 30,
) -> DrawingBench:
    """Return the accuracy of each run on n generated drawings, naive resizing vs to_mnist."""
    started = time.perf_counter()
    images, labels_np, kinds = make_drawings(n, seed)
    seconds_to_generate = time.perf_counter() - started
    labels = torch.from_numpy(labels_np)

    started = time.perf_counter()
    prepared = [to_mnist(image) for image in images]
    to_mnist_ms = (time.perf_counter() - started) / n * 1000
    started = time.perf_counter()
    naive = torch.stack([naive_resize(image) for image in images])
    naive_ms = (time.perf_counter() - started) / n * 1000
    found = torch.tensor([x is not None for x in prepared])
    mnist_style = torch.stack([x if x is not None else torch.zeros(1, 28, 28) for x in prepared])

    is_font = torch.tensor([kind.startswith("font:") for kind in kinds])
    styles = [style_of(kind) for kind in kinds]
    style_order = sorted(set(styles), key=lambda style: (STYLE_ORDER.get(style, 99), style))
    in_style = {style: torch.tensor([s == style for s in styles]) for style in style_order}
    bench = DrawingBench(
        n=n,
        seed=seed,
        fonts=sorted({kind[5:] for kind in kinds if kind.startswith("font:")}),
        seconds_to_generate=seconds_to_generate,
        to_mnist_ms=to_mnist_ms,
        naive_ms=naive_ms,
        empty=int((~found).sum()),
        style_counts={style: int(mask.sum()) for style, mask in in_style.items()},
    )
    best: tuple[float, str, torch.Tensor] | None = None
    for name, run in runs.items():
        classes = list(run.classes)
        # a run that tells apart only some digits is scored on those digits only
        in_task = torch.isin(labels, torch.tensor(classes))
        with torch.no_grad():
            naive_probabilities = run.predict_proba(naive)
            probabilities = run.predict_proba(mnist_style)
        probabilities[~found] = 0.0  # an empty result is never right
        score = DrawingScore(
            name=name,
            test_accuracy=run.summary.get("test_accuracy"),
            naive_accuracy=_accuracy(naive_probabilities, labels, classes, in_task),
            mnist_accuracy=_accuracy(probabilities, labels, classes, in_task),
            path_accuracy=_accuracy(probabilities, labels, classes, in_task & ~is_font),
            font_accuracy=_accuracy(probabilities, labels, classes, in_task & is_font),
            style_accuracy={
                style: _accuracy(probabilities, labels, classes, in_task & mask)
                for style, mask in in_style.items()
            },
            predict_ms=canvas_to_prediction_ms(run, images),
        )
        bench.scores.append(score)
        if len(classes) == 10 and (best is None or score.mnist_accuracy > best[0]):
            best = (score.mnist_accuracy, name, probabilities)
    if hardest_path is not None and best is not None:
        bench.hardest_path = save_hardest(
            hardest_path, images, labels_np, mnist_style, best[2], best[1], hardest_count
        )
    return bench


def save_hardest(
    path: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    inputs: torch.Tensor,
    probabilities: torch.Tensor,
    model_name: str,
    count: int = 30,
) -> Path:
    """Save a PNG of the drawings with the lowest true-class probability; return its path."""
    true_probability = probabilities[torch.arange(len(labels)), torch.from_numpy(labels)]
    order = torch.argsort(true_probability)[:count].tolist()
    tile, columns = 150, 6
    rows = (len(order) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * tile + 24), (30, 30, 30))
    pen = ImageDraw.Draw(sheet)
    pen.text(
        (6, 6),
        f"hardest drawings for {model_name}: canvas, 28x28 input, true -> predicted (p)",
        fill=(230, 230, 230),
    )
    for slot, index in enumerate(order):
        x, y = (slot % columns) * tile, (slot // columns) * tile + 24
        canvas = Image.fromarray(images[index]).resize((96, 96), Image.Resampling.BOX)
        small = (inputs[index, 0].numpy() * 255).astype(np.uint8)
        model_input = Image.fromarray(small).resize((48, 48), Image.Resampling.NEAREST)
        sheet.paste(canvas.convert("RGB"), (x + 2, y + 2))
        sheet.paste(model_input.convert("RGB"), (x + 100, y + 2))
        predicted = int(probabilities[index].argmax())
        text = f"{labels[index]} -> {predicted} ({float(probabilities[index, predicted]):.2f})"
        pen.text((x + 4, y + 102), text, fill=(255, 200, 80))
        pen.text(
            (x + 4, y + 118),
            f"p({labels[index]}) = {float(true_probability[index]):.2f}",
            fill=(180, 180, 180),
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _percent(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    return f"{100 * value:.1f}%"


def drawing_bench_report(results: DrawingBench) -> str:
    """Return the benchmark as a markdown table with a line on the set and the timings."""
    fonts = ", ".join(results.fonts) if results.fonts else "none installed: stroke paths only"
    lines = [
        f"{results.n} canvas-like drawings (seed {results.seed}; generated or loaded in "
        f"{results.seconds_to_generate:.1f} s): stroke paths plain and styled, bold, tiny and "
        f"off-centre ones, and fonts: {fonts}.",
        f"to_mnist: {results.to_mnist_ms:.2f} ms per 280×280 drawing "
        f"(naive resize {results.naive_ms:.2f} ms); {results.empty} drawings found empty.",
        "",
        "| model | MNIST test | drawings, naive resize | drawings, to_mnist | stroke paths | fonts |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in results.scores:
        lines.append(
            f"| {s.name} | {_percent(s.test_accuracy)} | {_percent(s.naive_accuracy)} | "
            f"**{_percent(s.mnist_accuracy)}** | {_percent(s.path_accuracy)} | {_percent(s.font_accuracy)} |"
        )
    if results.scores and results.style_counts:
        names = [s.name for s in results.scores]
        lines += [
            "",
            "| style | drawings | " + " | ".join(names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for style, count in results.style_counts.items():
            cells = " | ".join(_percent(s.style_accuracy.get(style)) for s in results.scores)
            lines.append(f"| {style} | {count} | {cells} |")
        lines.append(
            "| canvas → prediction, ms | | "
            + " | ".join(f"{s.predict_ms:.2f}" for s in results.scores)
            + " |"
        )
    if results.hardest_path is not None:
        lines += ["", f"Hardest cases: {results.hardest_path}"]
    return "\n".join(lines)


BENCH_PRESETS = ("seed-mlp-128", "best-mlp", "small-cnn", "draw")


def preset_run(name: str, data_dir, runs_dir) -> Run:
    """Return the newest finished run of a preset at its full settings, training one if none exists."""
    from core.runs.listing import list_runs
    from core.runs.store import load_run
    from core.spec.presets import get_preset
    from core.train.callbacks import ProgressBar
    from core.train.job import Job

    spec, config = get_preset(name).fresh()
    for summary in list_runs(runs_dir):
        if summary.get("name") == name and summary.get("status") == "finished":
            run = load_run(summary["path"])
            if run.spec == spec and run.config.to_dict() == config.to_dict():
                return run
    print(
        f"training {name} (no finished run with the preset's settings in the runs folder)…",
        flush=True,
    )
    job = Job.create(spec, config, name, data_dir, runs_dir, listener=ProgressBar())
    job.run()
    if job.state != "finished":
        raise RuntimeError(f"training {name} failed: {job.error}")
    return load_run(job.run_dir)


def run_drawings_cli(args) -> int:
    """`python -m core bench --drawings`: train or reuse the four presets, print the table."""
    runs = {name: preset_run(name, args.data, args.runs) for name in BENCH_PRESETS}
    out = Path(getattr(args, "hardest", None) or "test-artifacts/hardest-drawings.png")
    results = run_drawing_bench(runs, hardest_path=out)
    print(drawing_bench_report(results))
    return 0
