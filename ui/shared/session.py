"""Who this browser tab is, and which jobs are its own: the session identity every page uses.

A session sees only its own jobs: those it started, and the one named in its URL (?job=...,
with the job's secret when this tab controls it), so that a refresh finds it again in the
process-wide registry. The pages touch those jobs while the tab is open; the registry stops a
job its tab no longer touches.
"""

from __future__ import annotations

import re
import uuid

import streamlit as st

from core.train.job import Job
from ui.shared import state

JOB_KEY = "job"
SECRET_PARAM = "key"  # the URL parameter holding the job's secret
SECRETS_KEY = "_job_secrets"
SESSION_KEY = "_session_id"


def session_id() -> str:
    """Return this browser session's id: the owner of the jobs it starts."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = uuid.uuid4().hex
    return st.session_state[SESSION_KEY]


def shown_secret(run_id: str) -> str | None:
    """Return the secret this tab holds for a job: kept in the session, or in the URL."""
    return st.session_state.get(SECRETS_KEY, {}).get(run_id) or (
        st.query_params.get(SECRET_PARAM) if st.query_params.get(JOB_KEY) == run_id else None
    )


def controls(job: Job) -> bool:
    """Return whether this tab may pause, resume, stop or steer the job (it is the owner)."""
    return job.owner == session_id()


def remember_job(job: Job) -> bool:
    """Follow job in this tab, through the URL too; take control of it if this tab started it
    (or shows its secret after a refresh). Return whether this tab controls it."""
    owned = state.registry().claim(job, session_id(), shown_secret(job.run_id))
    st.session_state[JOB_KEY] = job.run_id
    if owned:
        st.session_state.setdefault(SECRETS_KEY, {})[job.run_id] = job.secret
    put_job_in_url(job, owned)
    return owned


def put_job_in_url(job: Job, owned: bool) -> None:
    """Name the job in the URL, with its secret when this tab controls it (writes only changes)."""
    wanted = {JOB_KEY: job.run_id, **({SECRET_PARAM: job.secret} if owned else {})}
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    if not owned and SECRET_PARAM in st.query_params:
        del st.query_params[SECRET_PARAM]  # a wrong key is no use to anyone


def keep_job_in_url() -> None:
    """On every page: while the job this tab follows runs, keep it (and its secret) in the URL,
    so that a refresh on any page reattaches to it (page changes start from a bare URL); a tab
    opened on such a link, on any page, follows the job and takes control if the secret is in it."""
    run_id = wanted_run_id()
    job = state.registry().get(run_id) if run_id else None
    if job is not None and job.active:
        remember_job(job)


def wanted_run_id() -> str | None:
    """Return the run id this tab follows: from session state, else from the URL."""
    run_id = st.session_state.get(JOB_KEY) or st.query_params.get(JOB_KEY)
    # the URL is user input: only a plain run id may become part of a path
    return run_id if run_id and re.fullmatch(r"[A-Za-z0-9-]+", run_id) else None


def session_jobs() -> list[Job]:
    """Return the active jobs this session controls, oldest first (another's, followed through
    a link, is watched read-only and not kept alive by this tab)."""
    me = session_id()
    return [j for j in state.registry().active() if j.owner == me]


def touch_session_jobs() -> list[Job]:
    """Tell the registry this tab is still open, so its jobs keep going; return them."""
    jobs = session_jobs()
    for job in jobs:
        job.touch()
    return jobs


def find_job() -> Job | None:
    """Return the job to show: the one this tab follows if active, else its newest active one."""
    registry = state.registry()
    run_id = wanted_run_id()
    followed = registry.get(run_id) if run_id else None
    if followed is not None and followed.active:
        remember_job(followed)  # named only in the URL: keep it when the page changes
        return followed
    # other tabs' jobs stay invisible: a shared screen must not show one student's run to all
    own = [job for job in registry.active() if job.owner == session_id()]
    if own:
        remember_job(own[-1])
        return own[-1]
    return followed
