"""The Train page's job panel: find the job to show, follow it live, then show its results.

The training thread only writes to its Job; the fragment here polls the Job twice a second and
redraws, so the rest of the page stays usable. Which job this tab follows, and whether it may
control it, is ui.shared.session's.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import streamlit as st

from core.analysis import probes
from core.events import Done, EpochEnded, SettingsChanged, Step
from core.runs.schema import InvalidRun
from core.runs.store import has_checkpoint, read_summary
from core.train.job import Job
from core.train.jobs import HANDOVER_SECONDS
from core.train.ownership import continue_refusal, saved_at
from ui.charts import curve_figures, live_curves
from ui.charts.figures import CHART_CONFIG
from ui.charts.shared_figures import figure_for, run_version
from ui.feed import live_feed
from ui.feed.progress_line import progress_line
from ui.shared import inside_views, state, talk
from ui.shared.pages import EVALUATE_PAGE
from ui.shared.session import (
    adopt_finished,
    controls,
    heartbeat,
    remember_job,
    session_id,
    shown_secret,
)
from ui.shared.sidebar import JOBS_POLL_SECONDS
from ui.shared.widgets import (
    escape_markdown,
    format_seconds,
    interrupted_text,
    number_or_dash,
    percent_or_dash,
)
from ui.train import follow_panel, steer_panel

VIEWS = ("Curves", "Inside the network")
VIEW_KEY = "train-live-view"
CONTINUE_ERROR_KEY = "_continue_error"
CURVES_POLL_SECONDS = 0.5  # core/bench/overhead.py's PAGE_POLL_SECONDS watches a job as often
INSIDE_POLL_SECONDS = 1.0


def curves(
    steps: list[Step],
    epochs: list[EpochEnded],
    key: str,
    changes: list[SettingsChanged] = (),
    optimizer: str = "sgd",
    version: tuple | None = None,
) -> None:
    """Draw per-step loss, per-epoch loss and accuracy, and the learning rate; mark the changes
    of settings made while training on the loss and rate charts.

    version names a saved run's files (shared_figures.run_version): its figures are built once,
    not at every rerun of the page (about 80 ms for a run of 10 epochs).
    """
    if not steps:
        st.caption("The loss curve appears after the first steps.")
        return

    def loss_figure():
        figure = curve_figures.loss_curve_figure(steps)
        figure.update_layout(**live_curves.settings_markers(list(changes), optimizer))
        return figure

    def rate_figure():
        figure = curve_figures.lr_figure(steps, height=190)
        figure.update_layout(**live_curves.settings_markers(list(changes), optimizer, words=False))
        return figure

    loss = figure_for(version, ("loss",), loss_figure)
    st.plotly_chart(loss, key=f"{key}_loss", config=CHART_CONFIG)
    if epochs:
        st.plotly_chart(
            figure_for(version, ("epochs",), partial(curve_figures.epoch_curves_figure, epochs)),
            key=f"{key}_epochs",
            config=CHART_CONFIG,
        )
    else:
        st.caption("Train and validation curves appear after the first epoch.")
    rate = figure_for(version, ("rate",), rate_figure)
    st.plotly_chart(rate, key=f"{key}_lr", config=CHART_CONFIG)


def _if_in_control(job: Job, action) -> None:
    # checked again at the click: the buttons are drawn only for the owner, and stay its own
    if controls(job):
        action()


def _controls(job: Job) -> None:
    device = job.progress()["device"]
    name = escape_markdown(job.name)
    if not controls(job):
        if state.registry().holds_secret(job, shown_secret(job.run_id)):
            st.info(
                f"**{name}** on {device or '…'} · {job.state} — another tab of this browser "
                f"holds its controls: they come to this tab once that one has been closed for "
                f"{HANDOVER_SECONDS:g} seconds.",
                icon=":material/tab:",
            )
            return
        st.info(
            f"**{name}** on {device or '…'} · {job.state} — training by someone else: you can "
            "watch it here, but only the browser that started it can pause or stop it.",
            icon=":material/visibility:",
        )
        return
    left, right, info = st.columns([1.3, 1.1, 2.6], vertical_alignment="center")
    if job.state == "paused":
        left.button(
            "Resume",
            icon=":material/play_arrow:",
            on_click=_if_in_control,
            # a parked job waits for the slot it gave up (core.train.parking)
            args=(job, partial(state.registry().resume, job)),
            type="primary",
            width="stretch",
        )
    else:
        left.button(
            "Pause",
            icon=":material/pause:",
            on_click=_if_in_control,
            args=(job, job.pause),
            disabled=job.state != "running",
            type="primary",
            width="stretch",
        )
    right.button(
        "Stop",
        icon=":material/stop:",
        on_click=_if_in_control,
        args=(job, job.stop),
        disabled=job.state == "stopping",
        type="primary",
        width="stretch",
        help="Stop after this step; the model so far is tested and saved.",
    )
    info.caption(f"**{name}** on {device or '…'} · {job.state}")


def live_panel(run_id: str) -> None:
    """Follow a queued or running job: its controls, drawn when the page runs (they change
    only with the job's state), then its progress and curves, polled twice a second."""
    job = state.registry().get(run_id)
    if job is None:
        return
    if job.active and job.state != "queued":
        # outside the polled part: redrawn twice a second, these widgets cost the browser
        # more than the curves (python -m core bench --browser), and a click on one of them
        # landed on an element the next poll replaced
        _controls(job)
        if controls(job):
            steer_panel.steering_box(job, _if_in_control)
        st.segmented_control(
            "Show",
            VIEWS,
            default=VIEWS[0],
            key=VIEW_KEY,
            label_visibility="collapsed",
            help="Inside the network: the first layer's weights, the last hidden layer's "
            "features in 2-D and each layer's gradient norm, as they change.",
        )
    curves = st.session_state.get(VIEW_KEY, VIEWS[0]) != VIEWS[1]
    started = job.state != "queued"
    hinted = curves and started and follow_panel.follow_hint(job)
    # the curves with nothing to follow, or the network's insides: the browser fetches them
    # and the progress itself, and the page's script runs only every JOBS_POLL_SECONDS to
    # keep the tab's jobs going (ui/feed/live_feed)
    fed = (hinted or (started and not curves)) and live_feed.served()
    if fed:
        view = "curves" if curves else "inside"
        live_feed.live_feed_view(job, key=f"live-feed-{view}", scale=talk.font_scale(), view=view)
    # the curves grow twice a second; the network's insides arrive about once a second
    # (weights) and every two (features), so that view polls once a second: redrawing the
    # same elements in between cost the browser a tenth of a core (bench --app)
    every = CURVES_POLL_SECONDS if curves else INSIDE_POLL_SECONDS
    st.fragment(_live_updates, run_every=JOBS_POLL_SECONDS if fed else every)(
        run_id, job.state, job.progress()["device"], follow=curves and not hinted, fed=fed
    )


def _live_updates(
    run_id: str,
    drawn_state: str,
    drawn_device: str | None,
    follow: bool = True,
    fed: bool = False,
) -> None:
    """Poll the job; when it ends, or the controls drawn above no longer match its state or
    its device (known once it starts), rerun the page (results, or the right buttons)."""
    job = state.registry().get(run_id)
    if job is None:
        return
    # this tab's jobs kept going (another's, watched through a link, is not), and the page
    # rerun when one ends: the sidebar leaves that to this poll (session.heartbeat)
    heartbeat()
    if not job.active:
        adopt_finished(job)
        st.rerun()  # the full run draws the results and stops polling
    if job.state != drawn_state or job.progress()["device"] != drawn_device:
        st.rerun()  # running → paused from elsewhere, queued → running, the device now known
    if fed:
        return  # the feed draws the progress and the curves
    if job.state == "queued":
        position = state.registry().queue_position(job)
        st.info(
            f"**{escape_markdown(job.name)}** is queued (number {position} in line): it starts when the "
            "training before it ends.",
            icon=":material/hourglass_top:",
        )
        if controls(job):
            st.button(
                "Cancel",
                icon=":material/close:",
                on_click=_if_in_control,
                args=(job, lambda: state.registry().cancel_queued(job)),
            )
        return
    progress = job.progress()
    plan = job.plan
    st.progress(min(progress["fraction"], 1.0), text=progress_line(job, progress))
    if plan is not None and plan.notice:
        st.warning(plan.notice, icon=":material/memory:")
    if st.session_state.get(VIEW_KEY, VIEWS[0]) == VIEWS[1]:
        inside_views.live_inside(job, key="live-inside")
    else:
        if follow:  # the digit last drawn on the Draw page, scored with the weights of the moment
            follow_panel.follow_view(job, key="train-follow", compact=True)
        live_curves.live_job_curves(job, key="live")


def _summary_for(job: Job | None, run_id: str | None) -> tuple[dict | None, Path | None]:
    if job is not None and job.run_dir is not None:
        return read_summary(Path(job.run_dir)), Path(job.run_dir)
    if run_id is None:
        return None, None
    saved = state.runs_dir() / run_id
    return (read_summary(saved), saved) if saved.exists() else (None, None)


def continue_training(path: Path) -> None:
    """Queue a job that continues an interrupted run from its checkpoint (button callback)."""
    try:
        job = state.registry().continue_run(
            path,
            owner=session_id(),
            data_dir=str(state.data_dir()),
            runs_dir=state.runs_dir(),
            secret=shown_secret(path.name),
        )
    except (ValueError, OSError) as exc:
        st.session_state[CONTINUE_ERROR_KEY] = str(exc)
        return
    remember_job(job)


def continue_refused(summary: dict, path: Path) -> str | None:
    """Return why this browser may not continue an interrupted run now (another visitor's who
    may come back for it), or None if it may."""
    return continue_refusal(summary, shown_secret(path.name), saved_at(path))


def _interrupted(summary: dict, path: Path, name: str) -> None:
    st.warning(
        f"**{name}** was {interrupted_text(summary)}: the server or its training process "
        "stopped before it finished. The model as it was after that epoch is saved and can be "
        "used on every page.",
        icon=":material/pause_circle:",
    )
    if problem := st.session_state.pop(CONTINUE_ERROR_KEY, None):
        st.error(f"Cannot continue: {problem}", icon=":material/error:")
    if not has_checkpoint(path):
        return
    if refusal := continue_refused(summary, path):
        st.caption(f"Continue training: {refusal}.")
        return
    st.button(
        "Continue training",
        icon=":material/resume:",
        type="primary",
        key="continue_training",
        on_click=continue_training,
        args=(path,),
        help="Resumes from the saved epoch with the same settings and random state, as if "
        "it had never stopped.",
    )


def result_panel(job: Job | None, run_id: str | None) -> None:
    """Show how a job ended: test accuracy, a link to Evaluate, and its curves."""
    if job is not None:
        adopt_finished(job)
    if job is not None and job.state == "failed":
        st.error(f"Training failed: {job.error}", icon=":material/error:")
        # the curves drawn before the failure stay: they often show why (a loss shooting up)
        changes = job.settings_changes()
        curves(job.steps(), job.epochs(), "failed", changes, job.config.optimizer)
    summary, path = _summary_for(job, run_id)
    if summary is None:
        if job is None:
            st.info("Choose the settings on the left and press **Start training**.")
        elif job.state == "stopped":
            st.warning("Stopped before the first step: nothing was saved.")
        return
    status = summary.get("status", "finished")
    name = escape_markdown(str(summary.get("name", "custom")))
    accuracy = percent_or_dash(summary.get("test_accuracy"))
    if status == "interrupted":
        _interrupted(summary, path, name)
    elif status == "finished":
        st.success(
            f"**{name}** finished: test accuracy **{accuracy}**", icon=":material/check_circle:"
        )
    else:
        done = job.events(Done) if job is not None else []
        why = f": {done[-1].reason}" if done and done[-1].reason else ""
        st.warning(
            f"**{name}** {escape_markdown(str(status))}: test accuracy **{accuracy}** "
            f"(stopped early{why}; saved as it was)",
            icon=":material/stop_circle:",
        )
    metrics = st.columns(4)
    if status == "interrupted":
        metrics[0].metric("Validation accuracy", percent_or_dash(summary.get("val_accuracy")))
        metrics[1].metric("Epochs done", number_or_dash(summary.get("epochs_completed"), "{:,}"))
    else:
        metrics[0].metric("Test accuracy", accuracy)
        metrics[1].metric("Test loss", number_or_dash(summary.get("test_loss"), "{:.4f}"))
    metrics[2].metric("Training time", format_seconds(summary.get("seconds")))
    metrics[3].metric("Steps", number_or_dash(summary.get("steps"), "{:,}"))
    st.page_link(
        EVALUATE_PAGE,
        label="Find the digits it confuses on Evaluate",
        icon=":material/arrow_forward:",
    )
    try:
        run = state.cached_run(path)
    except (InvalidRun, OSError) as exc:  # damaged or deleted since its summary was read
        st.error(
            f"**{name}** could not be loaded, so its curves cannot be shown: {exc}",
            icon=":material/error:",
        )
        return
    changes, optimizer = run.settings_changes, run.config.optimizer
    curves(run.steps, run.epochs, "done", changes, optimizer, version=run_version(path))
    with st.expander("Gradient norms per layer", icon=":material/insights:"):
        inside_views.grad_norms_chart(
            run.steps,
            probes.layer_labels(run.model),
            key="done-grads",
            live=False,
            version=run_version(path),
        )
