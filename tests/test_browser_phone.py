"""The Draw page on a 390×844 phone with touch input: the sidebar does not cover the page on
the first load, a finger draws on the canvas, the answer is on the first screen, and the ten
save buttons are two rows of five, not ten full-width rows.

The screenshot lands in test-artifacts/5-draw-phone.png for a person to look at.
"""

from __future__ import annotations

import pytest

from core.runs.ready import READY_ENV
from tests import browser

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
PHONE = {"width": 390, "height": 844}


def test_the_draw_page_works_with_a_finger_on_a_phone(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(READY_ENV, "1")  # the ready model reads the drawing
    chromium = browser.require_browser()
    from playwright.sync_api import sync_playwright

    browser.ARTIFACTS.mkdir(exist_ok=True)
    with (
        browser.running_app(
            data_dir, tmp_path / "runs", browser.ARTIFACTS / "streamlit-phone.log"
        ) as url,
        sync_playwright() as playwright,
    ):
        chrome = playwright.chromium.launch(executable_path=chromium, args=browser.CHROMIUM_ARGS)
        context = chrome.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
        phone = context.new_page()
        phone.set_default_timeout(60_000)
        phone.goto(f"{url}/draw")
        browser.wait_for_app_idle(phone)
        canvas = phone.locator("canvas").last
        box = canvas.bounding_box()
        # the sidebar is closed: what a finger touches in the canvas is the canvas
        on_top = phone.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y)"
            ".closest('[class*=\"st-key-draw-canvas\"]')",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert on_top
        browser.touch_stroke(phone, box, [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)])
        answer = phone.locator(".dl-answer")
        answer.wait_for()
        browser.wait_for_app_idle(phone)  # the rest of the page drawn: its layout settled
        assert "7" in answer.inner_text()
        assert answer.bounding_box()["y"] < PHONE["height"]  # on the first screen
        rows = {
            round(phone.locator(f".st-key-draw-save-{digit}").bounding_box()["y"])
            for digit in range(10)
        }
        assert len(rows) == 2, rows
        phone.screenshot(path=str(browser.ARTIFACTS / "5-draw-phone.png"))
        chrome.close()
