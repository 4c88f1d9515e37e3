"""Jobs in a room: only the browser that started a job controls it, and its link keeps it."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.train.jobs import HANDOVER_SECONDS
from ui.charts import curve_figures
from ui.shared import session, state

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TRAIN, EVALUATE = "views/3_Train.py", "views/4_Evaluate.py"


def _labels(at: AppTest) -> set[str]:
    return {b.label for b in at.button}


def _open(params: dict | None = None, page: str = TRAIN) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    return at.run().switch_page(page).run()


def _small_training(at: AppTest, epochs: int) -> None:
    """Set the Train page to epochs over 1% of the training digits."""
    next(w for w in at.number_input if w.label == "Epochs").set_value(epochs)
    next(w for w in at.select_slider if w.label == "Training data used").set_value(0.01)
    at.run()


def _start(at: AppTest):
    """Press Start training; return the job it started."""
    next(b for b in at.button if b.key == "start_training").click().run()
    return state.registry().get(at.session_state["job"])


@pytest.fixture
def running(data_dir):
    """A long training started from the Train page of one session (its owner); stopped after."""
    owner = _open()
    _small_training(owner, 200)
    job = _start(owner)
    deadline = time.monotonic() + 60
    while job.progress()["step"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield owner, job
    job.stop()
    job.wait(60)


def test_a_link_to_someone_elses_job_shows_it_read_only_and_does_not_keep_it_alive(running):
    owner, job = running
    assert job.owner == owner.session_state["_session_id"]
    seen = job.last_seen
    stranger = _open({"job": job.run_id})
    assert not stranger.exception
    assert not {"Pause", "Stop", "Resume"} & _labels(stranger)
    assert any("training by someone else" in i.value for i in stranger.info)
    assert job.owner == owner.session_state["_session_id"] and job.active
    assert job.last_seen == seen  # the stranger's tab does not keep the job going
    guesser = _open({"job": job.run_id, "key": "not-the-secret"})
    assert not {"Pause", "Stop"} & _labels(guesser)
    assert "key" not in guesser.query_params


def test_the_owners_browser_after_a_refresh_keeps_control_through_its_cookie(running, monkeypatch):
    owner, job = running
    link = dict(owner.query_params)
    assert link["job"] == job.run_id and "key" not in link  # no secret in the URL (defect 8)
    # every full run writes the secret into a cookie of this browser until the browser sends
    # it back (the cookie itself is seen in Chromium: test_browser)
    cookie = session.SECRET_COOKIE_PREFIX + job.run_id
    owner.run()
    assert any(cookie in h.body and job.secret in h.body for h in owner.sidebar.get("html"))
    monkeypatch.setattr(session, "browser_cookies", lambda: {cookie: job.secret})
    job.touch()  # the owner's tab has just polled: it is open
    second_tab = _open(link)  # a new session of the same browser, the same URL
    # one tab holds the controls: a second tab of the browser does not take them (issue 28)
    assert not {"Pause", "Stop"} & _labels(second_tab)
    assert any("another tab of this browser holds its controls" in i.value for i in second_tab.info)
    assert job.owner == owner.session_state["_session_id"]
    owner.run()  # nor does the first take them back: it still has them, nothing changes hands
    assert {"Pause", "Stop"} <= _labels(owner)
    job.last_seen -= HANDOVER_SECONDS + 1  # the first tab was closed (or refreshed): gone
    refreshed = second_tab.run()
    assert {"Pause", "Stop"} <= _labels(refreshed)
    assert job.owner == refreshed.session_state["_session_id"]
    next(b for b in refreshed.button if b.label == "Stop").click().run()
    assert job.wait(60) and job.state == "stopped"


def test_a_link_saved_with_the_secret_in_it_still_gives_control_and_loses_the_secret(running):
    owner, job = running
    job.touch()  # the owner's tab is open: it keeps the controls (issue 28)
    old_link = _open({"job": job.run_id, "key": job.secret})  # as versions before 2026-12-05
    assert not {"Pause", "Stop"} & _labels(old_link)
    assert old_link.query_params["job"] == job.run_id and "key" not in old_link.query_params
    job.last_seen -= HANDOVER_SECONDS + 1  # the owner's tab is gone: the link's secret counts
    old_link = _open({"job": job.run_id, "key": job.secret})
    assert {"Pause", "Stop"} <= _labels(old_link)
    assert "key" not in old_link.query_params


def test_switching_pages_keeps_the_job_in_the_url_and_its_secret_out(running):
    owner, job = running
    owner.switch_page(EVALUATE).run()
    assert owner.query_params["job"] == job.run_id
    assert "key" not in owner.query_params
    owner.switch_page(TRAIN).run()
    assert owner.query_params["job"] == job.run_id
    assert {"Pause", "Stop"} <= _labels(owner)


def test_on_the_train_page_its_live_view_is_the_tabs_only_poll(running):
    owner, job = running
    seen = job.last_seen
    owner.run()  # the Train page, following the job: its live view keeps it going
    assert job.last_seen > seen
    captions = [c.value for c in owner.sidebar.caption]
    assert any("its progress live on this page" in c for c in captions), captions
    assert len(owner.sidebar.get("progress")) == 0  # not drawn twice, nor polled twice
    owner.switch_page("views/1_Data.py").run()  # elsewhere the sidebar polls and shows it
    assert len(owner.sidebar.get("progress")) == 1
    assert not any("live on this page" in c.value for c in owner.sidebar.caption)


def test_past_two_trainings_the_start_button_says_why(running, monkeypatch):
    monkeypatch.delenv("DIGITLAB_MAX_JOBS_PER_VISITOR", raising=False)  # the default: 2
    owner, job = running
    next(b for b in owner.button if b.label == "Queue another training").click().run()
    queued = [j for j in state.registry().active() if j.owner == job.owner and j is not job]
    try:
        assert len(queued) == 1 and queued[0].state == "queued"
        start = next(b for b in owner.button if b.key == "start_training")
        assert start.disabled
        assert any("Cannot queue another yet: you already have 2 of your 2" in i.value
                   for i in owner.info)  # fmt: skip
        assert not owner.exception and not owner.error
    finally:
        for extra in queued:
            state.registry().cancel_queued(extra)


def test_the_sidebars_active_model_is_the_new_run_as_soon_as_it_ends(data_dir):
    at = _open()
    _small_training(at, 1)
    for _ in range(2):  # the second run replaces the first as the active model
        job = _start(at)
        assert job.wait(120) and job.state == "finished", job.error
        at.run()  # the first rerun after the end (the live view's poll, in the browser)
        [picker] = [s for s in at.sidebar.selectbox if s.label == "Active model"]
        assert picker.value == str(job.run_dir)


def test_another_window_can_watch_a_running_job_with_one_click_from_the_sidebar(running):
    owner, job = running
    second_window = _open(page="views/1_Data.py")  # the presenter's second screen: a new session
    [watch] = [link for link in second_window.sidebar.get("page_link")
               if link.proto.label == f"Watch {job.name}"]  # fmt: skip
    assert watch.proto.page == "train"  # the Train page's url path
    assert f"job={job.run_id}" in watch.proto.query_string
    # where the link leads: the job, live and read-only, even after a job of its own
    followed = _open({"job": job.run_id})
    assert any("training by someone else" in i.value for i in followed.info)
    assert len(followed.get("progress")) >= 1
    assert not {"Pause", "Stop"} & _labels(followed)


def test_a_finished_runs_curves_are_built_once_not_at_every_rerun(data_dir, monkeypatch):
    built = collections.Counter()
    for name in ("loss_curve_figure", "epoch_curves_figure", "lr_figure"):
        original = getattr(curve_figures, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            built[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(curve_figures, name, counted)
    at = _open()
    _small_training(at, 1)
    job = _start(at)
    assert job.wait(120) and job.state == "finished", job.error
    built.clear()  # the live view's figures while it trained
    for _ in range(3):  # the result panel, then two reruns (a click on any setting)
        at.run()
        assert not at.exception, at.exception
        assert any("finished: test accuracy" in s.value for s in at.success)
    assert built == {"loss_curve_figure": 1, "epoch_curves_figure": 1, "lr_figure": 1}
