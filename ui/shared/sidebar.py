"""The sidebar every page shares: data status, device, active model, lesson and running jobs."""

from __future__ import annotations

import streamlit as st
import torch

from core.train.device import device_label, resolve_device
from ui.shared import build_state, lesson, session, state, talk
from ui.shared.pages import TRAIN_PAGE
from ui.shared.widgets import escape_markdown, job_progress_text, run_picker

DEVICE_KEY = "device"
RUN_PICKER_KEY = "active_run_picker"
# Every poll reruns the panel, and the browser redraws the page's elements: ~0.06 s of a core
# each (python -m core bench --browser, Build page); a sidebar's progress bar and the tab's
# heartbeat (jobs.ORPHAN_TIMEOUT: 120 s) need no more than one every 2 s
JOBS_POLL_SECONDS = 2.0
WATCHABLE_SHOWN = 3  # other tabs' running trainings offered to watch, at most


def device_choices() -> dict[str, str]:
    """Return the selectable devices with their labels; GPU entries only where one exists."""
    choices = {"auto": f"Auto ({device_label(resolve_device('auto'))})", "cpu": "CPU"}
    if torch.cuda.is_available():
        choices["cuda"] = f"GPU: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        choices["mps"] = "GPU: Apple (MPS)"
    return choices


def _data_status(problem: str | None) -> None:
    dataset = state.current_dataset()
    if dataset.name != "mnist":
        problem = state.data_problem(dataset.name)
    if problem:
        st.markdown(f":red[**{dataset.title} unavailable**] — see the message on the page.")
        return
    data = state.dataset_data(dataset.name)
    st.markdown(
        f"**{dataset.title}** · {len(data.train_labels):,} train · {len(data.test_labels):,} test  \n"
        f":gray[from {data.source} · {data.root}]"
    )


def _device_picker() -> None:
    choices = device_choices()
    config = build_state.current_config()
    if st.session_state.get(DEVICE_KEY) not in choices:
        st.session_state[DEVICE_KEY] = config.device if config.device in choices else "auto"
    device = st.selectbox(
        "Device", list(choices), format_func=choices.get, key=DEVICE_KEY, help="Used for training."
    )
    config.device = device


def plural(count: int, noun: str) -> str:
    """Return '1 node', '2 nodes'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def where_training_runs() -> str:
    """Return the sidebar's line on where training runs: this machine or a Ray cluster."""
    registry = state.registry()
    about = registry.executor.describe()
    if about["executor"] != "ray":
        return ":gray[Training runs on this server, one at a time.]"
    where = (
        "a local Ray" if about["address"] == "local" else f"the Ray cluster at {about['address']}"
    )
    if about.get("problem"):
        return f":red[Training cannot reach {where}: {about['problem']}.]"
    if about.get("cpus") is None:
        return f":gray[Training runs on {where} (connecting…).]"
    parts = [plural(about["nodes"], "node"), plural(about["cpus"], "CPU")]
    if about.get("gpus"):
        parts.append(plural(about["gpus"], "GPU"))
    return (
        f":gray[Training runs on {where}: {', '.join(parts)}; "
        f"room for {registry.max_concurrent} at once.]"
    )


def _executor_status() -> None:
    problem = state.registry().executor_problem
    if problem:
        st.warning(problem, icon=":material/cloud_off:")
    st.caption(where_training_runs())


def _active_model_picker() -> None:
    chosen = run_picker(
        RUN_PICKER_KEY, "Active model", help="The saved run that Evaluate and Draw start with."
    )
    if chosen is None:
        st.caption("**Active model:** none yet — train one on the Train page.")
    else:
        state.set_active_run(chosen["path"])


def _jobs_panel(shown_live: str | None = None, page_polls: bool = True) -> None:
    # on every page while a job is active, this is the open tab's heartbeat; where the page
    # polls a job itself (the Train page's live view), that page's poll is, and that job's
    # progress is shown there (the other jobs' lines are redrawn when the page reruns). The
    # Inside page shows its progress too but does not poll: there the panel still does
    mine = session.session_jobs() if shown_live and page_polls else session.heartbeat()
    others = len(state.registry().active()) - len(mine)
    if mine:
        st.markdown("**Training now**")
    for job in [job for job in mine if job.run_id == shown_live]:
        st.caption(f"{escape_markdown(job.name)}: {job.state}, its progress live on this page")
    for job in [job for job in mine if job.run_id != shown_live]:
        progress = job.progress()
        text = job_progress_text(job, progress)
        if (position := state.registry().queue_position(job)) is not None:
            text += f" (number {position} in line)"
        st.progress(min(progress["fraction"], 1.0), text=text)
    if others > 0:
        trainings = "training" if others == 1 else "trainings"
        st.caption(f"{others} other {trainings} from other tabs queued or running on this server.")
        # a presenter's second window, or a room's curious: watch one live, read-only
        own = {job.run_id for job in mine}
        running = [j for j in state.registry().active() if j.run_id not in own]
        for job in [j for j in running if j.state != "queued"][:WATCHABLE_SHOWN]:
            st.page_link(
                TRAIN_PAGE,
                label=f"Watch {job.name}",
                icon=":material/visibility:",
                query_params={session.JOB_KEY: job.run_id},
                help="Its progress and curves, live; only the browser that started it can "
                "pause or stop it.",
            )
    registry = state.registry()
    if registry.executor.name == "ray" and registry.active():  # name: no call to the cluster
        st.caption(f"On Ray: {registry.running_count()} running, {registry.queued_count()} queued.")


def draw(problem: str | None, shown_live: str | None = None, page_polls: bool = True) -> None:
    """Draw the shared sidebar (below the page navigation); shown_live: the run id of this
    tab's job whose progress the page shows itself (the Train page's live view, which also
    polls it, so the sidebar does not; the Inside page's, page_polls False)."""
    with st.sidebar:
        _data_status(problem)
        _device_picker()
        _executor_status()
        _active_model_picker()
        if not talk.active():  # talk mode hides the sidebar: its bar has "Leave lesson"
            lesson.sidebar_controls()
        talk.sidebar_controls()
        if shown_live and page_polls:
            _jobs_panel(shown_live)
        else:
            polling = bool(state.registry().active())
            st.fragment(_jobs_panel, run_every=JOBS_POLL_SECONDS if polling else None)(
                shown_live, page_polls=False
            )
