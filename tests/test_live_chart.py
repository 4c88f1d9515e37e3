"""ui.charts.live_chart: what each rerun sends the browser, and the demo page in real Chromium.

The browser tests start `streamlit run tests/live_chart_demo.py`; its screenshot lands in
test-artifacts/live-chart.png for a person to look at.
"""

from __future__ import annotations

import base64
import math
import re
import time

import numpy as np
import pytest

from core.bench import appserver
from core.bench.browser import TELL_HIDDEN
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, require_browser
from ui.charts.live_chart import Trace, _Sent, feed_payload, figure_layout, next_payload

LAYOUT = figure_layout({"xaxis": {"title": "step"}}, height=280)
TOTAL, STEP = 600, 20  # the demo's traces stop growing after 30 reruns, 15 seconds


def traces(n: int, offset: float = 0.0) -> list[Trace]:
    steps = np.arange(n)
    return [Trace("loss", steps, offset + 1 / (steps + 1)), Trace("lr", steps, np.full(n, 0.1))]


def decoded(values) -> list:
    if isinstance(values, list):
        return values
    ((kind, text),) = values.items()
    return np.frombuffer(base64.b64decode(text), dtype="<i4" if kind == "i4" else "<f8").tolist()


# --- what the fed view's server answers (ui/feed/live_feed.py): stateless ------------------


def test_the_feed_sends_a_browser_only_the_points_it_does_not_hold():
    whole = feed_payload(None, traces(50), LAYOUT)
    assert [len(decoded(t["y"])) for t in whole["traces"]] == [50, 50]
    held = {"gen": whole["gen"], "counts": [50, 50]}
    grown = feed_payload(held, traces(70), LAYOUT)
    assert "traces" not in grown and grown["start"] == [50, 50]
    assert decoded(grown["x"][0]) == list(range(50, 70))


@pytest.mark.parametrize(
    "held",
    [
        {"gen": "another figure", "counts": [50, 50]},
        {"gen": None, "counts": [50, 50]},
        {"counts": [80, 50]},  # more than there is
        {"counts": [-1, 50]},
        {"counts": ["50", 50]},
        {"counts": [50]},
        {"counts": "everything"},
    ],
)
def test_the_feed_sends_the_whole_figure_to_a_browser_that_holds_another_or_says_nonsense(held):
    gen = feed_payload(None, traces(60), LAYOUT)["gen"]
    payload = feed_payload({"gen": gen, **held}, traces(60), LAYOUT)
    assert [len(decoded(t["y"])) for t in payload["traces"]] == [60, 60]


# --- what Python sends ---------------------------------------------------------------------


def test_the_first_rerun_sends_the_whole_figure():
    payload = next_payload(_Sent(), None, traces(50), LAYOUT)
    assert payload["layout"]["xaxis"]["title"] == {"text": "step"}  # as plotly.js 3 reads it
    assert payload["layout"]["height"] == 280
    assert [len(decoded(t["y"])) for t in payload["traces"]] == [50, 50]
    assert payload["traces"][0]["name"] == "loss"


def test_a_rerun_sends_only_the_points_after_those_sent():
    sent = _Sent()
    next_payload(sent, None, traces(50), LAYOUT)
    payload = next_payload(sent, None, traces(70), LAYOUT)
    assert "traces" not in payload
    assert payload["start"] == [50, 50]
    assert decoded(payload["x"][0]) == list(range(50, 70))


def test_a_rerun_with_nothing_new_sends_a_tiny_payload():
    sent = _Sent()
    next_payload(sent, None, traces(5000), LAYOUT)
    payload = next_payload(sent, None, traces(5000), LAYOUT)
    assert payload["x"] == [[], []] and payload["y"] == [[], []]
    assert len(str(payload)) < 120


def test_nan_none_and_infinity_become_gaps():
    sent = _Sent()
    next_payload(sent, None, [Trace("loss", [0, 1], [1.0, 2.0])], LAYOUT)
    payload = next_payload(
        sent, None, [Trace("loss", [0, 1, 2, 3, 4], [1.0, 2.0, math.nan, None, math.inf])], LAYOUT
    )
    assert all(math.isnan(v) for v in decoded(payload["y"][0]))


@pytest.mark.parametrize(
    "change",
    ["new layout", "new colour", "shrunk", "same length, other run"],
)
def test_a_changed_figure_is_sent_whole(change):
    sent = _Sent()
    next_payload(sent, None, traces(50), LAYOUT)
    layout, now = LAYOUT, traces(60)
    if change == "new layout":
        layout = {**LAYOUT, "yaxis": {"type": "log"}}
    elif change == "new colour":
        now[0].color = "#ff4b4b"
    elif change == "shrunk":
        now = traces(10)
    else:
        now = traces(60, offset=1.0)
    payload = next_payload(sent, None, now, layout)
    assert "traces" in payload and payload["gen"] == 2


def test_a_browser_that_reports_a_gap_gets_the_points_from_its_count():
    sent = _Sent()
    first = next_payload(sent, None, traces(50), LAYOUT)
    next_payload(sent, None, traces(70), LAYOUT)  # lost on its way
    report = {"mount": "m1", "seq": 1, "gen": first["gen"], "counts": [50, 50]}
    payload = next_payload(sent, report, traces(90), LAYOUT)
    assert payload["start"] == [50, 50] and len(decoded(payload["x"][0])) == 40
    assert payload["ack"] == ["m1", 1]
    again = next_payload(sent, report, traces(90), LAYOUT)  # the same report is read only once
    assert again["start"] == [90, 90]


def test_a_new_mount_gets_the_whole_figure():
    sent = _Sent()
    next_payload(sent, None, traces(50), LAYOUT)
    report = {"mount": "m2", "seq": 1, "gen": None, "counts": []}
    assert "traces" in next_payload(sent, report, traces(60), LAYOUT)


# --- the demo page in Chromium -------------------------------------------------------------


def running_demo(log_path):
    """Start `streamlit run tests/live_chart_demo.py` on a free port; yield its URL."""
    return appserver.running_app(log_path, "tests/live_chart_demo.py")


@pytest.fixture(scope="module")
def page():
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with running_demo(ARTIFACTS / "live-chart-streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 720})
        tab.set_default_timeout(30_000)
        tab.goto(f"{url}/?total={TOTAL}&step={STEP}")
        tab.wait_for_function("() => document.querySelector('.live-lines')?.data?.length === 3")
        yield tab
        browser.close()


def restart(page) -> None:
    """Open the demo again: a new session, whose chart grows from nothing for 15 s.

    The module's tests share one tab; a test that needs the chart still growing starts it
    again rather than count on the tests before it having been quick (on a busy machine the
    chart had reached 540 of 600 points before the last of them began)."""
    page.goto(page.url)
    # past its first draw and the layout that follows it: extended twice since
    page.wait_for_function(
        "() => document.querySelector('.live-lines')?.data?.length === 3"
        " && document.querySelector('.live-lines').liveLines?.extends >= 2"
    )


def points(page) -> list[int]:
    """Return how many points each trace of the loss chart holds in the browser."""
    return page.evaluate(
        "() => document.querySelector('.live-lines').data.map((trace) => trace.x.length)"
    )


def rerun(page) -> int:
    """Return the demo fragment's rerun count, from its caption."""
    caption = page.get_by_text(re.compile(r"^rerun \d+")).first.inner_text()
    return int(re.match(r"rerun (\d+)", caption).group(1))


def stats(page) -> dict:
    return page.evaluate("() => ({...document.querySelector('.live-lines').liveLines})")


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_the_chart_grows_by_appending_points(page):
    before = points(page)
    time.sleep(2.0)
    after = points(page)
    assert after[0] > before[0] and after[1] > before[1], (before, after)
    assert stats(page)["reacts"] == 1, "the figure was drawn whole once, then only extended"


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_a_button_answers_while_the_chart_grows(page):
    restart(page)
    assert points(page)[0] < TOTAL, "the chart stopped growing before the click"
    page.get_by_role("button", name="Ping").click()
    page.get_by_text("Pings: 1").wait_for(timeout=5_000)
    before = points(page)[0]
    page.wait_for_function(
        f"() => document.querySelector('.live-lines').data[0].x.length > {before}"
    )


COLOURED_PIXELS = """(rgb) => {
  const canvas = document.querySelector('.live-lines canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    const near = Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]);
    if (near < 40 && data[i + 3] > 200) count += 1;
  }
  return count;
}"""


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_live_charts_are_drawn_on_canvas_without_plotly_js(page):
    assert page.locator(".live-lines").count() == 2
    assert page.locator(".live-lines canvas").count() == 2
    # the smoothed loss's blue (palette.TRAIN, #0072B2) is on the canvas: the line is drawn
    assert page.evaluate(COLOURED_PIXELS, [0, 114, 178]) > 200
    assert "loss" in page.locator(".live-lines canvas").first.get_attribute("aria-label")
    # plotly.js (4.8 MB) is no longer fetched for them
    assert (
        page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter((entry) => entry.name.includes('plotly.min.js')).length"
        )
        == 0
    )


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_a_chart_in_a_hidden_tab_draws_when_shown_at_its_tab_width(page):
    loss_chart, lr_chart = (f"document.querySelectorAll('.live-lines')[{i}]" for i in (0, 1))
    assert page.evaluate(f"() => {lr_chart}.liveLines.reacts") == 0, "drawn while hidden"
    page.get_by_role("tab", name="Learning rate").click()
    page.wait_for_function(
        f"() => {lr_chart}.liveLines.width === {lr_chart}.clientWidth"
        f" && {lr_chart}.data[0].x.length === {loss_chart}.data[0].x.length"
    )
    assert page.evaluate(f"() => {lr_chart}.clientWidth") > 900
    page.get_by_role("tab", name="Loss").click()


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_a_chart_mounted_again_asks_for_and_gets_the_whole_figure(page):
    # more points than one rerun brings, so that the whole figure and a rerun's part differ
    page.wait_for_function(
        f"() => document.querySelector('.live-lines').data[0].x.length > {2 * STEP}"
    )
    held = points(page)[0]
    toggle = page.get_by_text("Show the charts")
    toggle.click()
    page.wait_for_function("() => document.querySelector('.live-lines') === null")
    toggle.click()
    # Python still believes the old chart holds its points: the new one reports, then redraws
    page.wait_for_function("() => document.querySelector('.live-lines')?.liveLines.reacts === 1")
    # once, on a quiet machine; a busy one may send a payload before it reads the report, and
    # the browser then reports again: asking is what matters, not how often
    assert stats(page)["reports"] >= 1
    assert min(points(page)[:2]) >= held  # the whole figure, not the rerun's new points


PUSH_DOWN = """(px) => {
  const main = document.querySelector("[data-testid='stMainBlockContainer']");
  const spacer = document.getElementById("spacer") ?? document.createElement("div");
  spacer.id = "spacer";
  spacer.style.height = `${px}px`;
  if (px) main.prepend(spacer); else spacer.remove();
}"""


def unseen_then_seen(page, hide, show) -> tuple[dict, dict, int, int]:
    """Hide the loss chart for 2 s of reruns, then show it; return its stats before and while
    hidden, and the points it held before and once it drew again."""
    before, held = stats(page), points(page)[0]
    page.evaluate(*hide)
    time.sleep(2.0)  # four reruns, each with new points
    during = stats(page)
    page.evaluate(*show)
    page.wait_for_function(
        f"() => document.querySelector('.live-lines').liveLines.extends > {during['extends']}"
    )
    return before, during, held, points(page)[0]


@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "hide, show",
    [
        ((TELL_HIDDEN, True), (TELL_HIDDEN, False)),  # a background browser tab
        ((PUSH_DOWN, 3000), (PUSH_DOWN, 0)),  # scrolled out of view
    ],
    ids=["background tab", "out of view"],
)
def test_a_chart_nobody_sees_draws_nothing_and_catches_up_when_seen(page, hide, show):
    restart(page)
    assert points(page)[0] < TOTAL - 6 * STEP, "the chart stopped growing before the test"
    before, during, held, shown = unseen_then_seen(page, hide, show)
    assert during["payloads"] >= before["payloads"] + 2, "no new points arrived meanwhile"
    drawn = ("reacts", "extends", "afterplots")
    assert [during[k] for k in drawn] == [before[k] for k in drawn], "drawn while unseen"
    assert during["deferred"] > before["deferred"]
    # one redraw brings in everything that arrived meanwhile
    assert shown >= held + 2 * STEP


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_an_idle_chart_is_not_redrawn(page):
    page.wait_for_function(
        f"() => document.querySelector('.live-lines').data[0].x.length === {TOTAL}",
        timeout=40_000,
    )
    time.sleep(1.0)  # the last extend's redraw settles
    page.screenshot(path=str(ARTIFACTS / "live-chart.png"))
    idle, idle_rerun = stats(page), rerun(page)
    time.sleep(3.0)  # six more reruns, each with nothing new
    later = stats(page)
    assert rerun(page) >= idle_rerun + 3, "the fragment stopped rerunning"
    drawn = ("reacts", "extends", "afterplots")
    assert [later[k] for k in drawn] == [idle[k] for k in drawn]
    assert page.locator("[data-testid='stException']").count() == 0
