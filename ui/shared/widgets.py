"""Widgets reused across pages (model picker, digit grid, probability bars, ...)."""

from __future__ import annotations

import math
import re

import numpy as np
import streamlit as st

from core.analysis.novelty import UNSURE_BELOW
from ui.charts import evaluation_figures, palette
from ui.charts.evaluation_figures import confidence_text
from ui.charts.figures import CHART_CONFIG
from ui.shared import state

# --- run picker, probabilities, digit galleries (Evaluate and Draw) ----------------------


def run_label(summary: dict) -> str:
    """Return a run's one-line label, e.g. 'small-cnn · 99.35% · 2026-11-24 21:35'."""
    parts = [str(summary.get("name", "custom"))]
    if summary.get("dataset", "mnist") != "mnist":
        parts.append(state.dataset_of(summary).title)
    classes = summary.get("classes") or []
    if classes and len(classes) < 10:
        parts.append(" vs ".join(str(c) for c in classes))
    accuracy = summary.get("test_accuracy")
    if isinstance(accuracy, (int, float)) and accuracy == accuracy:
        parts.append(f"{accuracy:.2%}")
    created = str(summary.get("created", ""))
    if created:
        parts.append(created[:16].replace("T", " "))
    if summary.get("status") == "interrupted":
        parts.append(interrupted_text(summary))
    elif summary.get("status") not in (None, "finished"):
        parts.append(str(summary["status"]))
    return " · ".join(parts)


def interrupted_text(summary: dict) -> str:
    """Return 'interrupted at epoch k' for a run saved mid-training (a checkpoint)."""
    epoch = summary.get("epochs_completed")
    return f"interrupted at epoch {epoch}" if isinstance(epoch, int) else "interrupted"


def _remember_active_run(key: str) -> None:
    state.set_active_run(st.session_state[key])


def run_picker(
    key: str,
    label: str = "Model",
    runs: list[dict] | None = None,
    help: str | None = None,
) -> dict | None:
    """Show a select box of saved runs and return the chosen run's summary (None if none exist).

    It starts at (and follows) st.session_state["active_run"]; choosing a run makes it active.
    """
    runs = state.runs_of_current_dataset() if runs is None else runs
    if not runs:
        return None
    by_path = {summary["path"]: summary for summary in runs}
    paths = list(by_path)
    active = state.active_run_path()
    if active in by_path:
        st.session_state[key] = active
    elif st.session_state.get(key) not in by_path:
        st.session_state[key] = paths[0]
    chosen = st.selectbox(
        label,
        paths,
        format_func=lambda path: run_label(by_path[path]),
        key=key,
        help=help,
        on_change=_remember_active_run,
        args=(key,),
    )
    return by_path.get(chosen)


def upscale_digit(image, size: int = 112) -> np.ndarray:
    """Return a 28×28 digit (uint8 or float in [0, 1]) as a size×size uint8 image, pixels kept sharp."""
    pixels = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    pixels = pixels.reshape(pixels.shape[-2], pixels.shape[-1])
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0.0, 1.0) * 255).round().astype(np.uint8)
    factor = max(1, size // pixels.shape[0])
    # nearest neighbour, so that each of the 28×28 pixels the model sees stays a visible square
    return np.kron(pixels, np.ones((factor, factor), dtype=np.uint8))


def probability_bars(probabilities, classes, height: int = 300, key: str | None = None) -> None:
    """Draw one bar per class with its probability, the most likely one highlighted."""
    st.plotly_chart(
        evaluation_figures.probability_figure(probabilities, classes, height=height),
        width="stretch",
        config=CHART_CONFIG,
        key=key,
    )


def top_probabilities(probabilities, classes, top: int = 3) -> list[tuple[int, float]]:
    """Return the top (digit, probability) pairs, most likely first."""
    values = [float(p) for p in probabilities]
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)[:top]
    return [(int(classes[i]), values[i]) for i in order]


MAX_ALT_LABELS = 12  # alt text names this many digits of a grid, then says how many more


def digits_alt(what: str, labels: list[str]) -> str:
    """Return alt text for a grid of digits: '24 training digits: 9, 3, 5, … and 12 more'."""
    shown = ", ".join(labels[:MAX_ALT_LABELS])
    more = len(labels) - MAX_ALT_LABELS
    return f"{len(labels)} {what}: {shown}" + (f", and {more} more" if more > 0 else "")


def plain_text(markdown: str) -> str:
    """Return a short Markdown caption as plain text, for alt text (bold and line breaks go)."""
    return markdown.replace("**", "").replace("  \n", ", ").replace("\n", ", ")


def digit_gallery(
    images, captions: list[str], columns: int = 8, size: int = 84, alts: list[str] | None = None
) -> None:
    """Draw digits (N, 28, 28) in a grid with a caption under each, pixels kept sharp.

    alts: each image's alt text; by default its caption as plain text.
    """
    for start in range(0, len(captions), columns):
        cells = st.columns(columns)
        for cell, index in zip(cells, range(start, min(start + columns, len(captions)))):
            with cell:
                st.image(
                    upscale_digit(images[index], size),
                    width=size,
                    alt=alts[index] if alts else plain_text(captions[index]),
                )
                st.caption(captions[index])


# --- Data, Build and Train pages ---------------------------------------------------------


MISSING = "—"  # what a page shows for a value that is missing or not a number


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def percent_or_dash(value, digits: int = 2) -> str:
    """Return a fraction as a percentage, or '—' when it is missing or not a number."""
    return f"{value:.{digits}%}" if _finite(value) else MISSING


def number_or_dash(value, pattern: str = "{:,}") -> str:
    """Return a number formatted with pattern, or '—' when it is missing or not a number."""
    return pattern.format(value) if _finite(value) else MISSING


def escape_markdown(text: str) -> str:
    """Return text with Markdown's special characters escaped, to show a name as it is."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$:])", r"\\\1", text)


def format_seconds(seconds: float | None) -> str:
    """Return a duration as m:ss (or h:mm:ss), or '—' when unknown."""
    if not _finite(seconds):
        return MISSING
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def job_progress_text(job, progress: dict) -> str:
    """Return a short progress line (Markdown) for a job: name, epoch, percent, paused or queued."""
    name = escape_markdown(job.name)  # a progress bar's text is Markdown; a run's name is text
    if progress["state"] == "queued":
        return f"{name} · queued"
    if progress.get("full_batch"):  # an epoch a step: counted in iterations
        where = f"iteration {progress['step']:,}/{progress['total_steps']:,}"
    else:
        where = f"epoch {progress['epoch']}/{progress['epochs']}"
    text = f"{name} · {where} · {progress['fraction']:.0%}"
    if progress["state"] != "paused":
        return text
    return text + (
        " · paused, its slot lent to the next in line" if progress.get("parked") else " · paused"
    )


def _label_font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def digit_grid_image(
    images, labels: list[str] | None = None, columns: int = 12, scale: int = 3
) -> np.ndarray:
    """Return one RGB image tiling uint8 (N, 28, 28) digits, each with its label underneath."""
    from PIL import Image, ImageDraw

    pixels = np.asarray(images, dtype=np.uint8)
    count = len(pixels)
    rows = -(-count // columns)
    side, gap = 28 * scale, 6
    strip = 22 if labels is not None else 0
    canvas = Image.new(
        "RGB",
        (columns * (side + gap) + gap, rows * (side + strip + gap) + gap),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(canvas)
    font = _label_font(18)
    for i in range(count):
        row, col = divmod(i, columns)
        x, y = gap + col * (side + gap), gap + row * (side + strip + gap)
        tile = Image.fromarray(pixels[i]).resize((side, side), Image.NEAREST).convert("RGB")
        canvas.paste(tile, (x, y))
        if labels is not None:
            draw.text(
                (x + side / 2, y + side + strip / 2),
                str(labels[i]),
                fill=(30, 30, 30),
                font=font,
                anchor="mm",
            )
    return np.asarray(canvas)


def show_digit_grid(
    images, labels: list[str] | None = None, columns: int = 12, what: str = "digits"
) -> None:
    """Draw digits as one composed image (one request, fast) with a label under each."""
    alt = digits_alt(what, labels) if labels else f"{len(images)} {what}"
    st.image(digit_grid_image(images, labels, columns), width="stretch", alt=alt)


# classes used by prediction_html and the Draw page's hint; big enough for a projector
PREDICTION_CSS = """
<style>
.dl-answer {line-height: 1.05; margin-bottom: 0.5rem;}
.dl-answer .dl-label {font-size: 1.3rem; color: #6b7280;}
.dl-answer .dl-digit {font-size: 6.5rem; font-weight: 800; color: #c1121f;}
.dl-answer .dl-sure {font-size: 1.6rem; font-weight: 600;}
.dl-unsure .dl-digit {color: #d97706; font-size: 4.8rem;}
.dl-unsure .dl-or {font-size: 2rem; font-weight: 400; color: #6b7280;}
.dl-closest {font-size: 2rem; color: inherit;}
.dl-hint {font-size: 1.4rem; color: #6b7280; padding-top: 2.5rem;}
/* a phone stacks Streamlit's columns: the ten save buttons become two rows of five instead */
@media (max-width: 640px) {
  .st-key-draw-save-digits [data-testid="stHorizontalBlock"] {flex-wrap: wrap !important;
    gap: 0.4rem !important;}
  .st-key-draw-save-digits [data-testid="stColumn"] {flex: 1 1 calc(20% - 0.4rem) !important;
    min-width: calc(20% - 0.4rem) !important; width: calc(20% - 0.4rem) !important;}
}
</style>
"""


def prediction_html(
    probabilities, classes, unsure_below: float = UNSURE_BELOW, not_digit: bool = False
) -> str:
    """Return the big answer: the digit and how sure, the two leading guesses if unsure, or
    that it does not look like a digit (core.analysis.novelty) with the closest one."""
    (first, p_first), (second, p_second) = top_probabilities(probabilities, classes, 2)
    if not_digit:
        return (
            '<div class="dl-answer dl-unsure">'
            '<div class="dl-label">That does not look like a digit</div>'
            f'<div class="dl-sure">closest: <span class="dl-digit dl-closest">{first}</span> '
            f"({confidence_text(p_first)}), but unlike the digits it learnt from</div></div>"
        )
    if p_first < unsure_below:
        return (
            '<div class="dl-answer dl-unsure">'
            f'<div class="dl-label">Not sure</div>'
            f'<div class="dl-digit">{first}<span class="dl-or"> or </span>{second}</div>'
            f'<div class="dl-sure">{p_first:.0%} vs {p_second:.0%}</div></div>'
        )
    return (
        '<div class="dl-answer">'
        '<div class="dl-label">It is a</div>'
        f'<div class="dl-digit">{first}</div>'
        f'<div class="dl-sure">{confidence_text(p_first)} sure</div></div>'
    )


# --- Inside page ------------------------------------------------------------------------


def _diverging(values: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] to RGB uint8: palette.NEGATIVE below zero, POSITIVE above."""
    v = np.clip(values, -1.0, 1.0)[..., None]
    zero = np.array(palette.ZERO_RGB, dtype=np.float32)
    positive = np.array(palette.POSITIVE_RGB, dtype=np.float32)
    negative = np.array(palette.NEGATIVE_RGB, dtype=np.float32)
    rgb = np.where(v >= 0, zero + v * (positive - zero), zero - v * (negative - zero))
    return rgb.round().astype(np.uint8)


def weight_grid_image(weights, columns: int = 8, size: int = 84, gap: int = 4) -> np.ndarray:
    """Return one RGB image tiling (N, h, w) weights, each scaled to ±its own largest value."""
    tiles = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights)
    tiles = tiles.astype(np.float32)
    count, height, width = tiles.shape
    # per-tile scale: a neuron's pattern matters, not how large its weights happen to be
    scale = np.abs(tiles).reshape(count, -1).max(1).clip(min=1e-12)[:, None, None]
    factor = max(1, size // max(height, width))
    rows = -(-count // columns)
    side_y, side_x = height * factor, width * factor
    canvas = np.full(
        (rows * (side_y + gap) + gap, columns * (side_x + gap) + gap, 3), 255, dtype=np.uint8
    )
    colored = _diverging(tiles / scale)
    for i in range(count):
        row, col = divmod(i, columns)
        y, x = gap + row * (side_y + gap), gap + col * (side_x + gap)
        tile = np.kron(colored[i], np.ones((factor, factor, 1), dtype=np.uint8))
        canvas[y : y + side_y, x : x + side_x] = tile
    return canvas


def saliency_overlay_image(digit, saliency, size: int = 224) -> np.ndarray:
    """Return an RGB image of a grey 28×28 digit with its saliency map on top (palette colour)."""
    pixels = upscale_digit(digit, size).astype(np.float32) / 255.0
    heat = np.asarray(saliency.detach().cpu() if hasattr(saliency, "detach") else saliency)
    heat = heat.astype(np.float32)
    heat = heat / max(float(heat.max()), 1e-12)
    factor = pixels.shape[0] // heat.shape[0]
    heat = np.kron(heat, np.ones((factor, factor), dtype=np.float32))
    # the digit dimmed under the saliency's colour, whose lightness rises with its strength
    grey = np.repeat((0.1 + 0.3 * pixels)[..., None], 3, axis=2)
    blended = grey * (1 - heat[..., None]) + palette.saliency_rgb(heat) * heat[..., None]
    return (blended.clip(0, 1) * 255).round().astype(np.uint8)
