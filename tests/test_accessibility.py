"""Readable by everyone in the room: axe-core on every page, the keyboard, colour-blind views.

axe-core (bundled by axe-playwright-python, so it runs offline) audits each page in Chromium
after a training, so that the result panels are there, and once while a training runs, so
that the live panel is too. Any serious or critical violation fails. The figures are also
photographed under Chromium's emulated deuteranopia, protanopia and achromatopsia, for a person
to look at (test-artifacts/a11y-*.png).
"""

from __future__ import annotations

import copy
import re

import pytest

from core.spec.presets import get_preset
from tests.browser import (
    ARTIFACTS,
    STEP_SHOWN,
    assert_no_exception,
    browser_tab,
    open_page,
    running_app,
    wait_for_app_idle,
    wait_for_drawn,
)
from tests.conftest import train_tiny_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PAGES = ["Data", "Build", "Train", "Evaluate", "Draw", "Inside"]
BLOCKING = {"serious", "critical"}
TRAINING_EPOCHS = 5  # the Train page's audits: seed-mlp-128 at about 1.5 s an epoch here
VISION_DEFICIENCIES = ["deuteranopia", "protanopia", "achromatopsia"]


@pytest.fixture(scope="module")
def app_url(data_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("a11y-runs")
    preset = get_preset("small-cnn")
    config = copy.deepcopy(preset.config)  # presets are shared: never change one
    config.epochs, config.iterations = 1, 40  # a run to audit: its accuracy is not judged
    train_tiny_run(runs, data_dir, "audited run", preset.spec, config)
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(data_dir, runs, ARTIFACTS / "streamlit-a11y.log") as url:
        yield url


@pytest.fixture(scope="module")
def tab(app_url):
    with browser_tab(app_url, height=900) as page:
        yield page


def blocking_violations(page) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    # every node of every violation, but one node of each other kind of result: the whole
    # report (passes included) was 1.6-2.8 MB a page, and an audit cost 2.8-5.3 CPU-s against
    # 1.2-1.8 (Evaluate, Inside; 2026-12-07). axe-core truncates the others, never drops them
    found = Axe().run(page, options={"resultTypes": ["violations"]}).response["violations"]
    return [
        f"[{v['impact']}] {v['id']}: {node['target']} {node.get('failureSummary', '')[:200]}"
        for v in found
        if v["impact"] in BLOCKING
        for node in v["nodes"]
    ]


def test_the_audit_reports_every_node_of_a_blocking_violation(tab):
    page = tab.context.new_page()
    try:  # two nameless buttons, an image without a text alternative: critical
        page.set_content(
            '<main><h1>Audit</h1><button></button><button></button><img src="x.png"></main>'
        )
        found = blocking_violations(page)
    finally:
        page.close()
    assert sum("button-name" in line for line in found) == 2, found
    assert sum("image-alt" in line for line in found) == 1, found


@pytest.mark.parametrize("title", PAGES)
def test_every_page_passes_axe_core(tab, title):
    open_page(tab, title)
    wait_for_drawn(tab)  # charts and images draw after the script run
    assert_no_exception(tab)
    assert blocking_violations(tab) == []


def test_the_room_wall_and_the_phones_page_pass_axe_core(tab):
    open_page(tab, "Room")
    assert blocking_violations(tab) == []  # no room yet: what a room is, and Open
    tab.get_by_role("button", name="Open a room").click()
    tab.locator(".dl-code").wait_for()
    wait_for_drawn(tab)
    assert_no_exception(tab)
    assert blocking_violations(tab) == []
    phone = tab.context.new_page()
    try:
        phone.set_viewport_size({"width": 390, "height": 844})
        phone.goto(tab.locator(".dl-link").first.inner_text().strip())
        wait_for_app_idle(phone)
        assert_no_exception(phone)
        assert blocking_violations(phone) == []
    finally:
        phone.close()
        tab.get_by_role("button", name="Close the room").click()
        wait_for_app_idle(tab)


def test_the_train_page_passes_axe_core_while_it_trains_and_after(tab):
    open_page(tab, "Train")
    # 5 epochs, not the preset's 10: about 8 s here, still training through the first audit
    # (once the live charts have drawn, then about 2 s), and half the preset's CPU for the rest
    epochs = tab.get_by_label("Epochs")
    epochs.fill(str(TRAINING_EPOCHS))
    epochs.press("Enter")
    wait_for_app_idle(tab)
    tab.locator(".st-key-start_training button").click()
    tab.get_by_text(re.compile(r"step [1-9][\d,]*/[\d,]+")).first.wait_for(timeout=120_000)
    wait_for_drawn(tab)
    assert blocking_violations(tab) == []
    tab.get_by_text("Test accuracy").first.wait_for(timeout=300_000)
    wait_for_app_idle(tab)
    wait_for_drawn(tab)  # the result's charts
    assert blocking_violations(tab) == []


@pytest.mark.parametrize("path", ["", "build", "train", "evaluate", "draw", "inside"])
def test_talk_mode_passes_axe_core(app_url, tab, path):
    tab.goto(f"{app_url}/{path}?talk=1")
    wait_for_app_idle(tab)
    tab.wait_for_function("getComputedStyle(document.documentElement).fontSize === '21px'")
    wait_for_drawn(tab)
    assert blocking_violations(tab) == []
    tab.keyboard.press("Escape")  # back to the normal layout for the tests after
    tab.wait_for_function("() => !location.search.includes('talk=')")
    wait_for_app_idle(tab)


def _focused(tab) -> dict:
    return tab.evaluate(
        """() => {
            const e = document.activeElement;
            const s = getComputedStyle(e);
            return {text: (e.innerText || '').trim(), tag: e.tagName,
                    role: e.getAttribute('role') || '',
                    label: e.getAttribute('aria-label') || '',
                    ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0
                          || s.boxShadow !== 'none'};
        }"""
    )


def test_start_is_reached_and_pressed_from_the_keyboard_with_a_visible_focus_ring(tab):
    open_page(tab, "Train")
    tab.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(80):  # Tab from the top (the sidebar first) until Start has the focus
        tab.keyboard.press("Tab")
        focused = _focused(tab)
        if focused["tag"] == "BUTTON" and re.search("training", focused["text"]):
            break
    else:
        pytest.fail("Tab never reached the Start button")
    assert focused["ring"], "the focused button shows no focus ring"
    tab.keyboard.press("Enter")
    tab.get_by_text(STEP_SHOWN).first.wait_for(timeout=120_000)
    stop = tab.locator("[data-testid='stMain']").get_by_role("button", name=re.compile("Stop$"))
    stop.first.focus()
    tab.keyboard.press("Enter")
    tab.get_by_text("stopped early").first.wait_for(timeout=60_000)


def _tab_to(tab, wanted, presses: int = 80) -> dict:
    """Press Tab from the top of the page until wanted(focused) holds; return the focused."""
    tab.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(presses):
        tab.keyboard.press("Tab")
        focused = _focused(tab)
        if wanted(focused):
            return focused
    pytest.fail("Tab never reached the element")


def test_pages_presets_and_the_canvas_are_used_from_the_keyboard(tab):
    open_page(tab, "Data")
    # a link's or button's text starts with its icon's name ("account_tree"): match the end
    link = _tab_to(tab, lambda f: f["tag"] == "A" and f["text"].endswith("Build"))
    assert link["ring"], "the focused link shows no focus ring"
    tab.keyboard.press("Enter")
    tab.get_by_role("heading", name="Build", exact=True).first.wait_for()
    wait_for_app_idle(tab)
    # the preset picker is a combobox: type to filter, Enter to choose
    _tab_to(tab, lambda f: f["role"] == "combobox" and "preset" in f["label"].lower())
    tab.keyboard.type("Small CNN")
    tab.keyboard.press("Enter")
    tab.get_by_text("Two conv blocks").first.wait_for(timeout=30_000)
    open_page(tab, "Draw")
    clear = _tab_to(tab, lambda f: f["tag"] == "BUTTON" and f["text"].endswith("Clear"))
    assert clear["ring"]
    tab.keyboard.press("Enter")
    wait_for_app_idle(tab)
    assert_no_exception(tab)


@pytest.mark.parametrize("title", ["Data", "Train", "Evaluate", "Inside"])
def test_the_figures_photographed_as_colour_blind_eyes_see_them(tab, title):
    open_page(tab, title)
    wait_for_drawn(tab)
    session = tab.context.new_cdp_session(tab)
    try:
        for kind in VISION_DEFICIENCIES:
            session.send("Emulation.setEmulatedVisionDeficiency", {"type": kind})
            tab.wait_for_timeout(300)
            tab.screenshot(path=str(ARTIFACTS / f"a11y-{title.lower()}-{kind}.png"), full_page=True)
    finally:
        session.send("Emulation.setEmulatedVisionDeficiency", {"type": "none"})
        session.detach()
    assert_no_exception(tab)
