"""python -m core bench --app: what watching a training in the browser costs the training.

It starts the app on a free local port, drives Chromium (Playwright) through Start on a preset,
and compares the run's own training seconds (summary.json) in three conditions, in one run so
that the machine's load affects them alike: the Train page's live Curves watched, the browser
on the Build page while it trains, and `python -m core train` from the command line (run before
and after the app, averaged). It also counts the loss chart's updates in the browser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.appserver import REPO, running_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# the loss chart's draw counters, kept by ui/live_chart_assets/live_chart.js on its div
CHART_STATS = """() => {
  const div = document.querySelector('.live-lines');
  return div && div.liveLines ? {...div.liveLines, mount: div.dataset.mount || ''} : null;
}"""


def cli_seconds(preset: str, data_dir: str | None, runs_dir: str, device: str) -> float:
    """Return the training seconds of `python -m core train --preset preset`, from its JSON line."""
    command = [sys.executable, "-m", "core", "train", "--preset", preset, "--device", device]
    if data_dir:
        command += ["--data", data_dir]
    command += ["--runs", runs_dir]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _newest_finished(runs_dir: Path, known: set[str]) -> dict | None:
    for summary_path in runs_dir.glob("*/summary.json"):
        if summary_path.parent.name in known:
            continue
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue
        if summary.get("status") == "finished":
            return summary
    return None


def _wait_idle(page, timeout: float = 120.0) -> None:
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator("[data-testid='stStatusWidget']").count() == 0:
            return
        time.sleep(0.2)


def app_run(page, url: str, preset: str, runs_dir: Path, watch: bool) -> tuple[dict, float]:
    """Start a preset from the Train page; watch its curves or go to Build; return its summary
    and, when watched, the loss chart's updates per second of training."""
    known = {p.name for p in runs_dir.iterdir()} if runs_dir.exists() else set()
    page.goto(f"{url}/train?preset={preset}")
    _wait_idle(page)
    page.get_by_role("button", name="Start training").first.click()
    updates, last, started = 0, None, None
    if not watch:
        page.wait_for_selector("[data-testid='stProgress']", timeout=120_000)
        page.locator("[data-testid='stSidebarNav'] a", has_text="Build").first.click()
    deadline = time.monotonic() + 1800
    while (summary := _newest_finished(runs_dir, known)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{preset} did not finish in the app")
        if watch:
            stats = page.evaluate(CHART_STATS)
            if stats is not None:
                started = started or time.monotonic()
                count = stats["extends"] + stats["reacts"]
                # a chart that was drawn anew starts counting from 0 again
                updates += count if last is None or count < last else count - last
                last = count
        time.sleep(0.5)
    watched = time.monotonic() - started if started else None
    return summary, (updates / watched if watched else 0.0)


def run_app_bench(args) -> int:
    """Print the training seconds watched, on another page and from the CLI, as ratios."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(
            "error: bench --app needs Playwright: pip install -r requirements-dev.txt",
            file=sys.stderr,
        )
        return 2
    if not os.path.exists(CHROMIUM):
        print(
            f"error: bench --app needs Chromium at {CHROMIUM} (apt-get install chromium)",
            file=sys.stderr,
        )
        return 2
    # the app trains on its default device ('auto'): so does the CLI here
    preset, device = args.preset or "seed-mlp-128", "auto"
    work = Path(tempfile.mkdtemp(prefix="digitlab-appbench-"))
    runs = work / "runs"
    print(f"bench --app: {preset} on {device}, runs in {runs}", flush=True)
    before = cli_seconds(preset, args.data, str(work / "cli"), device)
    print(f"CLI: {before:.1f} s", flush=True)
    env = {"DIGITLAB_RUNS": str(runs)}
    if args.data:
        env["DIGITLAB_DATA"] = str(Path(args.data).resolve())
    with running_app(work / "streamlit.log", env=env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/train?preset={preset}")
        _wait_idle(page)
        page.wait_for_timeout(3000)  # the worker process starts while the page is open
        watched, rate = app_run(page, url, preset, runs, watch=True)
        print(
            f"app, Curves watched: {watched['seconds']:.1f} s, {rate:.1f} chart updates/s",
            flush=True,
        )
        elsewhere, _ = app_run(page, url, preset, runs, watch=False)
        print(f"app, browser on Build: {elsewhere['seconds']:.1f} s", flush=True)
        browser.close()
    after = cli_seconds(preset, args.data, str(work / "cli"), device)
    print(f"CLI again: {after:.1f} s", flush=True)
    cli = (before + after) / 2
    results = {
        "preset": preset,
        "device": watched.get("device"),
        "cli_seconds": [before, after],
        "watched_seconds": watched["seconds"],
        "other_page_seconds": elsewhere["seconds"],
        "watched_ratio": watched["seconds"] / cli,
        "other_page_ratio": elsewhere["seconds"] / cli,
        "chart_updates_per_second": rate,
    }
    print("\n| while training | training seconds | vs the CLI |\n|---|---:|---:|")
    print(f"| `python -m core train` (mean of before and after) | {cli:.1f} | 1.00× |")
    print(
        f"| Train page, live Curves watched | {watched['seconds']:.1f} | {results['watched_ratio']:.2f}× |"
    )
    print(
        f"| browser on the Build page | {elsewhere['seconds']:.1f} | {results['other_page_ratio']:.2f}× |"
    )
    print(f"\nloss chart updates in the browser while watched: {rate:.1f} per second")
    print(json.dumps(results))
    return 0
