"""The Train page's feed (ui/train/live_feed.py) answers what it is asked, whatever it is asked."""

from __future__ import annotations

import json

import pytest

from ui.train import live_feed
from ui.train.progress_line import STARTING


class QueuedJob:
    """A job still waiting for a worker: no plan, no steps."""

    state = "queued"
    plan = None

    def progress(self) -> dict:
        return {"device": None, "fraction": 0.0}


class Registry:
    def __init__(self, jobs: dict) -> None:
        self.jobs = jobs

    def get(self, run_id: str):
        return self.jobs.get(run_id)


def test_an_unknown_job_is_gone():
    assert json.loads(live_feed.answer(Registry({}), "nope", "")) == {"state": "gone"}


@pytest.mark.parametrize("have", ["", "not json", "[1, 2]", '{"loss": 5}', "{" * 5000])
@pytest.mark.parametrize("scale", ["1", "nan", "inf", "-3", "huge"])
def test_a_queued_job_answers_its_line_whatever_the_browser_says(have, scale):
    reply = json.loads(live_feed.answer(Registry({"r": QueuedJob()}), "r", have, scale))
    assert reply["state"] == "queued" and reply["text"] == STARTING
    assert reply["charts"] == {} and reply["fraction"] == 0.0


def test_outside_a_server_the_page_polls_as_before():
    # no uvicorn server runs in a test process: the route is not added, and the page knows
    assert live_feed.install(lambda: Registry({})) is False
    assert live_feed.served() is False
