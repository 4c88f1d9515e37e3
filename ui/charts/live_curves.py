"""A running job's curves as live charts: loss per step, train/validation per epoch, the rate.

Each is a ui.charts.live_chart.live_lines chart, so a rerun sends the browser only the new points.
Points once sent must stay as they are, so the smoothing window and the stride (every k-th
step, at most MAX_POINTS a trace) are fixed by the run's plan, not by how many steps have
arrived. The stride keeps each redraw cheap for the browser: plotly redraws a whole trace when
points are appended, and a 500-pixel chart shows no more than ~2,000 points anyway.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.events import FeaturesSnapshot, SettingsChanged
from core.train.job import Job
from core.train.steering import momentum_field
from ui.charts import palette
from ui.charts.curve_figures import (
    LR_AXES,
    LR_COLOR,
    epoch_axes,
    epoch_points,
    loss_axes,
    smoothing_window,
)
from ui.charts.figures import MAX_POINTS, RAW_LINE, TRAIN_COLOR, VAL_COLOR, VAL_DASH
from ui.charts.inside_figures import DIGIT_COLORS, DIGIT_SYMBOLS
from ui.charts.live_chart import Trace, live_lines
from ui.shared import talk

COLUMNS_KEY = "_live_columns"


class StepColumns:
    """The steps of one job as numpy columns, extended by the new steps on each rerun.

    A rerun's work is the new steps and the points drawn (at most MAX_POINTS a trace), never
    the whole run: the smoothed loss comes from running sums kept as the steps arrive, and the
    epochs are kept at the chart's stride (a full-batch run has an epoch at every step).
    """

    def __init__(self) -> None:
        self.step = np.zeros(0, dtype=np.int64)
        self.loss = np.zeros(0)
        self.lr = np.zeros(0)
        self.loss_sums = np.zeros(0)  # cumulative: a trailing mean is a difference of two
        self.sampled_steps: list[int] = []  # the steps that sampled gradient norms, and theirs
        self.grad_norms: list[list[float]] = []
        # every epoch_stride-th epoch, and validated ones as often (a full-batch run's epochs
        # are scored every few steps, rarely on the stride)
        self.epochs: list = []
        self.epochs_seen = 0
        self.last_scored = -(10**9)

    def update(self, job: Job) -> None:
        known = len(self.step)
        if job.step_count() < known or job.epoch_count() < self.epochs_seen:
            self.__init__()  # a different job under the same run id (never expected)
            known = 0
        new = job.steps(known)
        if new:
            self.step = np.concatenate([self.step, [s.step for s in new]])
            loss = np.array([s.loss for s in new], dtype=float)
            self.loss = np.concatenate([self.loss, loss])
            start = self.loss_sums[-1] if len(self.loss_sums) else 0.0
            self.loss_sums = np.concatenate([self.loss_sums, start + np.cumsum(loss)])
            self.lr = np.concatenate([self.lr, [s.lr for s in new]])
            sampled = [s for s in new if s.grad_norms]
            self.sampled_steps += [s.step for s in sampled]
            self.grad_norms += [s.grad_norms for s in sampled]
        self._update_epochs(job)

    def _update_epochs(self, job: Job) -> None:
        new = job.epochs(self.epochs_seen)
        if not new:
            return
        every = epoch_stride(job)
        for epoch in new:  # points once drawn stay: only ever appended
            scored = epoch.val_accuracy == epoch.val_accuracy
            if epoch.epoch % every == 0 or (scored and epoch.epoch - self.last_scored >= every):
                self.epochs.append(epoch)
                if scored:
                    self.last_scored = epoch.epoch
        self.epochs_seen += len(new)

    def smoothed(self, window: int, every: int) -> np.ndarray:
        """Return the trailing mean of the loss over `window` steps at every `every`-th step."""
        ends = np.arange(0, len(self.loss_sums), every)
        before = ends - window
        sums = self.loss_sums[ends] - np.where(before >= 0, self.loss_sums[before.clip(0)], 0.0)
        return sums / np.minimum(ends + 1, window)


def epoch_stride(job: Job) -> int:
    """Return k such that every k-th epoch is drawn: at most MAX_POINTS, fixed for the run."""
    return stride(job.plan.epochs if job.plan else job.config.epochs)


def _columns(job: Job) -> StepColumns:
    cache = st.session_state.setdefault(COLUMNS_KEY, {})
    if job.run_id not in cache:
        cache.clear()  # only the job on screen is worth keeping
        cache[job.run_id] = StepColumns()
    columns = cache[job.run_id]
    columns.update(job)
    return columns


MARKER_COLOR = palette.PURPLE


def momentum_name(optimizer: str) -> str:
    """Return what the page calls the optimizer's momentum: 'β₁' for Adam and AdamW."""
    return "β₁" if momentum_field(optimizer) == "beta1" else "momentum"


def settings_label(change: SettingsChanged, optimizer: str) -> str:
    """Return a change's words for the chart: 'lr 0.01 → 0.003', 'β₁ 0.9 → 0.8', or both."""
    parts = []
    if change.previous_lr is None or change.lr != change.previous_lr:
        parts.append(f"lr {_g(change.previous_lr)} → {change.lr:.3g}")
    if change.previous_momentum is None or change.momentum != change.previous_momentum:
        name = momentum_name(optimizer)
        parts.append(f"{name} {_g(change.previous_momentum)} → {change.momentum:.3g}")
    return ", ".join(parts) or f"lr {change.lr:.3g} held"  # the same values: the schedule ended


def _g(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"


def settings_markers(changes: list[SettingsChanged], optimizer: str, words: bool = True) -> dict:
    """Return plotly layout shapes, and with words annotations, marking each change of settings.

    A line sits half a step after the change's step: the steps to its right used the new values.
    """
    shapes, annotations = [], []
    for position, change in enumerate(changes):
        x = change.step + 0.5
        shapes.append(
            dict(
                type="line",
                xref="x",
                yref="paper",
                x0=x,
                x1=x,
                y0=0,
                y1=1,
                line=dict(color=MARKER_COLOR, width=1.5, dash="dot"),
            )
        )
        if words:
            annotations.append(
                dict(
                    x=x,
                    xref="x",
                    y=1
                    - 0.1 * (position % 3),  # neighbours on three rows, not on top of each other
                    yref="paper",
                    text=settings_label(change, optimizer),
                    showarrow=False,
                    xanchor="left",
                    yanchor="top",
                    font=dict(color=MARKER_COLOR),
                    bgcolor="rgba(255,255,255,0.8)",
                )
            )
    return {"shapes": shapes, "annotations": annotations} if changes else {}


def stride(total_steps: int) -> int:
    """Return k such that every k-th step is drawn: at most MAX_POINTS per trace, fixed for a run."""
    return max(1, -(-total_steps // MAX_POINTS))


LOSS_HEIGHT, EPOCHS_HEIGHT, LR_HEIGHT = 280, 260, 190
NO_STEPS = "The loss curve appears after the first steps."
NO_EPOCHS = "Train and validation curves appear after the first epoch."


def curve_charts(job: Job, columns: StepColumns, scale: float) -> tuple[list, list[str]]:
    """Return a running job's charts as (key, traces, layout, height), and the captions that
    stand for those not drawn yet: the loss, the per-epoch scores, the learning rate."""
    if not len(columns.step):
        return [], [NO_STEPS]
    font = dict(size=round(13 * scale))
    # a change redraws the two charts whole, once: their layouts hold the markers
    changes = job.settings_changes()
    optimizer = job.config.optimizer
    total = job.plan.total_steps if job.plan else len(columns.step)
    every = stride(total)
    steps = columns.step[::every]
    smoothed = columns.smoothed(smoothing_window(total), every)
    loss = [
        Trace("loss per step", steps, columns.loss[::every], color=RAW_LINE, width=1),
        Trace("smoothed", steps, smoothed, color=TRAIN_COLOR, width=2.5),
    ]
    charts = [
        (
            "loss",
            loss,
            dict(font=font, **loss_axes(), **settings_markers(changes, optimizer)),
            LOSS_HEIGHT,
        )
    ]
    captions = []
    epochs = columns.epochs
    # fixed for the run: a layout that changed would redraw the whole chart
    tick = 1 if job.plan is None or job.plan.epochs <= 20 else None
    if epochs:
        traces = []
        for axis, metric in (("", "loss"), ("2", "accuracy")):
            for split, color, label in (
                ("train", TRAIN_COLOR, "train"),
                ("val", VAL_COLOR, "validation"),
            ):
                number = ".2%" if metric == "accuracy" else ".4f"
                xs, ys = epoch_points(epochs, f"{split}_{metric}")
                traces.append(
                    Trace(
                        label if not axis else f"{label} accuracy",
                        xs,
                        ys,
                        color=color,
                        width=2,
                        dash=VAL_DASH if split == "val" else None,
                        mode="lines+markers",
                        xaxis=f"x{axis}",
                        yaxis=f"y{axis}",
                        showlegend=not axis,
                        hovertemplate=f"epoch %{{x}}: %{{y:{number}}}<extra></extra>",
                    )
                )
        charts.append(("epochs", traces, dict(font=font, **epoch_axes(tick)), EPOCHS_HEIGHT))
    else:
        captions.append(NO_EPOCHS)
    lr = [Trace("learning rate", steps, columns.lr[::every], color=LR_COLOR, width=2)]
    lr_layout = dict(
        font=font, showlegend=False, **LR_AXES, **settings_markers(changes, optimizer, False)
    )
    charts.append(("lr", lr, lr_layout, LR_HEIGHT))
    return charts, captions


def live_job_curves(job: Job, key: str) -> None:
    """Draw a running job's loss, per-epoch scores and learning rate, sending only what is new."""
    charts, captions = curve_charts(job, _columns(job), talk.font_scale())
    for name, traces, layout, height in charts:
        if name == "lr" and NO_EPOCHS in captions:
            st.caption(NO_EPOCHS)  # where the epochs' chart will be
        live_lines(f"{key}-{name}", traces, layout, height=height)
    if not charts:
        st.caption(NO_STEPS)


GRADS_HEIGHT, FEATURES_HEIGHT = 280, 380


def grad_norms_chart(job: Job, columns: StepColumns, scale: float) -> tuple[list, dict] | None:
    """Return each layer's sampled gradient norm as (traces, layout); None while there is none."""
    if not columns.grad_norms or job.plan is None:
        return None
    xs = columns.sampled_steps
    norms = np.asarray(columns.grad_norms, dtype=float)
    traces = [
        Trace(
            name,
            xs,
            norms[:, position],
            color=palette.series_line(position)["color"],
            dash=palette.series_line(position)["dash"],
            width=2,
            hovertemplate=f"{name}, step %{{x}}: %{{y:.3g}}<extra></extra>",
        )
        for position, name in enumerate(job.plan.layers[: norms.shape[1]])
    ]
    layout = dict(
        font=dict(size=round(13 * scale)),
        xaxis=dict(title="step", rangemode="tozero"),
        # powers of ten only (10⁻³, 10⁻², …): plotly's own mixed "5, 10⁻¹, 2, 5, 1"
        yaxis=dict(title="‖∂L/∂W‖ (log)", type="log", dtick=1, exponentformat="power"),
    )
    return traces, layout


def features_chart(snapshot: FeaturesSnapshot, classes, scale: float) -> tuple[list, dict]:
    """Return a 2-D projection of test digits' features as (traces, layout), a colour a class."""
    coords = np.asarray(snapshot.coords)
    labels = np.asarray(snapshot.labels).astype(int)
    traces = [
        Trace(
            str(classes[index]),
            coords[labels == index, 0],
            coords[labels == index, 1],
            color=DIGIT_COLORS[palette.class_position(classes[index])],
            symbol=DIGIT_SYMBOLS[palette.class_position(classes[index])],
            mode="markers",
            hovertemplate=f"{classes[index]}<extra></extra>",
        )
        for index in sorted(set(labels.tolist()))
    ]
    first, second = (float(r) for r in snapshot.explained)
    legend_title = "digit" if all(str(c).isdigit() for c in classes) else "class"
    layout = dict(
        font=dict(size=round(13 * scale)),
        xaxis=dict(title=f"PC 1 ({first:.0%} of variance)", zeroline=False),
        yaxis=dict(title=f"PC 2 ({second:.0%} of variance)", zeroline=False),
        legend=dict(title=dict(text=legend_title), orientation="v", x=1.01, y=1),
    )
    return traces, layout


def live_grad_norms(job: Job, key: str) -> bool:
    """Draw each layer's gradient norm as it is sampled; return False while there is none."""
    chart = grad_norms_chart(job, _columns(job), talk.font_scale())
    if chart is None:
        return False
    live_lines(key, *chart, height=GRADS_HEIGHT)
    return True


def live_features(
    snapshot: FeaturesSnapshot, classes, key: str, height: int = FEATURES_HEIGHT
) -> None:
    """Draw a live 2-D projection of test digits' features, one colour per class (number or name)."""
    live_lines(key, *features_chart(snapshot, classes, talk.font_scale()), height=height)
