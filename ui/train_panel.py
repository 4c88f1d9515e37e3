"""The Train page's job panel: find the job to show, follow it live, then show its results.

The training thread only writes to its Job; the fragment here polls the Job twice a second and
redraws, so the rest of the page stays usable. The job's run id is kept in session state and in
the URL (?job=...), so a browser refresh finds it again in the process-wide registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from core.jobs import Job
from core.runs import read_summary
from ui import figures, state
from ui.widgets import format_seconds

JOB_KEY = "job"
ADOPTED_KEY = "_adopted_jobs"
EVALUATE_PAGE = "views/4_Evaluate.py"
CHART_CONFIG = {"displayModeBar": False}


def remember_job(job: Job) -> None:
    """Make job the one this browser tab follows, surviving a refresh through the URL."""
    st.session_state[JOB_KEY] = job.run_id
    st.query_params[JOB_KEY] = job.run_id


def wanted_run_id() -> str | None:
    """Return the run id this tab follows: from session state, else from the URL."""
    run_id = st.session_state.get(JOB_KEY) or st.query_params.get(JOB_KEY)
    # the URL is user input: only a plain run id may become part of a path
    return run_id if run_id and re.fullmatch(r"[A-Za-z0-9-]+", run_id) else None


def find_job() -> Job | None:
    """Return the job to show: this tab's own if still active, else the newest active, else its own."""
    registry = state.registry()
    run_id = wanted_run_id()
    own = registry.get(run_id) if run_id else None
    if own is not None and own.active:
        return own
    active = registry.active()
    if active:
        # a job started in another tab, or before a refresh that lost the URL
        remember_job(active[-1])
        return active[-1]
    return own


def adopt_finished(job: Job) -> None:
    """Once per job: make its saved run the active model everywhere."""
    adopted = st.session_state.setdefault(ADOPTED_KEY, set())
    if job.run_id in adopted or job.active:
        return
    adopted.add(job.run_id)
    if job.run_dir is not None:
        state.set_active_run(job.run_dir)


def curves(steps: list[dict], epochs: list[dict], key: str) -> None:
    """Draw per-step loss, per-epoch loss and accuracy, and the learning rate."""
    if not steps:
        st.caption("The loss curve appears after the first steps.")
        return
    st.plotly_chart(figures.loss_curve_figure(steps), key=f"{key}_loss", config=CHART_CONFIG)
    if epochs:
        st.plotly_chart(
            figures.epoch_curves_figure(epochs), key=f"{key}_epochs", config=CHART_CONFIG
        )
    else:
        st.caption("Train and validation curves appear after the first epoch.")
    st.plotly_chart(figures.lr_figure(steps, height=190), key=f"{key}_lr", config=CHART_CONFIG)


def progress_text(progress: dict, steps: list[dict], batch_size: int) -> str:
    """Return the progress line: epoch, step, samples per second and time left."""
    # the trainer's rate covers only its last flush; the mean of the last 20 is steadier
    recent = [s["samples_per_s"] for s in steps[-20:] if s.get("samples_per_s")]
    rate = sum(recent) / len(recent) if recent else 0.0
    remaining = max(progress["total_steps"] - progress["step"], 0)
    eta = remaining * batch_size / rate if rate > 0 else None
    text = (
        f"Epoch {progress['epoch']}/{progress['epochs']} · "
        f"step {progress['step']:,}/{progress['total_steps']:,} · "
        f"{rate:,.0f} samples/s"
    )
    if progress["state"] == "paused":
        return text + " · paused"
    return text + f" · ETA {format_seconds(eta)}"


def _controls(job: Job) -> None:
    left, right, info = st.columns([1.3, 1.1, 2.6], vertical_alignment="center")
    if job.state == "paused":
        left.button("Resume", icon=":material/play_arrow:", on_click=job.resume, width="stretch")
    else:
        left.button(
            "Pause",
            icon=":material/pause:",
            on_click=job.pause,
            disabled=job.state != "running",
            width="stretch",
        )
    right.button(
        "Stop",
        icon=":material/stop:",
        on_click=job.stop,
        disabled=job.state == "stopping",
        width="stretch",
        help="Stop after this step; the model so far is tested and saved.",
    )
    device = job.progress()["device"]
    info.caption(f"**{job.name}** on {device or '…'} · {job.state}")


@st.fragment(run_every=0.5)
def live_panel(run_id: str) -> None:
    """Follow a queued or running job; when it ends, rerun the page to show the results."""
    job = state.registry().get(run_id)
    if job is None:
        return
    if not job.active:
        adopt_finished(job)
        st.rerun()  # the full run draws the results and stops polling
    if job.state == "queued":
        position = state.registry().queue_position(job)
        st.info(
            f"**{job.name}** is queued (number {position} in line): it starts when the "
            "training before it ends.",
            icon=":material/hourglass_top:",
        )
        st.button(
            "Cancel", icon=":material/close:", on_click=state.registry().cancel_queued, args=(job,)
        )
        return
    progress = job.progress()
    steps = job.events("step")
    plan = job.events("start")
    batch_size = plan[0]["batch_size"] if plan else job.config.batch_size
    st.progress(min(progress["fraction"], 1.0), text=progress_text(progress, steps, batch_size))
    _controls(job)
    curves(steps, job.events("epoch"), key="live")


def _summary_for(job: Job | None, run_id: str | None) -> tuple[dict | None, Path | None]:
    if job is not None and job.run_dir is not None:
        return read_summary(Path(job.run_dir)), Path(job.run_dir)
    if run_id is None:
        return None, None
    saved = state.runs_dir() / run_id
    return (read_summary(saved), saved) if saved.exists() else (None, None)


def result_panel(job: Job | None, run_id: str | None) -> None:
    """Show how a job ended: test accuracy, a link to Evaluate, and its curves."""
    if job is not None:
        adopt_finished(job)
    if job is not None and job.state == "failed":
        st.error(f"Training failed: {job.error}", icon=":material/error:")
    summary, path = _summary_for(job, run_id)
    if summary is None:
        if job is None:
            st.info("Choose the settings on the left and press **Start training**.")
        elif job.state == "stopped":
            st.warning("Stopped before the first step: nothing was saved.")
        return
    status = summary.get("status", "finished")
    headline = (
        f"**{summary.get('name')}** {status}: test accuracy **{summary['test_accuracy']:.2%}**"
    )
    if status == "finished":
        st.success(headline, icon=":material/check_circle:")
    else:
        st.warning(headline + " (stopped early, saved as it was)", icon=":material/stop_circle:")
    metrics = st.columns(4)
    metrics[0].metric("Test accuracy", f"{summary['test_accuracy']:.2%}")
    metrics[1].metric("Test loss", f"{summary['test_loss']:.4f}")
    metrics[2].metric("Training time", format_seconds(summary.get("seconds")))
    metrics[3].metric("Steps", f"{summary.get('steps', 0):,}")
    st.page_link(
        EVALUATE_PAGE,
        label="Find the digits it confuses on Evaluate",
        icon=":material/arrow_forward:",
    )
    if job is not None:
        curves(job.events("step"), job.events("epoch"), key="done")
    else:
        run = state.cached_run(path)
        curves(run.steps, run.epochs, key="done")
