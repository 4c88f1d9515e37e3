"""The page bench's websocket client against a real server, and the figures shared by sessions."""

from __future__ import annotations

import copy
import os
import time

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from core.bench import pages as pagebench
from core.spec.presets import get_preset
from tests.browser import running_app
from tests.conftest import train_tiny_run
from ui.charts import shared_figures

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    """A real server with one saved run; its URL and process id (one server for the module)."""
    folder = tmp_path_factory.mktemp("pagebench")
    preset = get_preset("seed-mlp-128")
    config = copy.deepcopy(preset.config)  # the preset itself is shared: never change it
    config.epochs = 1
    train_tiny_run(folder / "runs", data_dir, "bench run", preset.spec, config)
    with running_app(data_dir, folder / "runs", folder / "streamlit.log") as url:
        yield url, pagebench.server_pid(int(url.rsplit(":", 1)[1]))


@pytest.mark.untimed
def test_a_websocket_session_draws_every_page_of_a_real_server(server):
    url, pid = server
    client = pagebench.SessionClient(url)
    try:
        before = pagebench.cpu_seconds(pid)
        visits = [client.visit(page) for page in pagebench.PAGES]
        used = pagebench.cpu_seconds(pid) - before
    finally:
        client.close()
    assert pagebench.resident_bytes(pid) > 50 * 2**20  # a server with torch in it
    assert [v.errors for v in visits] == [[] for _ in visits]
    # each page sent its elements: the Evaluate page's charts take far more than a bare page
    sizes = {v.page: v.received_bytes for v in visits}
    assert sizes["evaluate"] > 20_000, sizes
    assert used > 0.0  # drawing six pages costs the server something measurable


@pytest.mark.untimed
def test_a_page_that_does_not_exist_counts_as_an_error(server):
    client = pagebench.SessionClient(server[0])
    try:
        visit = client.visit("no-such-page")
    finally:
        client.close()
    assert visit.errors == ["page not found: 'no-such-page'"]


def _element(kind: str, text: str) -> ForwardMsg:
    message = ForwardMsg()
    if kind == "exception":
        message.delta.new_element.exception.type = "KeyError"
        message.delta.new_element.exception.message = text
    else:
        message.delta.new_element.alert.body = text
    return message


def test_exceptions_and_failed_sections_are_errors_and_other_alerts_are_not():
    assert pagebench._element_errors(_element("exception", "'epoch'")) == [
        "exception: KeyError: 'epoch'"
    ]
    failed = _element("alert", "The scores could not be drawn (ValueError); see the log.")
    assert pagebench._element_errors(failed)[0].startswith("section failed")
    assert pagebench._element_errors(_element("alert", "No saved runs yet.")) == []


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))
    assert pagebench.percentile(values, 0.5) == 50
    assert pagebench.percentile(values, 0.95) == 95
    assert pagebench.percentile([7.0], 0.95) == 7.0


def test_a_shared_figure_is_built_once_per_version_of_the_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    summary = run / "summary.json"
    summary.write_text("{}")
    builds = []

    def build():
        builds.append(1)
        return object()

    shared_figures._built.clear()
    first = shared_figures.shared_figure((*shared_figures.run_version(run), "view"), build)
    again = shared_figures.shared_figure((*shared_figures.run_version(run), "view"), build)
    assert again is first and len(builds) == 1
    # the run's files change (a continued training saves it again): the figure is rebuilt
    later = time.time() + 5
    os.utime(summary, (later, later))
    changed = shared_figures.shared_figure((*shared_figures.run_version(run), "view"), build)
    assert changed is not first and len(builds) == 2
