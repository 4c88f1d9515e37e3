"""Helpers for the end-to-end tests: start the real app on a free port, drive it with Chromium."""

from __future__ import annotations

import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.bench import appserver

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = appserver.CHROMIUM_ARGS


def chromium_path() -> str | None:
    """Return Debian's Chromium if it is installed."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def require_browser() -> str:
    """Return Chromium's path, or skip (fail in CI, where DIGITLAB_REQUIRE_BROWSER=1)."""
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "Chromium or Python Playwright is missing (apt-get install chromium; pip install playwright)"
        if os.environ.get("DIGITLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def running_app(data_dir: Path, runs_dir: Path, log_path: Path):
    """Start `streamlit run app.py` on a free port; yield its URL; stop it afterwards."""
    env = {
        "DIGITLAB_DATA": str(data_dir),
        "DIGITLAB_RUNS": str(runs_dir),
        "DIGITLAB_MY_DIGITS": str(runs_dir.with_name(f"{runs_dir.name}-my-digits")),
        "DIGITLAB_ROOMS": str(runs_dir.with_name(f"{runs_dir.name}-rooms")),
    }
    with appserver.running_app(log_path, "app.py", env) as url:
        yield url


@contextmanager
def browser_tab(url: str, width: int = 1280, height: int = 720):
    """Open url in a fresh headless Chromium, wait for the app; yield the tab; close it after."""
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            tab = context.new_page()
            tab.set_default_timeout(60_000)
            tab.goto(url)
            wait_for_app_idle(tab)
            yield tab
        finally:
            browser.close()


# any title shown in the main area: not only the first match, which may be one being replaced
A_TITLE_SHOWN = """() => [...document.querySelectorAll("[data-testid='stMain'] h1")]
  .some(h => h.getClientRects().length > 0 && getComputedStyle(h).visibility !== 'hidden')"""


def what_the_page_shows(page) -> str:
    """Describe the page for a failure message: its address, its main area's text, its h1s."""
    try:
        return page.evaluate(
            """() => {
                const main = document.querySelector("[data-testid='stMain']");
                const titles = [...document.querySelectorAll('h1')].map(h =>
                    `${h.innerText.trim()}(${h.getClientRects().length ? 'shown' : 'hidden'})`);
                return `${location.href}; h1: ${titles.join(', ') || 'none'}; main: ` +
                    (main ? main.innerText.replace(/\\s+/g, ' ').slice(0, 600) : 'none');
            }"""
        )
    except Exception as exc:  # the page itself may be gone: say so rather than hide the first error
        return f"(the page could not be read: {exc})"


def wait_for_app_idle(page, timeout: float = 60.0) -> None:
    """Wait until Streamlit has finished the current script run (its status widget is gone)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_load_state("domcontentloaded")
    # every page has a title; the navigation may be in the sidebar or (talk mode) at the top
    try:
        page.wait_for_function(A_TITLE_SHOWN, polling=200, timeout=timeout * 1000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"no page title shown within {timeout:g} s: {what_the_page_shows(page)}"
        ) from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator("[data-testid='stStatusWidget']").count() == 0:
            time.sleep(0.3)
            if page.locator("[data-testid='stStatusWidget']").count() == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the app kept running its script: {what_the_page_shows(page)}")


# the progress line of a training, "Epoch 2/15 · step 1,234/12,900 · …": the step and the
# run's number of steps
STEP_SHOWN = re.compile(r"step ([\d,]+)/([\d,]+)")


def _steps_shown(page) -> tuple[int, int]:
    text = page.get_by_text(STEP_SHOWN).first.inner_text()
    step, total = STEP_SHOWN.search(text).groups()
    return int(step.replace(",", "")), int(total.replace(",", ""))


def current_step(page) -> int:
    """Return the step that the page's progress line shows."""
    return _steps_shown(page)[0]


def total_steps(page) -> int:
    """Return the number of steps of the run whose progress line the page shows."""
    return _steps_shown(page)[1]


def wait_for_step_past(page, step: int, what: str, seconds: float = 30.0) -> None:
    """Wait until the progress line shows a step past `step`; fail saying `what` after seconds
    (a fixed 1.5 s missed on a busy machine: 679, then still 679)."""
    deadline = time.monotonic() + seconds
    while current_step(page) <= step:
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


# every chart and image that the script run put on the page has drawn: plotly draws after its
# lazily loaded component mounts, the live charts after their first points, images after loading
DRAWN = """() => [...document.querySelectorAll("[data-testid='stPlotlyChart']")]
    .every(c => c.querySelector('.js-plotly-plot')?._fullLayout && c.querySelector('.main-svg'))
  && [...document.querySelectorAll('.live-lines')].every(d => d.liveLines?.afterplots > 0)
  && [...document.images].every(i => i.complete)"""


def wait_for_drawn(page, timeout: float = 30.0) -> None:
    """Wait until the page's charts and images have drawn, three times 0.3 s apart (a chart
    that mounts late is waited for too)."""
    for check in range(3):
        if check:
            page.wait_for_timeout(300)
        page.wait_for_function(DRAWN, polling=100, timeout=timeout * 1000)


def wait_for_heading(page, title: str, timeout: float = 60.0) -> None:
    """Wait for a page's heading; on a timeout, say what the page shows instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=timeout * 1000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"no heading {title!r} within {timeout:g} s: {what_the_page_shows(page)}"
        ) from None


def open_page(page, title: str) -> None:
    """Click a page in the sidebar navigation and wait for its heading."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    wait_for_heading(page, title)
    wait_for_app_idle(page)


def assert_no_exception(page) -> None:
    """Fail if the page shows a Streamlit exception box or a traceback."""
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']"
    ).first.inner_text()
    assert "Traceback (most recent call last)" not in page.content()


def draw_stroke(page, canvas_box: dict, points: list[tuple[float, float]]) -> None:
    """Draw a polyline with the mouse; points are fractions (0..1) of the canvas size."""

    def at(point):
        return canvas_box["x"] + point[0] * canvas_box["width"], canvas_box["y"] + point[
            1
        ] * canvas_box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for start, end in zip(points, points[1:]):
        for step in range(1, 9):  # small moves, like a hand
            t = step / 8
            page.mouse.move(
                *at((start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t))
            )
    page.mouse.up()


def touch_stroke(tab, box: dict, points: list[tuple[float, float]]) -> None:
    """Draw a polyline with one finger through Chromium's touch events."""
    cdp = tab.context.new_cdp_session(tab)

    def at(point):
        return {"x": box["x"] + point[0] * box["width"], "y": box["y"] + point[1] * box["height"]}

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(points[0])]})
    for start, end in zip(points, points[1:]):
        for step in range(1, 11):  # small moves, like a finger
            t = step / 10
            point = (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [at(point)]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
