"""The Train page's steering box: change the rate and momentum of a running job, train one
batch at a time while it is paused, and see what that batch did.

Drawn inside the job panel's fragment, so every rerun draws the same elements in the same
order; a click's callback talks to the Job (core.train.jobs), which checks the values against
core.spec.config.LIMITS and sends them to the training loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from core.data.datasets import MNIST, Dataset, get_dataset
from core.events import OneBatchReport
from core.spec.config import parse_field_text
from core.train.job import Job
from core.train.steering import momentum_field
from ui.charts import live_curves
from ui.shared import widgets
from ui.shared.widgets import digit_grid_image, digits_alt
from ui.shared.words import with_article

ERROR_KEY = "_steer_error"  # the last refused change: shown until one is accepted
BATCH_GRID_KEY = "_one_batch_grid"  # (run id, step) and its picture: drawn once per report


def steer_values(
    lr_text: str, momentum_text: str, optimizer: str
) -> tuple[float | None, float | None]:
    """Return the rate and momentum typed in, None where a box is empty; ValueError naming the
    field for text that is not a number (Job.steer checks the ranges)."""
    lr = parse_field_text("lr", lr_text.strip(), "float") if lr_text.strip() else None
    momentum = (
        parse_field_text(momentum_field(optimizer), momentum_text.strip(), "float")
        if momentum_text.strip()
        else None
    )
    return lr, momentum


def current_settings(job: Job) -> tuple[float, float]:
    """Return the rate of the job's last step and the momentum it trains with."""
    latest = job.steps(-1)
    changes = job.settings_changes()
    lr = latest[0].lr if latest else job.config.lr
    if changes:
        return lr, changes[-1].momentum
    field = momentum_field(job.config.optimizer)
    return lr, getattr(job.config, field)


def update_rows(report: OneBatchReport) -> list[dict]:
    """Return a table row per parameter tensor: how far one batch's update moved it."""
    return [
        {
            "tensor": name,
            "‖ΔW‖": moved,
            "‖W‖": norm,
            "‖ΔW‖ / ‖W‖": moved / norm if norm > 0 else float("nan"),
        }
        for name, moved, norm in zip(report.parameters, report.update_norms, report.weight_norms)
    ]


def digit_captions(report: OneBatchReport, names=None) -> list[str]:
    """Return each shown digit's label, with the network's answer after the update when wrong.

    names: what to call class c (Fashion-MNIST's short names); the class number by default.
    """
    name = (lambda c: names[c]) if names is not None else str
    return [
        # plain ASCII: the image's font (Pillow's default) has no "≠"
        name(label) if label == guess else f"{name(label)} as {name(guess)}"
        for label, guess in zip(report.labels, report.predicted)
    ]


def steering_caption(job: Job, lr: float, momentum: float) -> str:
    """Return what the steering box says: the values now, and what a change does."""
    config, steered = job.config, bool(job.settings_changes())
    name = live_curves.momentum_name(config.optimizer)
    cycled = config.schedule == "onecycle" and config.cycle_momentum and not steered
    now = f"{name} cycled by the schedule" if cycled else f"{name} {momentum:.3g}"
    text = (
        f"Now: lr {lr:.3g}, {now}. A change applies from the next step, is marked on the loss "
        "chart and is saved with the run."
    )
    if config.schedule != "constant" and not steered:
        text += (
            f" It ends the {config.schedule} schedule: the run keeps the values you set until "
            "you change them again."
        )
    return text


STEERED_JOB_KEY = "steer-job"  # whose values the two boxes hold


def _keys(job: Job) -> tuple[str, str]:
    # the same two keys for every job: keys per job would pile up in the session, one pair
    # for every job it ever watched (the soak test counts them)
    return "steer-lr", "steer-momentum"


def _apply_settings(job: Job) -> None:
    lr_key, momentum_key = _keys(job)
    try:
        lr, momentum = steer_values(
            st.session_state.get(lr_key, ""),
            st.session_state.get(momentum_key, ""),
            job.config.optimizer,
        )
        job.steer(lr, momentum)
    except ValueError as exc:
        st.session_state[ERROR_KEY] = str(exc)
    else:
        st.session_state.pop(ERROR_KEY, None)


def _ask_one_batch(job: Job) -> None:
    try:
        job.one_batch()
    except ValueError as exc:
        st.session_state[ERROR_KEY] = str(exc)
    else:
        st.session_state.pop(ERROR_KEY, None)


def steering_box(job: Job, guard: Callable[[Job, Callable[[], None]], None]) -> None:
    """Draw the steering box of a running or paused job: rate, momentum, one batch, its report.

    guard(job, action) runs a click's action only if this tab still controls the job.
    """
    lr_key, momentum_key = _keys(job)
    lr, momentum = current_settings(job)
    if st.session_state.get(STEERED_JOB_KEY) != job.run_id:  # another job: start from its values
        st.session_state[lr_key], st.session_state[momentum_key] = f"{lr:.6g}", f"{momentum:.6g}"
        st.session_state[STEERED_JOB_KEY] = job.run_id
    # the same elements on every rerun, open or not: the browser keeps it as the user left it
    with st.expander("Steer: learning rate, momentum, one batch", icon=":material/tune:"):
        name = live_curves.momentum_name(job.config.optimizer)
        left, middle, right = st.columns([1, 1, 1], vertical_alignment="bottom")
        left.text_input("Learning rate", key=lr_key, help="e.g. 0.003 or 3e-3")
        middle.text_input(name.capitalize() if name == "momentum" else name, key=momentum_key)
        right.button(
            "Apply",
            icon=":material/check:",
            on_click=guard,
            args=(job, lambda: _apply_settings(job)),
            disabled=job.state not in ("running", "paused"),
            width="stretch",
        )
        st.caption(steering_caption(job, lr, momentum))
        if problem := st.session_state.get(ERROR_KEY):
            st.error(f"Not applied: {problem}", icon=":material/error:")
        st.button(
            "One batch",
            icon=":material/skip_next:",
            on_click=guard,
            args=(job, lambda: _ask_one_batch(job)),
            disabled=job.state != "paused",
            help="While paused: train exactly one batch, then show its digits, its loss before "
            "and after the update and how far each layer moved.",
        )
        report = job.snapshot(OneBatchReport)
        if report is not None:
            one_batch_report(job.run_id, report, get_dataset(job.config.dataset))


def one_batch_report(run_id: str, report: OneBatchReport, dataset: Dataset = MNIST) -> None:
    """Show one batch's step: its digits, its loss before and after, each tensor's update."""
    st.markdown(
        f"**Step {report.step:,}**: one batch of {report.batch_size:,} {dataset.item}s at lr "
        f"{report.lr:.3g} (losses of this batch, network in eval mode)"
    )
    before, after, change = st.columns(3)
    before.metric("Loss before", f"{report.loss_before:.4f}")
    after.metric("Loss after", f"{report.loss_after:.4f}")
    change.metric(
        "Change",
        f"{report.loss_after - report.loss_before:+.4f}",
        f"{(report.loss_after - report.loss_before) / max(report.loss_before, 1e-12):+.1%}",
        delta_color="inverse",
    )
    captions = digit_captions(report, None if dataset is MNIST else dataset.short_names)
    shown = len(captions)
    true, read = (
        ("7", "1") if dataset is MNIST else (dataset.short_names[6], dataset.short_names[4])
    )
    what = (
        f"the first {shown} {dataset.item}s of the batch (“{true} as {read}”: "
        f"{with_article(true)} the network still reads as {read} after the step)"
    )
    pixels = np.asarray(report.images).astype(np.uint8)
    if dataset is not MNIST:
        # names are longer than a tile is wide: one image each, with a caption that wraps
        widgets.digit_gallery(pixels, captions, columns=8, size=64)
        st.caption(what)
    else:
        cached = st.session_state.get(BATCH_GRID_KEY)
        if cached is None or cached[0] != (run_id, report.step):
            cached = ((run_id, report.step), digit_grid_image(pixels, captions, columns=8, scale=3))
            st.session_state[BATCH_GRID_KEY] = cached
        st.image(
            cached[1],
            width="stretch",
            caption=what,
            alt=digits_alt("digits of the batch", captions),
        )
    st.dataframe(
        update_rows(report),
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(format="%.3e")
            for name in ("‖ΔW‖", "‖W‖", "‖ΔW‖ / ‖W‖")
        },
    )
