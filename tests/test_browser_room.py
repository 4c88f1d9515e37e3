"""The room in real Chromium: a presenter opens a room; a phone (390×844, touch input) opens the
QR code's link, draws a digit with a finger, sends it, and the presenter's wall shows it.

Screenshots land in test-artifacts/room-phone.png and room-wall.png for a person to look at.
"""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from core.runs.ready import READY_ENV
from tests.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    require_browser,
    running_app,
    touch_stroke,
    wait_for_app_idle,
    wait_for_drawn,
)
from ui.room import take_home
from ui.room.qr import QR_PIXELS, qr_png

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
PHONE = {"width": 390, "height": 844}
OTHER_SCREENS = [(360, 640), (844, 390), (568, 320)]
SEVEN = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]  # fractions of the canvas


def test_a_phone_joins_by_the_qr_codes_link_draws_with_a_finger_and_the_wall_shows_it(
    data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv(READY_ENV, "1")  # the ready model reads the room
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with (
        running_app(data_dir, tmp_path / "runs", ARTIFACTS / "streamlit-room.log") as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        wall = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        wall.set_default_timeout(60_000)
        wall.goto(f"{url}/room")
        wait_for_app_idle(wall)
        wall.get_by_role("button", name="Open a room").click()
        code_box = wall.locator(".dl-code")
        code_box.wait_for()
        code, link = code_box.inner_text().strip(), wall.locator(".dl-link").inner_text().strip()
        assert re.fullmatch(r"[A-Z0-9]{5}", code) and link.endswith(f"/join?room={code}")
        # the QR code on the wall is the link's: the picture the page shows is the one made of it
        source = wall.get_by_role("img", name=re.compile("")).first.get_attribute("src")
        with urllib.request.urlopen(f"{url}{source}" if source.startswith("/") else source) as r:
            assert r.read() == qr_png(link, QR_PIXELS)

        phone = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True).new_page()
        phone.set_default_timeout(60_000)
        phone.goto(link)  # the server listens on 127.0.0.1 here: the link is this machine's
        wait_for_app_idle(phone)
        prompt = phone.locator("h1.dl-prompt").inner_text()
        asked = int(re.search(r"Draw an? (\d)", prompt).group(1))
        canvas = phone.locator("canvas").last
        box = canvas.bounding_box()
        send = phone.get_by_role("button", name="Send")
        # all it needs is above the fold, and the canvas spans most of the screen
        assert send.bounding_box()["y"] + send.bounding_box()["height"] <= PHONE["height"]
        assert box["width"] >= 0.85 * PHONE["width"]
        assert phone.locator("[data-testid='stSidebar'] :visible").count() == 0
        touch_stroke(phone, box, SEVEN)
        assert phone.evaluate("window.scrollY") == 0  # drawing did not scroll the page
        phone.get_by_text("The model reads").wait_for()
        send.click()
        said = phone.get_by_text(re.compile(r"Sent! The model read your \d as"))
        said.wait_for()
        phone.screenshot(path=str(ARTIFACTS / "room-phone.png"))

        sent = time.monotonic()
        wall.get_by_text(re.compile(rf"an? {asked}, read \d")).first.wait_for(timeout=10_000)
        seconds = time.monotonic() - sent
        print(f"\nsend to wall: {seconds:.1f} s")
        assert seconds < 5
        wait_for_drawn(wall)  # the charts of the room's scores draw after the tile
        wall.screenshot(path=str(ARTIFACTS / "room-wall.png"))

        # a small phone upright, phones turned sideways: canvas and Send on the screen
        for width, height in OTHER_SCREENS:
            other = browser.new_context(
                viewport={"width": width, "height": height}, has_touch=True, is_mobile=True
            ).new_page()
            other.goto(link)
            wait_for_app_idle(other)
            board = other.locator("canvas").last.bounding_box()
            button = other.get_by_role("button", name="Send").bounding_box()
            assert board["y"] + board["height"] <= height, (width, height, board)
            assert button["y"] + button["height"] <= height, (width, height, button)
            assert board["width"] >= 0.55 * min(width, height), (width, height, board)
            other.screenshot(path=str(ARTIFACTS / f"room-phone-{width}x{height}.png"))
            other.context.close()

        # take it home: the app serves the room's model as one page, for the phones
        wall.get_by_role("button", name="Take it home").click()
        wall.get_by_text("Take the model home").wait_for()
        home = wall.locator(".dl-link").nth(1).inner_text().strip()
        assert "/app/static/take-home/" in home and home.endswith(".html")
        try:
            with urllib.request.urlopen(home) as reply:
                assert reply.headers["Content-Type"].startswith("text/html")
                assert b"window.digitlab" in reply.read()
        finally:
            (take_home.FOLDER / home.rsplit("/", 1)[1]).unlink(missing_ok=True)
        for tab in (wall, phone):
            assert tab.locator("[data-testid='stException']").count() == 0
        browser.close()
