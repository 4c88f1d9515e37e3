"""Two replicas behind HAProxy (deploy/haproxy.cfg): every browser stays on one, and they share runs.

Two real app servers share one runs folder and one MNIST folder; HAProxy runs the repo's own
config, its addresses given through the environment as compose gives them. The load is 20
sessions at once, each behaving as a browser tab at the protocol level: it fetches the page
through the proxy (the proxy's cookie comes back), opens Streamlit's websocket with that
cookie, runs three pages over it, then reconnects with the cookie and runs one more, as a tab
does after a dropped connection. These clients speak Streamlit's own protobuf messages
(core/bench/pages.py) rather than driving 20 Chromium tabs, which on 2 cores would measure the
browsers more than the proxy. One real Chromium then trains a run through one replica and opens
Evaluate on the other, with the websocket's handshake read from the browser itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from websockets.sync.client import connect

from core.bench.appserver import REPO, free_port, running_app, wait_until_healthy
from core.bench.pages import SessionClient
from core.runs.listing import list_runs
from tests.browser import CHROMIUM_ARGS, assert_no_exception, require_browser, wait_for_app_idle
from tests.conftest import find_data_dir

PROXY_CONFIG = REPO / "deploy" / "haproxy.cfg"
COOKIE = "DLREPLICA"
REPLICA_HEADER = "X-Digitlab-Replica"
REPLICAS = ("replica1", "replica2")
SESSIONS = 20
PAGES = ("", "evaluate", "build")  # Data (MNIST), Evaluate (the shared runs), Build


class ProxiedTab(SessionClient):
    """A tab's traffic through the proxy: the page, then the websocket with the proxy's cookie."""

    def __init__(self, url: str, cookie: str | None = None, timeout: float = 120.0):
        request = urllib.request.Request(f"{url}/", headers={"Cookie": cookie} if cookie else {})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            reply.read()
            self.replicas = [reply.headers[REPLICA_HEADER]]  # which replica answered each request
            self.cookie = cookie or reply.headers.get("Set-Cookie", "").split(";")[0]
        self.timeout = timeout
        self.page_hashes: dict[str, str] = {}
        self._connection = ExitStack()  # websockets wants its connection used as a context manager
        self.socket = self._connection.enter_context(
            connect(
                url.replace("http", "ws", 1) + "/_stcore/stream",
                subprotocols=["streamlit"],
                max_size=None,
                open_timeout=timeout,
                additional_headers={"Cookie": self.cookie},
            )
        )
        self.replicas.append(self.socket.response.headers[REPLICA_HEADER])

    def close(self) -> None:
        """Close the websocket, as a closed tab does."""
        self._connection.close()


def one_session(url: str) -> dict:
    """Run one tab's visits through the proxy; return its cookie, the replicas seen and errors."""
    tab = ProxiedTab(url)
    try:
        visits = [tab.visit(page) for page in PAGES]
    finally:
        tab.close()
    again = ProxiedTab(url, cookie=tab.cookie)  # a reconnect carries the cookie back
    try:
        visits.append(again.visit(""))
    finally:
        again.close()
    return {
        "cookie": tab.cookie,
        "replicas": tab.replicas + again.replicas,
        "visits": len(visits),
        "errors": [error for visit in visits for error in visit.errors],
    }


def address(url: str) -> str:
    """Return host:port of an http URL."""
    return url.removeprefix("http://")


@contextmanager
def running_proxy(replica_urls: list[str], log_path: Path) -> Iterator[str]:
    """Run HAProxy with deploy/haproxy.cfg in front of the replicas; yield its URL; stop it after."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    port = free_port()
    env = {
        **os.environ,
        "DIGITLAB_PROXY_BIND": f"127.0.0.1:{port}",
        **{f"DIGITLAB_REPLICA{n}": address(url) for n, url in enumerate(replica_urls, 1)},
    }
    with open(log_path, "w") as log:
        proxy = subprocess.Popen(
            [haproxy, "-db", "-f", str(PROXY_CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proxy, 30, f"haproxy did not start; see {log_path}")
        yield url
    finally:
        proxy.terminate()
        proxy.wait(10)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two app servers sharing one runs folder, behind the proxy: yield (proxy URL, runs folder)."""
    data = find_data_dir()
    if data is None:
        pytest.skip("MNIST not found: set DIGITLAB_DATA or run 'python -m core data'")
    folder = tmp_path_factory.mktemp("replicas")
    shared = {
        "DIGITLAB_DATA": str(data),
        "DIGITLAB_RUNS": str(folder / "runs"),
        "DIGITLAB_MY_DIGITS": str(folder / "my-digits"),
    }
    with ExitStack() as stack:
        urls = [
            stack.enter_context(running_app(folder / f"{name}.log", "app.py", shared))
            for name in REPLICAS
        ]
        proxy = stack.enter_context(running_proxy(urls, folder / "haproxy.log"))
        yield proxy, folder / "runs"


def test_twenty_sessions_each_stay_on_one_replica_and_both_replicas_serve(replicas):
    proxy, _ = replicas
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        futures = [pool.submit(one_session, proxy) for _ in range(SESSIONS)]
    results, errors = [], []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # a refused page or websocket is an error of the load
            errors.append(f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - started
    errors += [error for result in results for error in result["errors"]]
    per_replica = Counter(result["replicas"][0] for result in results)
    print(
        f"{SESSIONS} sessions, {sum(r['visits'] for r in results)} page runs, {len(errors)} "
        f"errors, {dict(per_replica)}, {seconds:.1f} s"
    )
    assert errors == []
    for result in results:
        # the page, the websocket and the reconnected websocket: one replica, the cookie's
        assert len(set(result["replicas"])) == 1, result
        assert result["cookie"] == f"{COOKIE}={result['replicas'][0]}", result
    assert set(per_replica) == set(REPLICAS)
    assert min(per_replica.values()) >= SESSIONS // 4, per_replica  # balanced, not one of 20


def pinned_tab(browser, url: str, replica: str):
    """Return a tab whose cookie sends it to replica, the replicas its HTTP responses came from,
    and those its websockets' handshakes came from."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": COOKIE, "value": replica, "url": url}])
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    reached: set[str] = set()

    def answered(response) -> None:
        if response.url.startswith(url):  # not data: URLs, which no server answers
            reached.add(response.headers.get(REPLICA_HEADER.lower()))

    tab.on("response", answered)
    # Playwright shows no websocket headers; Chromium's own protocol does
    cdp = context.new_cdp_session(tab)
    cdp.send("Network.enable")

    sockets: list[str] = []

    def handshake(event) -> None:
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        sockets.append(headers.get(REPLICA_HEADER.lower()))

    cdp.on("Network.webSocketHandshakeResponseReceived", handshake)
    return tab, reached, sockets


@pytest.mark.browser
def test_a_run_trained_through_one_replica_is_on_the_other(replicas):
    proxy, runs = replicas
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            trainer, trainer_reached, trainer_sockets = pinned_tab(browser, proxy, "replica1")
            trainer.goto(f"{proxy}/train?preset=seed-mlp-128&epochs=1")
            wait_for_app_idle(trainer)
            trainer.locator(".st-key-start_training button").click()
            trainer.get_by_text("Test accuracy").first.wait_for(timeout=180_000)
            assert len(list_runs(runs)) == 1

            viewer, viewer_reached, viewer_sockets = pinned_tab(browser, proxy, "replica2")
            viewer.goto(f"{proxy}/evaluate")
            wait_for_app_idle(viewer)
            viewer.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
            assert_no_exception(viewer)
            assert viewer.get_by_text("No saved runs yet").count() == 0
        finally:
            browser.close()
    assert trainer_reached == {"replica1"} and viewer_reached == {"replica2"}
    assert trainer_sockets and set(trainer_sockets) == {"replica1"}, trainer_sockets
    assert viewer_sockets and set(viewer_sockets) == {"replica2"}, viewer_sockets
