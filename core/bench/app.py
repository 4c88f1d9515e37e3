"""python -m core bench --app: what watching a training in the browser costs the training.

It starts the app on a free local port, drives Chromium (Playwright) through Start on a preset,
and compares the run's own training seconds (summary.json) in several conditions, in one run so
that the machine's load affects them alike: the Train page's live Curves watched, the same in
talk mode, the Inside-the-network view, the Inside page's live part, the browser on the Build
page while it trains, and `python -m core train` from the command line (between them; the
median). For each it reports the browser's CPU per second of training (its share of a core),
the frames that took over 50 ms (stutters), and the loss chart's updates a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.bench.appserver import CHROMIUM_ARGS, REPO, running_app

CHROMIUM = "/usr/bin/chromium"
# the loss chart's draw counters, kept by ui/charts/live_chart_assets/live_chart.js on its div
CHART_STATS = """() => {
  const div = document.querySelector('.live-lines');
  return div && div.liveLines ? {...div.liveLines, mount: div.dataset.mount || ''} : null;
}"""


def process_cpu_seconds(folder: Path) -> float:
    """Return the CPU seconds (user + system, all threads) of the process at /proc/<pid>."""
    fields = (folder / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_kind() -> dict[str, float]:
    """Return the CPU seconds used so far by this machine's app server, workers and Chromium."""
    totals = {"server": 0.0, "worker": 0.0, "browser": 0.0}
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            command = (
                (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
            seconds = process_cpu_seconds(folder)
        except OSError:
            continue
        kind = (
            "browser"
            if "chromium" in command
            else "worker"
            if "multiprocessing.spawn" in command
            else "server"
            if "streamlit run" in command
            else None
        )
        if kind:
            totals[kind] += seconds
    return totals


def cli_seconds(
    preset: str, data_dir: str | None, runs_dir: str, device: str, threads: int | None = None
) -> float:
    """Return the training seconds of `python -m core train --preset preset`, from its JSON line
    (on `threads` torch threads where given, else torch's default: one per core)."""
    command = [sys.executable, "-m", "core", "train", "--preset", preset, "--device", device]
    if data_dir:
        command += ["--data", data_dir]
    command += ["--runs", runs_dir]
    env = None
    if threads:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True, env=env)
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


# what the browser shows while the run trains: (label, URL query, after Start: a view of the
# Train page to click or a page to open from the sidebar, or None)
CONDITIONS = {
    "watched": ("Train page, live Curves watched", "", None),
    "talk": ("the same in talk mode", "&talk=1", None),
    "inside": ("Train page, Inside the network", "", ("view", "Inside the network")),
    "inside-page": ("Inside page, its live part", "", ("page", "Inside")),
    "elsewhere": ("browser on the Build page", "", ("page", "Build")),
}
SETTLE_SECONDS = 2.0
# Frames that took over 50 ms (the Long Animation Frames API): what a person sees as a stutter.
# Not a frame counter: requestAnimationFrame in a loop makes the browser paint 60 frames a
# second of its own, which doubled its CPU in this bench (0.5 of a core on the Build page).
WATCH_LONG_FRAMES = """() => {
  window.__longFrames = { count: 0, worst: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__longFrames.count += 1;
      window.__longFrames.worst = Math.max(window.__longFrames.worst, entry.duration);
    }
  }).observe({ type: "long-animation-frame", buffered: false });
}"""


def app_run(page, url: str, preset: str, runs_dir: Path, condition: str) -> dict:
    """Start a preset from the Train page in one of CONDITIONS and wait for its run; return its
    summary, the loss chart's updates a second (when shown), its frames over 50 ms a second and
    the longest, and the CPU seconds each process kind used."""
    known = {p.name for p in runs_dir.iterdir()} if runs_dir.exists() else set()
    _, query, then = CONDITIONS[condition]
    page.goto(f"{url}/train?preset={preset}{query}")
    _wait_idle(page)
    cpu_before = cpu_seconds_by_kind()
    page.get_by_role("button", name="Start training").first.click()
    page.wait_for_selector("[data-testid='stProgress'], .live-progress", timeout=120_000)
    if then is not None and then[0] == "page":
        page.locator("[data-testid='stSidebarNav'] a", has_text=then[1]).first.click()
    elif then is not None:
        page.get_by_text(then[1], exact=True).first.click()
    page.evaluate(WATCH_LONG_FRAMES)
    # the browser's steady cost is read from here: the page's start (plotly.js parsed, the
    # figures drawn whole, another page loaded) is over, and is not what watching costs
    time.sleep(SETTLE_SECONDS)
    started, steady_before = time.monotonic(), cpu_seconds_by_kind()
    # updates are counted from the first to the last one seen: while points arrive
    updates, last, first_at, last_at = 0, None, None, None
    deadline = time.monotonic() + 1800
    while (summary := _newest_finished(runs_dir, known)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{preset} did not finish in the app")
        stats = page.evaluate(CHART_STATS) if condition in ("watched", "talk") else None
        if stats is not None:
            count = stats["extends"] + stats["reacts"]
            # a chart that was drawn anew starts counting from 0 again
            new = count if last is None or count < last else count - last
            if new:
                now = time.monotonic()
                if first_at is None:
                    first_at = now
                else:
                    updates += new
                last_at = now
            last = count
        time.sleep(0.25)
    long_frames = page.evaluate("() => window.__longFrames")
    watched_seconds = time.monotonic() - started
    steady = cpu_seconds_by_kind().get("browser", 0.0) - steady_before.get("browser", 0.0)
    span = (last_at - first_at) if first_at is not None and last_at is not None else 0.0
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds_by_kind().items()}
    return {
        "seconds": float(summary["seconds"]),
        "device": summary.get("device"),
        "updates_per_second": updates / span if span > 0 else None,
        "long_frames_per_second": long_frames["count"] / watched_seconds,
        "worst_frame_ms": long_frames["worst"],
        "cpu": cpu,
        # the browser's share of a core while the run trained, start included, and once settled
        "browser_cpu_per_second": cpu.get("browser", 0.0) / float(summary["seconds"]),
        "browser_steady_cpu_per_second": steady / watched_seconds,
    }


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in cpu.items())


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run_app_bench(args) -> int:
    """Print the training seconds watched, on another page and from the CLI, as ratios.

    The conditions are interleaved, `repeat` rounds of (CLI, watched, other page) and a last
    CLI run, and each is summarised by its median: this machine's speed drifts by 20% or more
    over minutes, and interleaving spreads the drift over all three.
    """
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
    preset, device, repeat = args.preset or "seed-mlp-128", "auto", max(1, args.repeat or 3)
    work = Path(tempfile.mkdtemp(prefix="digitlab-appbench-"))
    runs = work / "runs"
    threads = args.worker_threads or "default"
    print(f"bench --app: {preset}, {repeat} rounds, worker threads {threads}, runs in {runs}")
    cli, rows, devices = [], {name: [] for name in CONDITIONS}, set()
    env = {"DIGITLAB_RUNS": str(runs)}
    if args.worker_threads:
        env["DIGITLAB_WORKER_THREADS"] = str(args.worker_threads)
    if args.data:
        env["DIGITLAB_DATA"] = str(Path(args.data).resolve())
    # the second reference: the CLI on the worker's thread count (the app leaves a core to the
    # server and the browser), which tells the app's own cost from that choice's
    from core.train.device import worker_threads

    same_threads = args.worker_threads or worker_threads()
    cli_alike = []
    with running_app(work / "streamlit.log", env=env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/train?preset={preset}")
        _wait_idle(page)
        page.wait_for_timeout(3000)  # the worker process starts while the page is open
        for round_number in range(1, repeat + 1):
            cli.append(cli_seconds(preset, args.data, str(work / "cli"), device))
            cli_alike.append(
                cli_seconds(preset, args.data, str(work / "cli"), device, same_threads)
            )
            line = [
                f"round {round_number}: CLI {cli[-1]:.1f} s, on {same_threads} thread(s) "
                f"{cli_alike[-1]:.1f} s"
            ]
            for name in CONDITIONS:
                row = app_run(page, url, preset, runs, name)
                rows[name].append(row)
                devices.add(row["device"])
                line.append(
                    f"{name} {row['seconds']:.1f} s (browser {row['browser_cpu_per_second']:.2f}"
                    f" core, settled {row['browser_steady_cpu_per_second']:.2f}, {row['long_frames_per_second']:.1f} long frames/s; CPU s {_cpu_text(row['cpu'])})"
                )
            print("; ".join(line), flush=True)
        browser.close()
    cli.append(cli_seconds(preset, args.data, str(work / "cli"), device))
    results = _table(cli, cli_alike, same_threads, rows)
    results["preset"] = preset
    results["device"] = ", ".join(sorted(str(d) for d in devices))
    print(json.dumps(results))
    return 0


def _table(cli: list[float], cli_alike: list[float], same_threads: int, rows: dict) -> dict:
    """Print the medians of every condition as a markdown table against both CLI references;
    return them with the raw readings, for the JSON line."""
    reference, alike = _median(cli), _median(cli_alike)
    results = {
        "cli_seconds": cli,
        "cli_seconds_on_worker_threads": cli_alike,
        "worker_threads": same_threads,
        "conditions": rows,
    }
    print(
        "\n| while training | training seconds (median) | vs the CLI "
        f"| vs the CLI on {same_threads} thread(s) | browser CPU (cores), "
        "start included / settled "
        "| frames over 50 ms a second (longest) | loss chart updates/s |"
        "\n|---|---:|---:|---:|---:|---:|---:|"
    )
    print(f"| `python -m core train` | {reference:.1f} | 1.00× | {reference / alike:.2f}× | | | |")
    print(
        f"| the same on {same_threads} thread(s) | {alike:.1f} | {alike / reference:.2f}× "
        "| 1.00× | | | |"
    )
    for name, (label, _, _) in CONDITIONS.items():
        seconds = _median([r["seconds"] for r in rows[name]])
        cores = _median([r["browser_cpu_per_second"] for r in rows[name]])
        settled = _median([r["browser_steady_cpu_per_second"] for r in rows[name]])
        frames = _median([r["long_frames_per_second"] for r in rows[name]])
        worst = max(r["worst_frame_ms"] for r in rows[name])
        rates = [r["updates_per_second"] for r in rows[name] if r["updates_per_second"]]
        results[f"{name}_ratio"] = seconds / reference
        results[f"{name}_ratio_same_threads"] = seconds / alike
        print(
            f"| {label} | {seconds:.1f} | {seconds / reference:.2f}× | {seconds / alike:.2f}× "
            f"| {cores:.2f} / {settled:.2f} | "
            f"{frames:.2f} ({worst:.0f} ms) | {f'{_median(rates):.1f}' if rates else ''} |"
        )
    return results
