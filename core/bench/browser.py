"""python -m core bench --browser: where Chromium's time goes while the Train page is watched.

It starts the app, trains a preset from the Train page in Chromium (Playwright) and, over
windows of a few seconds, reads the renderer's own counters over the DevTools protocol
(`Performance.getMetrics`: task, script, layout and style seconds, layouts and style
recalculations) and the CPU seconds of the browser's, the server's and the worker's processes,
each per second: with the page as it is, with the live charts hidden (display: none), on the
Build page, and with the sidebar hidden. The differences say which part costs what (issue 27).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from core.bench.app import cpu_seconds_by_kind
from core.bench.appserver import CHROMIUM_ARGS, running_app

CHROMIUM = "/usr/bin/chromium"
WINDOW_SECONDS = 8.0
RENDERER = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
COUNTS = ("LayoutCount", "RecalcStyleCount")
HIDE = """(selector) => {
  const style = document.createElement('style');
  style.textContent = selector + ' { display: none !important; }';
  document.head.appendChild(style);
}"""


TELL_HIDDEN = """(hidden) => {
  Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
  Object.defineProperty(document, "visibilityState",
    { value: hidden ? "hidden" : "visible", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SCREENSHOT = Path("test-artifacts") / "bench-browser-watched.png"


def _metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def measure_window(cdp, seconds: float = WINDOW_SECONDS) -> dict[str, float]:
    """Return the renderer's seconds and counts, and each process kind's CPU, per second."""
    before, cpu_before = _metrics(cdp), cpu_seconds_by_kind()
    time.sleep(seconds)
    after, cpu_after = _metrics(cdp), cpu_seconds_by_kind()
    row = {k: (after[k] - before[k]) / seconds for k in (*RENDERER, *COUNTS) if k in after}
    row.update({f"{k} cpu": (cpu_after[k] - cpu_before[k]) / seconds for k in cpu_after})
    return row


def _nav(page, name: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=name).first.click()


def run_browser_bench(args) -> int:
    """Print the table of what each part of the watched Train page costs; a JSON line last."""
    from playwright.sync_api import sync_playwright

    preset = args.preset or "seed-mlp-128"
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DIGITLAB_RUNS": tmp, **({"DIGITLAB_DATA": args.data} if args.data else {})}
        with running_app(Path(tmp) / "server.log", env=env) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            # long enough for every window: two minutes of training here, where 60 epochs
            # ended before the last window once watching cost the training less
            page.goto(f"{url}/train?preset={preset}&epochs=150")
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=120_000)
            time.sleep(2)
            rows["Train page, idle"] = measure_window(cdp)
            page.get_by_role("button", name="Start training").first.click()
            page.wait_for_selector(".live-lines", timeout=120_000)
            time.sleep(2)
            rows["watched"] = measure_window(cdp)
            page.evaluate(HIDE, ".live-lines")
            rows["watched, charts hidden"] = measure_window(cdp)
            page.reload()  # the hiding style goes with the old document
            page.wait_for_selector(".live-lines", timeout=120_000)
            time.sleep(2)
            # a background tab as the page sees one (headless Chromium keeps every tab
            # "visible"): the charts hear visibilitychange; a real one also has its timers slowed
            page.evaluate(TELL_HIDDEN, True)
            rows["watched, the page told it is hidden"] = measure_window(cdp)
            page.evaluate(TELL_HIDDEN, False)
            page.screenshot(path=str(SCREENSHOT))
            time.sleep(2)
            _nav(page, "Build")
            time.sleep(2)
            rows["on the Build page"] = measure_window(cdp)
            page.reload()  # the charts' hiding style goes with the old document
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=120_000)
            _nav(page, "Train")
            page.wait_for_selector(".live-lines", timeout=120_000)
            time.sleep(2)
            page.evaluate(HIDE, "[data-testid='stSidebar']")
            rows["watched, sidebar hidden"] = measure_window(cdp)
            browser.close()
    print(f"{preset}, Chromium at 1280×800, windows of {WINDOW_SECONDS:g} s; per second:\n")
    print(
        "| condition | browser CPU | renderer task | script | layout | style | layouts | style recalcs | server CPU | worker CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in rows.items():
        print(
            f"| {label} | {r['browser cpu']:.3f} | {r['TaskDuration']:.3f} | "
            f"{r['ScriptDuration']:.3f} | {r['LayoutDuration']:.3f} | "
            f"{r['RecalcStyleDuration']:.3f} | {r['LayoutCount']:.1f} | "
            f"{r['RecalcStyleCount']:.1f} | {r['server cpu']:.3f} | {r['worker cpu']:.3f} |"
        )
    print(json.dumps({"preset": preset, "rows": rows}))
    return 0
