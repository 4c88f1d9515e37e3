"""Who this browser tab is, and which jobs are its own: the session identity every page uses.

A session sees only its own jobs: those it started, and the one named in its URL (?job=...),
so that a refresh finds it again in the process-wide registry. The job's secret, which gives
control of it, stays in this browser: in the session, and in a cookie its refreshes send. It is
never in the URL, where a projector, the browser's history and a proxy's log would show it
(issue 23, defect 8); links saved with ?key=... still work once, and lose it. The pages touch those jobs while the tab is open; the registry stops a
job its tab no longer touches.
"""

from __future__ import annotations

import json
import re
import uuid

import streamlit as st

from core.train.job import Job
from ui.shared import state

JOB_KEY = "job"
SECRET_PARAM = "key"  # where links saved before 2026-12-05 held the job's secret
SECRET_COOKIE_PREFIX = "digitlab-key-"  # + the run id: a cookie per job this browser controls
SECRET_COOKIE_SECONDS = 7 * 24 * 3600
SECRETS_KEY = "_job_secrets"
SESSION_KEY = "_session_id"


def session_id() -> str:
    """Return this browser session's id: the owner of the jobs it starts."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = uuid.uuid4().hex
    return st.session_state[SESSION_KEY]


def shown_secret(run_id: str) -> str | None:
    """Return the secret this tab holds for a job: kept in the session, in this browser's
    cookie, or (a link saved by an older version) in the URL."""
    return (
        st.session_state.get(SECRETS_KEY, {}).get(run_id)
        or browser_cookies().get(SECRET_COOKIE_PREFIX + run_id)
        or (st.query_params.get(SECRET_PARAM) if st.query_params.get(JOB_KEY) == run_id else None)
    )


def browser_cookies() -> dict[str, str]:
    """Return the cookies this browser sent when the tab connected."""
    try:
        return dict(st.context.cookies)
    except Exception:  # no browser behind the session (a bare script run)
        return {}


def write_secret_cookies() -> None:
    """In the sidebar of every full page run: write the secret of each running job this tab
    controls into a cookie of this browser, until the browser sends it back (it does so when a
    tab connects). A refresh then hands the secret to the new session; the URL never holds it."""
    sent = browser_cookies()
    registry = state.registry()
    cookies = [
        f"{SECRET_COOKIE_PREFIX}{run_id}={secret}; path=/; max-age={SECRET_COOKIE_SECONDS}; "
        "SameSite=Strict"
        for run_id, secret in st.session_state.get(SECRETS_KEY, {}).items()
        if sent.get(SECRET_COOKIE_PREFIX + run_id) != secret
        and (job := registry.get(run_id)) is not None
        and job.active
    ]
    if cookies:
        set_cookies(cookies, st.sidebar)


def set_cookies(cookies: list[str], where=st) -> None:
    """Have this browser keep these cookies ("name=value; path=/; ..."): a page's script writes
    them, and the browser sends them back when a tab connects."""
    script = "".join(f"document.cookie = {json.dumps(c)};" for c in cookies)
    where.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


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
    put_job_in_url(job)
    return owned


def put_job_in_url(job: Job) -> None:
    """Name the job in the URL (writes only a change); take out a secret an old link held."""
    if st.query_params.get(JOB_KEY) != job.run_id:
        st.query_params[JOB_KEY] = job.run_id
    if SECRET_PARAM in st.query_params:
        del st.query_params[SECRET_PARAM]


def keep_job_in_url() -> None:
    """On every page: while the job this tab follows runs, keep it in the URL, so that a refresh
    on any page reattaches to it (page changes start from a bare URL); a tab opened on such a
    link, on any page, follows the job, and takes control where this browser holds its secret."""
    run_id = wanted_run_id()
    job = state.registry().get(run_id) if run_id else None
    if job is not None and job.active:
        remember_job(job)


def wanted_run_id() -> str | None:
    """Return the run id this tab follows: the URL's (a link, or the sidebar's "Watch"), else
    the session's (a page change starts from a bare URL)."""
    run_id = st.query_params.get(JOB_KEY) or st.session_state.get(JOB_KEY)
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


WATCHED_JOBS_KEY = "_sidebar_watched_jobs"
ADOPTED_KEY = "_adopted_jobs"


def adopt_finished(job: Job) -> None:
    """Once per job, when it has ended: make its saved run the active model everywhere."""
    adopted = st.session_state.setdefault(ADOPTED_KEY, set())
    if job.run_id in adopted or job.active:
        return
    adopted.add(job.run_id)
    if job.run_dir is not None:
        state.set_active_run(job.run_dir)


def heartbeat() -> list[Job]:
    """Keep this tab's jobs going and rerun the whole app when one of them has ended (its saved
    run then shows in every picker); return them. Run by whichever part of the page polls: the
    sidebar's job panel, or on the Train page its live view (one poll, not two)."""
    mine = touch_session_jobs()
    followed = state.registry().get(wanted_run_id() or "")
    if followed is not None and followed.active and not controls(followed):
        secret = shown_secret(followed.run_id)
        if state.registry().holds_secret(followed, secret) and remember_job(followed):
            st.rerun(scope="app")  # the tab holding the controls has gone: they come here
    ids = [job.run_id for job in mine]
    ended = set(st.session_state.get(WATCHED_JOBS_KEY, [])) - set(ids)
    st.session_state[WATCHED_JOBS_KEY] = ids
    if ended:
        for job in filter(None, map(state.registry().get, ended)):
            adopt_finished(job)  # before the rerun: the sidebar is drawn before the page
        st.rerun(scope="app")
    return mine


def job_shown_live() -> str | None:
    """Return the run id of this tab's active job, which the Train and Inside pages show live,
    or None: the sidebar then names it instead of drawing its progress a second time."""
    job = find_job()
    mine = job is not None and job.active and job.owner == session_id()
    return job.run_id if mine else None


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
