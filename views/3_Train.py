"""Train: set how the network learns, start it, and watch it learn live."""

from __future__ import annotations

import copy
from contextlib import nullcontext

import streamlit as st

from core.runs.schema import MAX_NAME_CHARS
from core.spec import models
from core.train import timebudget
from core.train.preflight import preflight
from ui.shared import (
    build_state,
    guide,
    lesson,
    mydigits_views,
    race_panel,
    session,
    share,
    state,
    talk,
)
from ui.shared.pages import TRAIN_PAGE
from ui.train import train_panel
from ui.train.train_settings import (
    augment_settings,
    loop_settings,
    my_digits_settings,
    optimizer_settings,
)

spec = build_state.current_spec()
config = build_state.current_config()

title_column, share_column = st.columns([5, 1], vertical_alignment="bottom")
title_column.title("Train")

settings_column, panel_column = st.columns([2, 3], gap="medium")
with settings_column:
    try:
        spec.validate()
        network = models.network_text(spec)
        parameters = f"{models.parameter_count(spec):,} parameters"
    except ValueError as exc:
        network, parameters = "invalid network", str(exc)
    dataset = state.current_dataset()
    digits = (
        f"all {dataset.item}s"
        if len(config.classes) == 10
        else " vs ".join(dataset.labels(config.classes))
    )
    if dataset.name != "mnist":
        digits = f"{dataset.title}, {digits}"
    st.markdown(
        f"**{build_state.current_preset()}**{' (modified)' if build_state.is_modified() else ''}: "
        f"{network}  \n:gray[{parameters} · {digits} · normalisation {config.normalization}]"
    )
    # the button and the reason it cannot start yet sit above the settings but are drawn after
    # them, so that they judge the values the widgets have just written, not the previous run's
    start_slot = st.container()
    # on a projector the audience reads the run, not the form: one click opens it (issue 24)
    folded = st.expander("Settings", icon=":material/tune:") if talk.active() else nullcontext()
    with folded:
        optimizer_settings(config)
        loop_settings(config)
        my_digits_settings(config, mydigits_views.set_names())
        if not lesson.hidden("augment"):
            # expanders do not nest: inside the folded settings it is a plain section
            if talk.active():
                st.markdown("**Augmentation**")
                augment_settings(config)
            else:
                with st.expander("Augmentation", expanded=config.augment.enabled):
                    augment_settings(config)
    # greyed-out widgets are not trusted: what a lesson fixes is put back before it is used
    lesson.enforce()
    name = st.text_input(
        "Run name",
        value=build_state.run_name(),
        key=build_state.widget_key("run_name"),
        max_chars=MAX_NAME_CHARS,
    )
    st.caption(
        f"Network on the Build page, digits on the Data page, device ({config.device}) "
        "in the sidebar."
    )
    checked = preflight(spec, config, name.strip(), state.runs_dir())
    estimate, problem = checked.estimate, checked.problem
    # a shared server: each browser may have a few trainings queued or running (issue 28)
    over_limit = state.registry().entry_problem(session.session_id())
    if not lesson.active():  # a race varies settings, which a lesson may have fixed
        race_panel.race_controls(
            spec, config, name.strip() or build_state.run_name(), problem or over_limit, estimate
        )
    with start_slot:
        registry = state.registry()
        busy = not registry.has_room()
        slots = registry.max_concurrent if busy else 1
        start = st.button(
            "Queue another training" if busy else "Start training",
            # a fixed key: the label changes when another tab starts, and a click must not be lost
            key="start_training",
            # while a run trains, its Pause and Stop are the page's prominent buttons (issue 24)
            type="secondary" if busy else "primary",
            icon=":material/play_arrow:",
            width="stretch",
            disabled=over_limit is not None,
            help=(
                "One training runs at a time; this one starts when the current one ends."
                if slots == 1
                else f"{slots} trainings run at once; this one starts when one of them ends."
            )
            if busy
            else None,
        )
        if estimate is not None and problem is None:
            st.caption(
                f"About {timebudget.duration_text(estimate)} of training on this machine "
                "(a few of its steps timed here, times the steps it will train)."
            )
        if over_limit is not None:
            st.info(f"Cannot queue another yet: {over_limit}.", icon=":material/group:")
        if problem is not None:
            st.error(
                f"Cannot start yet: {problem}. Your other settings are kept; "
                "change this one to continue.",
                icon=":material/error:",
            )

# after every widget has written its value: the URL and the link show what the page shows
share.sync_to_url()
with share_column:
    share.copy_link_button()

with panel_column:
    if start and problem is None and over_limit is None:
        try:
            # the job gets its own copies: editing the page must not change a running job
            job = state.registry().submit(
                copy.deepcopy(spec),
                copy.deepcopy(config),
                name.strip() or build_state.run_name(),
                data_dir=str(state.data_dir()),
                runs_dir=str(state.runs_dir()),
                owner=session.session_id(),
            )
        except ValueError as exc:  # e.g. the memory budget changed since the page was drawn
            st.error(f"Cannot start: {exc}", icon=":material/error:")
        else:
            session.remember_job(job)
            st.rerun()  # the sidebar and the live panel pick the new job up
    elif not state.registry().active():
        # torch and MNIST load in the worker while the settings are chosen
        state.registry().warm(str(state.data_dir()))
    job = session.find_job()
    if job is not None and job.active:
        train_panel.live_panel(job.run_id)
    else:
        train_panel.result_panel(job, job.run_id if job else session.wanted_run_id())
guide.next_step(TRAIN_PAGE)
