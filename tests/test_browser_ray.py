"""The Train page in real Chromium with training on Ray (DIGITLAB_EXECUTOR=ray, a local Ray).

The server starts its own local Ray, as it would for `DIGITLAB_EXECUTOR=ray streamlit run
app.py` with no RAY_ADDRESS. The page must stream, pause and stop as with the local workers.
"""

from __future__ import annotations

import re
import time

import pytest

from core.bench import appserver
from tests.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    assert_no_exception,
    current_step,
    open_page,
    require_browser,
    wait_for_app_idle,
    wait_for_step_past,
)

pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
pytestmark = [pytest.mark.timeout(420)]


def test_the_train_page_streams_pauses_and_stops_a_job_on_ray(data_dir, tmp_path):
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    runs = tmp_path / "runs"
    env = {
        "DIGITLAB_DATA": str(data_dir),
        "DIGITLAB_RUNS": str(runs),
        "DIGITLAB_EXECUTOR": "ray",
        "RAY_ADDRESS": "",  # a local Ray for this server, even where a cluster is configured
    }
    with (
        appserver.running_app(tmp_path / "server.log", "app.py", env) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(url)
            wait_for_app_idle(page)
            open_page(page, "Train")
            sidebar = page.locator("[data-testid='stSidebar']")
            epochs = page.get_by_label("Epochs")
            epochs.fill("20")
            epochs.press("Enter")
            wait_for_app_idle(page)
            page.get_by_role("button", name=re.compile("Start training")).click()
            step = re.compile(r"step [1-9][\d,]*/[\d,]+")
            page.get_by_text(step).first.wait_for(timeout=120_000)
            sidebar.get_by_text(
                re.compile(r"Training runs on a local Ray: 1 node, \d+ CPUs")
            ).wait_for()
            wait_for_step_past(page, current_step(page), "the steps did not stream from Ray")
            page.get_by_role("button", name=re.compile("Pause")).click()
            page.get_by_role("button", name=re.compile("Resume")).wait_for()
            time.sleep(1.5)  # the pause has reached the task and the last steps the page
            paused_at = current_step(page)
            time.sleep(2.0)
            assert current_step(page) == paused_at, "it kept training while paused"
            page.screenshot(path=str(ARTIFACTS / "3-train-ray.png"))
            page.get_by_role("button", name=re.compile("Resume")).click()
            page.get_by_role("button", name=re.compile("Pause")).wait_for()
            wait_for_step_past(page, paused_at, "it did not go on after Resume")
            page.get_by_role("button", name="Stop", exact=True).click()
            page.get_by_text("Test accuracy").first.wait_for(timeout=120_000)
            wait_for_app_idle(page)
            assert_no_exception(page)
        finally:
            browser.close()
    saved = [p for p in runs.iterdir() if (p / "summary.json").exists()]
    assert len(saved) == 1 and '"status": "stopped"' in (saved[0] / "summary.json").read_text()
