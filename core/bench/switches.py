"""python -m core bench --switches: how long a presenter waits in Chromium for a page switch, a
talk-mode key and a Build click (issue 24's targets: a median page switch of at most 1.5 s,
Inside at most 3 s, talk keys 1.5 s, a Build click 1 s).

The app runs with a fresh runs folder holding the ready model (so Evaluate, Draw and Inside have
a model to show), Chromium at 1280×800 on the same machine. Each action is timed from the click
(or key) until the page is done: Streamlit's script run has ended (its status widget is gone)
and every chart on the page has been drawn. Each page is visited --repeat times (default 3),
the first visit of each excluded (it fills the server's caches once, for every visitor).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from core.bench.appserver import CHROMIUM_ARGS, running_app

CHROMIUM = "/usr/bin/chromium"
PAGES = ("Data", "Build", "Train", "Evaluate", "Draw", "Inside")
TALK_KEYS = (("1", "seed-3v7"), ("2", "seed-mlp-128"), ("3", "small-cnn"))  # the default talk
TARGETS = {"page switch": 1.5, "Inside": 3.0, "talk key": 1.5, "Build click": 1.0}
# done: the script run ended and every plotly chart on the page has drawn (an element each)
DONE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
  && Array.from(document.querySelectorAll('.js-plotly-plot')).every(g => g._fullLayout)
  && !document.querySelector('[data-testid="stSkeleton"]')"""


def _wait_done(page, timeout: float = 60.0) -> None:
    # the status widget shows a moment after a click: wait for the run to start, then to end
    page.wait_for_timeout(120)
    page.wait_for_function(DONE, timeout=timeout * 1000, polling=50)
    page.wait_for_timeout(150)  # a second look: a rerun may start right after the first
    page.wait_for_function(DONE, timeout=timeout * 1000, polling=50)


def timed(page, action, shown: str) -> float:
    """Return the seconds from doing action() until shown (a JS predicate: the new page or
    state is there) holds and the page is done (the two short settling pauses taken out)."""
    started = time.perf_counter()
    action()
    page.wait_for_function(shown, timeout=120_000, polling=20)
    _wait_done(page)
    return time.perf_counter() - started - 0.27


def heading(title: str) -> str:
    """Return a JS predicate: the main heading reads title."""
    return f"""() => {{ const h = document.querySelector('[data-testid="stMain"] h1');
      return h !== null && h.innerText.trim() === {json.dumps(title)}; }}"""


# what a page draws last: its "Next" step (ui/shared/guide.py); Inside, the last of the path,
# its gradient norms' header
LAST_OF_PAGE = {"Inside": "Gradient norms per layer"}


def page_drawn(title: str) -> str:
    """Return a JS predicate: the page's heading and the last thing it draws are there."""
    last = LAST_OF_PAGE.get(title, "Next:")
    return f"""() => ({heading(title)})() && ({main_text_has(last)})()"""


def main_text_has(text: str) -> str:
    """Return a JS predicate: the page's main part shows text."""
    return f"""() => document.querySelector('[data-testid="stMain"]').innerText.includes(
      {json.dumps(text)})"""


def _nav(page, title: str):
    return lambda: page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()


def measure(url: str, repeat: int) -> dict[str, list[float]]:
    """Return each action's timings (seconds), first visits excluded."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {title: [] for title in PAGES}
    times.update({f"{title}, first visit": [] for title in PAGES})
    times.update({"talk key": [], "Build click": []})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(120_000)
        page.goto(url)
        # the first page drawn whole first: right after goto nothing has started yet, so
        # "done" held at once and Build's first visit took in the rest of Data's (3.9 s)
        page.wait_for_function(page_drawn(PAGES[0]), timeout=120_000, polling=50)
        _wait_done(page, 120)
        for round_number in range(repeat + 1):
            for title in (*PAGES[1:], PAGES[0]):
                seconds = timed(page, _nav(page, title), page_drawn(title))
                # the first visit fills the server's caches, once for every visitor
                times[title if round_number else f"{title}, first visit"].append(seconds)
        for _ in range(repeat):  # each time from the preset: one more layer, then back
            page.goto(f"{url}/build?preset=seed-mlp-128")
            _wait_done(page, 120)
            add = page.get_by_role("button", name="Add dense layer").first
            # one more dense layer's row in the editor (each has a remove button, keyed so)
            rows = "document.querySelectorAll(\"[class*='st-key-'][class*='_remove']\").length"
            before = page.evaluate(f"() => {rows}")
            grown = f"() => {rows} > {before}"
            times["Build click"].append(timed(page, add.click, grown))
        page.goto(f"{url}/?talk=1")
        _wait_done(page, 120)
        for round_number in range(repeat + 1):
            for key, preset in TALK_KEYS:
                shown = main_text_has(f"{preset}:")  # the Train page's line about the network
                seconds = timed(page, lambda key=key: page.keyboard.press(key), shown)
                if round_number:
                    times["talk key"].append(seconds)
        browser.close()
    return times


def run_switch_bench(args) -> int:
    """Print the median and worst time of each action against its target; a JSON line last."""
    repeat = getattr(args, "repeat", None) or 3
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DIGITLAB_RUNS": tmp, "DIGITLAB_READY_MODEL": "1"}
        if args.data:
            env["DIGITLAB_DATA"] = args.data
        with running_app(Path(tmp) / "server.log", env=env) as url:
            times = measure(url, repeat)
    print(f"Chromium at 1280×800 on this machine, {repeat} visits each after a first one:\n")
    print("| action | median | worst | target |\n|---|---:|---:|---:|")
    for action, values in times.items():
        target = TARGETS.get(action.removesuffix(", first visit"), TARGETS["page switch"])
        median = statistics.median(values)
        mark = "" if median <= target else " ✗"
        print(f"| {action} | {median:.2f} s{mark} | {max(values):.2f} s | {target:g} s |")
    pages = [v for title in PAGES if title != "Inside" for v in times[title]]
    print(f"\nall page switches but Inside: median {statistics.median(pages):.2f} s")
    print(json.dumps(times))
    return 0
