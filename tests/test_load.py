"""Load: twenty browser sessions start a training each on one server, as a classroom would.

Each session is a streamlit AppTest in its own thread on the real app.py and the real MNIST.
AppTest swaps a process-wide stand-in for Streamlit's runtime on every run, so two runs at once
break each other: the sessions' script runs take turns behind one lock (each takes a few tens
of milliseconds). The rest runs concurrently as on a real server: the job threads, the
registry's queue and watchdog, and the sessions polling their pages like the live fragment.

AppTest reruns no fragment on its timer, so the heartbeat of an open tab is checked once more
in real Chromium against a real server: a tab on another page keeps its job going, a closed
tab's job is stopped.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.events import Done, Orphaned
from core.train import jobs as core_jobs
from core.train.jobs import JobRegistry
from tests.browser import (
    CHROMIUM_ARGS,
    STEP_SHOWN,
    current_step,
    open_page,
    require_browser,
    running_app,
    wait_for_app_idle,
    wait_for_step_past,
)
from tests.conftest import rss_mb
from ui.shared import state
from ui.shared.sidebar import JOBS_POLL_SECONDS
from ui.shared.widgets import escape_markdown

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SESSIONS = 20
ORPHAN_TIMEOUT = 5.0  # seconds: short, so that the closed tabs' jobs end within the test
POLL_SECONDS = 0.5  # how often an open tab reruns its page, as the Train page's live panel does
# the first starts first; some stop their job, cancel it while queued, or close the tab
ROLES = {1: "stop", 2: "stop", 3: "stop", 16: "cancel", 17: "cancel", 18: "close", 19: "close"}
# the job just before the cancelling tabs trains longer, so that theirs are still queued when
# they press Cancel: with one-epoch jobs ahead, a busy machine let the queue reach them first
HOLDS_THE_LINE, HOLDING_EPOCHS = 15, 40
# the server holds MNIST, torch and twenty sessions; twenty jobs must not add much to that
PEAK_GROWTH_LIMIT_MB = 1024
QUEUED = re.compile(r"queued \(number (\d+) in line\)")

BROWSER_ORPHAN_TIMEOUT = 3 * JOBS_POLL_SECONDS  # seconds, for the real server: 3 sidebar polls


pytestmark = [pytest.mark.timeout(600)]


def page_text(at: AppTest) -> str:
    """Return every text a person reads on the page, sidebar included."""
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error")
             for e in getattr(at, kind)]  # fmt: skip
    parts += [p.proto.text for p in at.get("progress")]
    parts += [e.value for e in at.exception]
    return "\n".join(str(part) for part in parts)


def button(at: AppTest, *labels: str):
    """Return the first button with one of these labels, or None."""
    return next((b for b in at.button if b.label in labels), None)


@dataclass
class Session:
    """One browser tab: its app, its role, what it saw."""

    number: int
    role: str
    at: AppTest | None = None
    run_id: str | None = None
    positions: list[int] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)  # other sessions' names seen on its pages
    errors: list[str] = field(default_factory=list)
    stop_clicked: float | None = None
    state_after_stop: str | None = None  # the job's state once the page with the click is drawn

    @property
    def name(self) -> str:
        return f"load-{self.number:02d}"


@pytest.fixture
def short_orphan_registry(monkeypatch):
    """A fresh process-wide registry whose closed-tab timeout is ORPHAN_TIMEOUT (set as on a server)."""
    monkeypatch.setenv("DIGITLAB_ORPHAN_TIMEOUT", str(ORPHAN_TIMEOUT))
    monkeypatch.setattr(core_jobs, "_registry", None)
    state.registry.clear()
    yield
    state.registry.clear()  # monkeypatch restores the old registry; the cache must follow


class Classroom:
    """Twenty sessions on one server, with the lock their AppTest runs take turns on."""

    def __init__(self) -> None:
        self.run_lock = threading.Lock()
        self.turn = threading.Condition()
        self.next_to_start = 0
        self.lost_clicks = 0
        self.sessions = [Session(n, ROLES.get(n, "finish")) for n in range(SESSIONS)]
        self.names = {s.name for s in self.sessions}

    def run(self, session: Session, action=None) -> None:
        """Rerun a session's page (after an action such as a click), and note what it shows."""
        with self.run_lock:
            if action is not None:
                action()
            session.at.run()
        text = page_text(session.at)
        session.errors += [e.value for e in session.at.exception]
        session.errors += [e.value for e in session.at.error]
        session.foreign += [n for n in self.names - {session.name} if n in text]
        session.positions += [int(n) for n in QUEUED.findall(text)]

    def open(self, session: Session) -> None:
        session.at = AppTest.from_file(APP, default_timeout=60)
        self.run(session)
        self.run(session, lambda: session.at.switch_page("views/3_Train.py"))
        # a job to stop, or whose tab closes, must still be going when that happens
        epochs = {"stop": 300, "close": 300}.get(
            session.role, HOLDING_EPOCHS if session.number == HOLDS_THE_LINE else 1
        )
        at = session.at

        def settings() -> None:
            next(w for w in at.number_input if w.label == "Epochs").set_value(epochs)
            next(w for w in at.select_slider if w.label == "Training data used").set_value(0.01)
            next(w for w in at.text_input if w.label == "Run name").set_value(session.name)

        self.run(session, settings)

    def start(self, session: Session) -> None:
        """Press Start on a freshly drawn page (see test_start_pressed_on_a_stale_page_starts)."""
        at = session.at
        for _ in range(3):
            self.run(session)
            self.run(session, button(at, "Start training", "Queue another training").click)
            if "job" in at.session_state:
                session.run_id = at.session_state["job"]
                return
            self.lost_clicks += 1  # the label changed between drawing and clicking
        raise AssertionError(f"{session.name}: Start did not start a job")

    def follow(self, session: Session, registry: JobRegistry) -> None:
        """Poll the page until the session's job ends, stopping or cancelling it by role."""
        job = registry.get(session.run_id)
        while job.active:
            time.sleep(POLL_SECONDS)
            stop = button(session.at, "Stop")
            cancel = button(session.at, "Cancel")
            learning = job.state == "running" and job.progress()["step"] > 0
            if session.role == "stop" and stop is not None and not stop.disabled and learning:

                def click_stop(stop=stop) -> None:
                    session.stop_clicked = time.time()
                    stop.click()

                self.run(session, click_stop)
                session.state_after_stop = job.state
            elif session.role == "cancel" and cancel is not None:
                self.run(session, cancel.click)
            else:
                self.run(session)
        self.run(session)  # the finished page: its result, nobody else's

    def session_thread(self, session: Session, registry: JobRegistry) -> None:
        try:
            self.open(session)
            with self.turn:  # the tabs press Start one after another, within a second or so
                self.turn.wait_for(lambda: self.next_to_start == session.number)
                try:
                    self.start(session)
                finally:
                    self.next_to_start += 1
                    self.turn.notify_all()
            if session.role != "close":  # a closed tab stops touching its job
                self.follow(session, registry)
        except Exception as exc:  # reported as an error of the load test
            session.errors.append(f"{type(exc).__name__}: {exc}")


class Monitor:
    """Samples the registry and the memory every 10 ms in a thread of its own."""

    def __init__(self, registry: JobRegistry, run_ids: set[str]) -> None:
        self.registry, self.run_ids = registry, run_ids
        self.most_running = 0
        self.most_slots = 0
        self.peak_rss = rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            training = [
                job
                for job in self.registry.active()
                if job.run_id in self.run_ids and job.state in ("running", "paused", "stopping")
            ]
            self.most_running = max(self.most_running, len(training))
            self.most_slots = max(self.most_slots, self.registry.running_count())
            self.peak_rss = max(self.peak_rss, rss_mb())

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


# its tabs' polls take turns under one lock: starved of CPU, an open tab misses the closed-tab
# timeout (a run at nice 19 beside the browser tests: 'finish' stopped as orphaned)
@pytest.mark.timed
def test_twenty_sessions_each_train_queue_and_see_only_their_own_job(
    data_dir, short_orphan_registry
):
    classroom = Classroom()
    warm = AppTest.from_file(APP, default_timeout=120).run()  # MNIST and torch load once
    assert not warm.exception
    registry = state.registry()
    assert registry.orphan_timeout == ORPHAN_TIMEOUT and registry.max_concurrent == 1
    baseline = rss_mb()
    run_ids: set[str] = set()
    threads = [
        threading.Thread(target=classroom.session_thread, args=(s, registry), daemon=True)
        for s in classroom.sessions
    ]
    started = time.perf_counter()
    with Monitor(registry, run_ids) as monitor:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 240
        while len(run_ids) < SESSIONS and time.monotonic() < deadline:
            run_ids.update(s.run_id for s in classroom.sessions if s.run_id)
            time.sleep(0.01)
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 1))
        for s in classroom.sessions:
            job = registry.get(s.run_id) if s.run_id else None
            if job is not None:  # the closed tabs' jobs end by the watchdog
                job.wait(max(deadline - time.monotonic(), 1))
    wall = time.perf_counter() - started

    sessions = classroom.sessions
    jobs = {s.number: registry.get(s.run_id or "") for s in sessions}
    ended = [job for job in jobs.values() if job is not None]
    errors = [f"{s.name}: {e}" for s in sessions for e in s.errors]
    errors += [f"{s.name}: no job" for s in sessions if jobs[s.number] is None]
    errors += [f"{job.name}: {job.state}: {job.error}" for job in ended
               if job.state not in ("finished", "stopped")]  # fmt: skip
    stop_seconds = [jobs[s.number].events(Done)[0].time - s.stop_clicked
                    for s in sessions if s.stop_clicked]  # fmt: skip
    print(
        f"\nload: {SESSIONS} sessions, {len(ended)} jobs "
        f"({sum(j.state == 'finished' for j in ended)} finished, "
        f"{sum(j.state == 'stopped' for j in ended)} stopped), "
        f"wall {wall:.1f} s, peak RSS {monitor.peak_rss:.0f} MB "
        f"(+{monitor.peak_rss - baseline:.0f} MB over {baseline:.0f} MB), "
        f"at most {monitor.most_running} training at once, "
        f"Stop click to saved {max(stop_seconds, default=0):.2f} s at most, "
        f"{classroom.lost_clicks} Start clicks lost, errors {len(errors)}"
    )
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert len(run_ids) == SESSIONS and all(jobs.values())
    # the cap holds: one job trains at a time, the rest wait their turn
    assert monitor.most_running == 1 and monitor.most_slots <= registry.max_concurrent
    # every job ends, finished or stopped as its tab asked
    for s in sessions:
        expected = {"finish": "finished", "stop": "stopped", "cancel": "stopped"}.get(
            s.role, "stopped"
        )
        assert jobs[s.number].state == expected, (s.name, s.role, jobs[s.number].state)
    # Stop takes effect in the click's own rerun; the tested, saved run follows
    assert all(s.state_after_stop in ("stopping", "stopped") for s in sessions if s.role == "stop")
    for s in (s for s in sessions if s.role == "close"):
        assert jobs[s.number].events(Orphaned), f"{s.name}'s closed tab kept its job going"
    # the tabs that started while others trained saw their place in the line
    queued = [s for s in sessions if s.positions]
    assert len(queued) >= SESSIONS // 2
    assert all(1 <= p < SESSIONS for s in queued for p in s.positions)
    # nobody saw another tab's job, and everyone saw their own result
    assert [s.foreign for s in sessions] == [[] for _ in sessions]
    for s in (s for s in sessions if s.role in ("finish", "stop")):
        assert escape_markdown(s.name) in page_text(s.at)  # names are shown as text
    assert monitor.peak_rss - baseline < PEAK_GROWTH_LIMIT_MB


# the Start button keeps one key whatever its label says ('Start training' or 'Queue another')
def test_start_pressed_on_a_page_drawn_before_another_tab_started_still_starts(data_dir):
    first = AppTest.from_file(APP, default_timeout=60).run()
    first.switch_page("views/3_Train.py").run()
    second = AppTest.from_file(APP, default_timeout=60).run()
    second.switch_page("views/3_Train.py").run()  # drawn while nothing trains
    next(w for w in first.number_input if w.label == "Epochs").set_value(100)  # still training
    first.run()
    button(first, "Start training").click().run()
    try:
        button(second, "Start training").click().run()
        assert not second.exception
        assert "job" in second.session_state
    finally:
        for at in (first, second):
            if "job" in at.session_state:
                job = state.registry().get(at.session_state["job"])
                job.stop()
                job.wait(60)


def statuses(runs: Path) -> set[str]:
    """Return the statuses of the runs saved so far (a checkpoint says 'interrupted')."""
    found = set()
    for path in runs.glob("*/summary.json"):
        try:
            found.add(json.loads(path.read_text())["status"])
        except (OSError, ValueError, KeyError):
            continue  # being replaced right now
    return found


@pytest.mark.browser
def test_in_chromium_an_open_tab_keeps_its_job_and_a_closed_tab_loses_it(
    data_dir, tmp_path, monkeypatch
):
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DIGITLAB_ORPHAN_TIMEOUT", str(BROWSER_ORPHAN_TIMEOUT))
    runs = tmp_path / "runs"
    with (
        running_app(data_dir, runs, tmp_path / "streamlit.log") as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})

        def open_train_page():
            tab = context.new_page()
            tab.set_default_timeout(60_000)
            tab.goto(url)
            wait_for_app_idle(tab)
            open_page(tab, "Train")
            return tab

        first = open_train_page()
        epochs = first.get_by_label("Epochs")
        epochs.fill("200")  # longer than the test
        epochs.press("Enter")
        wait_for_app_idle(first)
        first.get_by_role("button", name=re.compile("Start training")).click()
        first.get_by_text(STEP_SHOWN).first.wait_for(timeout=120_000)

        # another tab sees that the server is busy, not whose training it is
        second = open_train_page()
        second.get_by_text("1 other training from other tabs").wait_for()
        assert second.get_by_text(STEP_SHOWN).count() == 0

        # on another page, only the sidebar touches the job: two timeouts later it is still
        # there. Paused meanwhile, as a person may leave it: the timeout does not care, and the
        # training does not spin a core for nothing while the test waits (12 of the test's
        # 52 CPU-seconds)
        first.get_by_role("button", name=re.compile("Pause")).click()
        first.get_by_role("button", name=re.compile("Resume")).wait_for()
        open_page(first, "Data")
        time.sleep(2 * BROWSER_ORPHAN_TIMEOUT)
        open_page(first, "Train")
        first.get_by_role("button", name=re.compile("Resume")).click()
        first.get_by_role("button", name=re.compile("Pause")).wait_for()
        # training again: what the close below orphans is a running job
        wait_for_step_past(first, current_step(first), "the job did not go on after Resume")
        assert statuses(runs) <= {"interrupted"}  # still training: at most its checkpoint

        closed = time.monotonic()
        first.close()
        while "stopped" not in statuses(runs) and time.monotonic() - closed < 120:
            time.sleep(0.2)
        seconds = time.monotonic() - closed
        browser.close()
    [summary] = [json.loads(path.read_text()) for path in runs.glob("*/summary.json")]
    print(
        f"\nclosed tab: its job was stopped and saved {seconds:.1f} s after the tab closed "
        f"(orphan timeout {BROWSER_ORPHAN_TIMEOUT:.0f} s)"
    )
    assert summary["status"] == "stopped"
    # the timeout counts from the tab's last poll, which can come up to one poll before the
    # close (5.9 s after the close with a 6 s timeout, on a busy machine)
    assert BROWSER_ORPHAN_TIMEOUT - JOBS_POLL_SECONDS < seconds < BROWSER_ORPHAN_TIMEOUT + 30
