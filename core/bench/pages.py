"""python -m core bench --pages: what each page view costs the server, and a room of sessions.

It starts the app on a free local port with two freshly trained runs, and talks to it the way a
browser tab does, over Streamlit's websocket with its own protobuf messages, but without a
browser: the clients cost this machine little, so the server's share is what is measured.

- Per page: one session visits each page and reruns it; the server process's CPU time
  (/proc) is read around each rerun, so the figure is the server's own cost of one page view.
- A room: many sessions at once (threads), each moving to another page every few seconds;
  it reports reruns, errors, latency percentiles (request sent to script finished) and the
  peak memory of the server and its training workers.

It lives in ui/ because it speaks Streamlit's protocol; core/ stays free of Streamlit.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from core.bench.app import process_cpu_seconds
from core.bench.appserver import REPO, running_app

# the app's pages by url path, as app.py names them; "" is the default page (Data)
PAGES = ["", "build", "train", "evaluate", "draw", "inside"]
TARGET_MS = 150  # issue 13: every page's rerun within this much server CPU
# what ui.shared.guard.section shows in place of a part that failed
SECTION_FAILED = "could not be drawn"


def page_label(path: str) -> str:
    """Return the name a person would use for the page at url path."""
    return path.capitalize() if path else "Data"


@dataclass
class Visit:
    """One script run as a client saw it."""

    page: str
    seconds: float
    received_bytes: int
    errors: list[str] = field(default_factory=list)


class SessionClient:
    """One browser-tab-like session: a websocket that asks for script runs and reads the reply."""

    def __init__(self, url: str, timeout: float = 120.0):
        self.timeout = timeout
        self.page_hashes: dict[str, str] = {}
        self._stack = ExitStack()  # websockets wants its connection used as a context manager
        self.socket = self._stack.enter_context(
            connect(
                url.replace("http", "ws", 1) + "/_stcore/stream",
                subprotocols=["streamlit"],
                max_size=None,
                open_timeout=timeout,
            )
        )

    def visit(self, page: str) -> Visit:
        """Run page (a url path) as a click on its link would, and wait for the run to finish."""
        request = BackMsg()
        request.rerun_script.query_string = ""
        if page in self.page_hashes:
            request.rerun_script.page_script_hash = self.page_hashes[page]
        else:  # the first run names the page by its path, as a freshly opened URL does
            request.rerun_script.page_name = page
        started = time.perf_counter()
        self.socket.send(request.SerializeToString())
        received, errors = 0, []
        while True:
            payload = self.socket.recv(timeout=self.timeout)
            received += len(payload)
            message = ForwardMsg()
            message.ParseFromString(payload)
            kind = message.WhichOneof("type")
            if kind == "navigation":
                self.page_hashes = {
                    p.url_pathname: p.page_script_hash for p in message.navigation.app_pages
                }
            elif kind == "page_not_found":
                errors.append(f"page not found: {page!r}")
            elif kind == "delta":
                errors += _element_errors(message)
            elif kind == "script_finished":
                return Visit(page, time.perf_counter() - started, received, errors)

    def close(self) -> None:
        """Close the websocket; the server ends the session."""
        self._stack.close()


def _element_errors(message: ForwardMsg) -> list[str]:
    if message.delta.WhichOneof("type") != "new_element":
        return []
    element = message.delta.new_element
    kind = element.WhichOneof("type")
    if kind == "exception":
        return [f"exception: {element.exception.type}: {element.exception.message[:120]}"]
    if kind == "alert" and SECTION_FAILED in element.alert.body:
        return [f"section failed: {element.alert.body[:120]}"]
    return []


def server_pid(port: int) -> int:
    """Return the pid of the `streamlit run` process serving port."""
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            arguments = (folder / "cmdline").read_bytes().split(b"\0")
            program = (folder / "exe").resolve().name
        except OSError:
            continue
        # the Python process itself, not a wrapper (timeout, a shell) with the same arguments
        if (
            program.startswith("python")
            and b"streamlit" in arguments
            and (str(port).encode() in arguments)
        ):
            return int(folder.name)
    raise RuntimeError(f"no streamlit process serves port {port}")


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds (user + system) process pid has used, all its threads."""
    return process_cpu_seconds(Path(f"/proc/{pid}"))


def resident_bytes(pid: int) -> int:
    """Return the resident memory of pid and its child processes (the training workers)."""
    total = 0
    for member in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def percentile(values: list[float], share: float) -> float:
    """Return the share-th percentile of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def measure_pages(url: str, pid: int, reruns: int) -> list[dict]:
    """Visit every page in one new session, then rerun it; return each page's server CPU ms."""
    client = SessionClient(url)
    rows = []
    try:
        for page in PAGES:
            before = cpu_seconds(pid)
            first = client.visit(page)
            first_ms = (cpu_seconds(pid) - before) * 1000
            costs, latencies, errors = [], [], list(first.errors)
            for _ in range(reruns):
                time.sleep(0.3)  # let the server's send queue drain, as between clicks
                before = cpu_seconds(pid)
                visit = client.visit(page)
                costs.append((cpu_seconds(pid) - before) * 1000)
                latencies.append(visit.seconds * 1000)
                errors += visit.errors
            rows.append(
                {
                    "page": page_label(page),
                    "first_visit_cpu_ms": first_ms,
                    # the mean: /proc counts in 10 ms ticks, too coarse for one rerun's median
                    "rerun_cpu_ms": statistics.fmean(costs),
                    "rerun_cpu_ms_max": max(costs),
                    "rerun_latency_ms": statistics.median(latencies),
                    "kilobytes": first.received_bytes / 1024,
                    "errors": errors,
                }
            )
    finally:
        client.close()
    return rows


def room(url: str, pid: int, sessions: int, seconds: float, think: tuple[float, float]) -> dict:
    """Run sessions clients at once, each changing page every think seconds, for seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    peak = {"bytes": resident_bytes(pid)}
    watching = threading.Event()

    def one_session(number: int) -> None:
        chooser = random.Random(number)
        try:
            client = SessionClient(url)
        except Exception as exc:  # a refused connection is an error of the room, not a crash
            with lock:
                errors.append(f"session {number} could not connect: {exc}")
            return
        try:
            while time.monotonic() < stop_at:
                visit = client.visit(chooser.choice(PAGES))
                with lock:
                    latencies.append(visit.seconds)
                    errors.extend(visit.errors)
                time.sleep(chooser.uniform(*think))
        except Exception as exc:
            with lock:
                errors.append(f"session {number}: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    def watch_memory() -> None:
        while not watching.is_set():
            peak["bytes"] = max(peak["bytes"], resident_bytes(pid))
            time.sleep(0.25)

    watcher = threading.Thread(target=watch_memory, daemon=True)
    watcher.start()
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    threads = [threading.Thread(target=one_session, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # arrivals a little apart, as people opening a link are
    for thread in threads:
        thread.join()
    watching.set()
    watcher.join()
    wall = time.monotonic() - wall_before
    return {
        "sessions": sessions,
        "seconds": wall,
        "reruns": len(latencies),
        "errors": errors,
        "latency_p50_ms": percentile(latencies, 0.5) * 1000 if latencies else None,
        "latency_p95_ms": percentile(latencies, 0.95) * 1000 if latencies else None,
        "server_cpu_share": (cpu_seconds(pid) - cpu_before) / wall,
        "peak_memory_mb": peak["bytes"] / 2**20,
    }


def train_runs(runs: Path, data: str | None) -> None:
    """Train the two small runs the pages show (so Evaluate, Draw and Inside have a model)."""
    for arguments in (
        ["--preset", "seed-mlp-128", "--epochs", "1"],
        ["--preset", "small-cnn", "--iterations", "300"],
    ):
        command = [sys.executable, "-m", "core", "train", *arguments, "--runs", str(runs)]
        if data:
            command += ["--data", data]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)


def print_report(pages: list[dict], crowd: dict | None) -> None:
    """Print the per-page table and the room's figures as markdown, and a JSON line last."""
    print(
        "\n| page | first visit, server CPU ms | rerun, server CPU ms (mean / max) "
        "| rerun latency ms | sent KB | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in pages:
        print(
            f"| {row['page']} | {row['first_visit_cpu_ms']:.0f} | {row['rerun_cpu_ms']:.0f} / "
            f"{row['rerun_cpu_ms_max']:.0f} | {row['rerun_latency_ms']:.0f} | "
            f"{row['kilobytes']:.0f} | {len(row['errors'])} |"
        )
    over = [row["page"] for row in pages if row["rerun_cpu_ms"] > TARGET_MS]
    print(f"\nreruns over {TARGET_MS} ms of server CPU: {', '.join(over) or 'none'}")
    for row in pages:
        for error in row["errors"][:3]:
            print(f"  {row['page']}: {error}")
    if crowd is not None:
        print(
            f"\n{crowd['sessions']} sessions for {crowd['seconds']:.0f} s: {crowd['reruns']} page "
            f"views, {len(crowd['errors'])} errors, latency p50 {crowd['latency_p50_ms']:.0f} ms, "
            f"p95 {crowd['latency_p95_ms']:.0f} ms, server CPU {crowd['server_cpu_share']:.2f} "
            f"cores, peak memory {crowd['peak_memory_mb']:.0f} MB (server and workers)"
        )
        for error in crowd["errors"][:5]:
            print(f"  {error}")
    print(json.dumps({"pages": pages, "room": crowd}))


def main(argv: list[str] | None = None) -> int:
    """Parse the bench's arguments, start the app, measure, print; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m core bench --pages")
    parser.add_argument("--data", help="MNIST folder")
    parser.add_argument("--reruns", type=int, default=10, help="reruns per page (10)")
    parser.add_argument("--sessions", type=int, default=30, help="sessions in the room (30)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the room runs")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(2.0, 5.0),
        help="seconds between one session's clicks, from and to (2 5)",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="digitlab-pagebench-"))
    runs = work / "runs"
    print(f"bench --pages: training two small runs in {runs}", flush=True)
    train_runs(runs, args.data)
    env = {"DIGITLAB_RUNS": str(runs)}
    if args.data:
        env["DIGITLAB_DATA"] = str(Path(args.data).resolve())
    with running_app(work / "streamlit.log", env=env) as url:
        pid = server_pid(int(url.rsplit(":", 1)[1]))
        warm = SessionClient(url)  # the first session fills the caches every session shares
        for page in PAGES:
            warm.visit(page)
        warm.close()
        pages = measure_pages(url, pid, args.reruns)
        crowd = (
            room(url, pid, args.sessions, args.seconds, tuple(args.think))
            if args.sessions > 0
            else None
        )
    print_report(pages, crowd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
